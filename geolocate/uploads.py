"""Uploaded photos held in memory for one app session, freed as soon as the analyst removes them.

The page keeps one :class:`UploadStore` per session (e.g. in ``st.session_state``) and calls
:meth:`UploadStore.sync` with the uploader's current files on every run. Each file is decoded once
(keyed by the uploader's file id, else the bytes' sha256, never the name); only the downscaled
:class:`~geolocate.image.photo.Photo` is kept, never the file's bytes; a file that is no longer in the
uploader is dropped from the store at once, so its photo can be garbage-collected. An album is capped
at :data:`MAX_ALBUM_PHOTOS`: extra files are not decoded and one message says so.

Memory: the encoded bytes of a file with a file id are dropped right after its decode: a file object
that is a ``BytesIO`` (Streamlit's ``UploadedFile``) is emptied in place (:func:`drop_bytes`) and the
store's ``release`` callback lets the caller drop its own copy (the page empties Streamlit's stored
record). After a sync that decoded anything, freed heap pages go back to the OS (``malloc_trim``), so a
12-photo album of 21 MB JPEGs costs the session its downscaled photos (about 6 MB each), not its files.

Nothing here knows Streamlit: ``files`` are any objects with ``name`` and ``getvalue()`` (and
optionally ``file_id``), or ``(name, bytes)`` pairs.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

MAX_UPLOAD_BYTES = 25 * 1024 * 1024
"""Per-file cap in bytes; matches ``server.maxUploadSize`` (MB) in .streamlit/config.toml."""

MAX_ALBUM_PHOTOS = 12
"""Most photos decoded for one album (each kept photo takes ~5 MB after downscaling)."""

Loader = Callable[..., Any]


@dataclass(frozen=True)
class _Entry:
    name: str
    photo: Any | None
    message: str | None


def _name_and_bytes(f: Any) -> tuple[str, bytes, str | None]:
    if isinstance(f, tuple):
        name, data = f
        return str(name), data, None
    return str(getattr(f, "name", "photo")), f.getvalue(), getattr(f, "file_id", None)


def album_cap_message(names: Sequence[str], max_photos: int = MAX_ALBUM_PHOTOS) -> str:
    """The one message for an album over the cap (plain text: names are user text, never render them as Markdown)."""
    left = list(names[max_photos:])
    shown = ", ".join(left[:3]) + (" ..." if len(left) > 3 else "")
    return (
        f"{len(names)} photos uploaded; an album takes at most {max_photos}, so only the first "
        f"{max_photos} are used ({len(left)} left out: {shown}). Remove some to choose others."
    )


def drop_bytes(f: Any) -> bool:
    """Empty a decoded upload's file object in place, so that its encoded bytes can be freed.

    Only objects with a ``file_id`` are emptied (their store key does not depend on their bytes) and only
    ``BytesIO``-like ones (``seek``/``truncate``; CPython's ``BytesIO`` shares its bytes with whoever gave
    them, so emptying it drops its reference without a copy). Returns whether ``f`` was emptied.
    """
    if isinstance(f, tuple) or getattr(f, "file_id", None) is None:
        return False
    try:
        f.seek(0)
        f.truncate(0)
    except (AttributeError, OSError, ValueError):  # not a BytesIO, or closed: nothing held here to drop
        return False
    return True


def trim_heap() -> None:
    """Hand heap pages freed since the last call back to the OS (glibc ``malloc_trim(0)``; elsewhere nothing).

    glibc keeps freed blocks in its heaps, and its mmap threshold rises after the first large free, so a
    freed 21 MB upload otherwise stays resident (seen as RSS that never falls after an album).
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def decode_one(name: str, data: bytes, loader: Loader, max_bytes: int = MAX_UPLOAD_BYTES) -> tuple[Any | None, str | None]:
    """Decode one upload: (photo, None) or (None, message naming the file); never raises."""
    if len(data) > max_bytes:
        return None, f"{name}: {len(data) / 2**20:.1f} MB is over the {max_bytes / 2**20:.0f} MB limit"
    try:
        return loader(data, name=name), None
    except ValueError as err:  # PhotoError: already a message for the analyst
        msg = str(err)
        return None, (msg if msg.startswith(f"{name}:") else f"{name}: {msg}")
    except Exception as err:  # noqa: BLE001 - a decoder bug must not become a traceback in the UI
        return None, f"{name}: could not be read as an image ({type(err).__name__})"


class UploadStore:
    """Decoded uploads of one session, keyed by upload id (thread-safe: overlapping reruns may call it).

    Args:
        loader: ``load_photo(data, name=...)``; default :func:`geolocate.image.photo.load_photo`.
        max_photos: album cap.
        max_bytes: per-file cap in bytes.
        release: called with each file (one with a ``file_id``) right after its decode and
            :func:`drop_bytes`, to drop the caller's other copies of its bytes (e.g. the uploader's
            stored record); its errors are ignored (the photo is kept either way).
    """

    def __init__(self, loader: Loader | None = None, max_photos: int = MAX_ALBUM_PHOTOS, max_bytes: int = MAX_UPLOAD_BYTES,
                 release: Callable[[Any], None] | None = None):
        if loader is None:
            from .image.photo import load_photo

            loader = load_photo
        self.loader: Loader = loader
        self.release = release
        self.max_photos, self.max_bytes = max_photos, max_bytes
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def sync(self, files: Sequence[Any] | None) -> tuple[list, list[str], tuple[str, ...]]:
        """Bring the store in line with the uploader's current files.

        Args:
            files: the uploader's files in order (None or empty when there are none).

        Returns:
            (photos in upload order, messages for files that were refused or left out, keys of the
            photos returned: a stable id of this album for caches downstream).
        """
        files = list(files or [])
        messages: list[str] = []
        if len(files) > self.max_photos:
            messages.append(album_cap_message([str(f[0]) if isinstance(f, tuple) else str(getattr(f, 'name', 'photo')) for f in files], self.max_photos))
            files = files[: self.max_photos]
        # Keys first, without copying any file's bytes when the uploader gives an id (Streamlit's
        # getvalue() copies the whole file); then each new file is fetched, decoded (load_photo shrinks it
        # at once) and its bytes dropped before the next one: one encoded file in memory at a time.
        wanted: list[tuple[str, str, Any]] = []
        for f in files:
            if isinstance(f, tuple):
                name, key = str(f[0]), hashlib.sha256(f[1]).hexdigest()
            else:
                name, key = str(getattr(f, "name", "photo")), getattr(f, "file_id", None) or hashlib.sha256(f.getvalue()).hexdigest()
            wanted.append((key, name, f))
        decoded = False
        with self._lock:
            keep = {k for k, _, _ in wanted}
            for k in [k for k in self._entries if k not in keep]:
                del self._entries[k]  # removed from the uploader: its photo is freed here
            for key, name, f in wanted:
                if key not in self._entries:
                    data = _name_and_bytes(f)[1]
                    photo: Any | None
                    msg: str | None
                    if len(data) == 0 and (getattr(f, "size", None) or 0) > 0:
                        # Emptied by an earlier store of this session (e.g. the session's store was reset).
                        photo, msg = None, f"{name}: this upload was already read and released; remove it and upload it again"
                    else:
                        photo, msg = decode_one(name, data, self.loader, self.max_bytes)
                    del data  # the encoded bytes go before the next file is read...
                    self._release(f)  # ...and so do the file object's and the uploader's copies
                    self._entries[key] = _Entry(name, photo, msg)
                    decoded = True
            entries = [(k, self._entries[k]) for k, _, _ in wanted]
        if decoded:
            trim_heap()
        photos = [e.photo for _, e in entries if e.photo is not None]
        messages += [e.message for _, e in entries if e.message]
        return photos, messages, tuple(k for k, e in entries if e.photo is not None)

    def _release(self, f: Any) -> None:
        if isinstance(f, tuple) or getattr(f, "file_id", None) is None:
            return  # keyed by its bytes' hash: they must stay readable
        drop_bytes(f)
        if self.release is not None:
            try:
                self.release(f)
            except Exception:  # noqa: BLE001 - failing to free a copy must not lose the decoded photo
                pass

    def clear(self) -> None:
        """Forget every photo (e.g. when the session ends or the analyst starts over)."""
        with self._lock:
            self._entries.clear()


def load_uploads(items: Sequence[tuple[str, bytes]], loader, max_bytes: int = MAX_UPLOAD_BYTES) -> tuple[list, list[str]]:
    """Decode uploaded files in memory; bad files become one message each, never an exception.

    Args:
        items: (file name, bytes) pairs.
        loader: ``load_photo(data, name)`` raising ``ValueError`` (PhotoError) with a user-facing message.
        max_bytes: size cap per file.

    Returns:
        (photos that loaded, messages for the ones that did not).
    """
    items = list(items)
    photos, messages = [], []
    if len(items) > MAX_ALBUM_PHOTOS:  # extra files are not decoded at all
        messages.append(album_cap_message([name for name, _ in items]))
        items = items[:MAX_ALBUM_PHOTOS]
    for name, data in items:
        photo, msg = decode_one(name, data, loader, max_bytes)
        if photo is not None:
            photos.append(photo)
        else:
            messages.append(msg or f"{name}: could not be read as an image")
    return photos, messages
