"""Case photos served by the app itself: a local folder of a benchmark's images, and a teacher's own photos.

A workshop room is often offline, and the benchmarks' photos are Flickr addresses. A teacher who has the
image files (Im2GPS3k, YFCC4k / YFCC26k) points the server at their folder (``GEOLOCATE_CASE_PHOTOS``,
see :mod:`geolocate.settings`); the pages then send each photo from the app's own host, shrunk to
:data:`MAX_SIDE_PX` and re-encoded as a JPEG **without any metadata** (no EXIF, so no GPS position, no
camera, no time; no ICC profile, no comment), so a student cannot read the answer out of the file.

Image ids are matched to files by their relative path (YFCC26k ids such as ``45/77/3228511372.jpg``), by
their file name (Im2GPS3k's Flickr file names), and by the Flickr photo id (the leading number), so a
folder of files renamed to ``<photo id>.jpg`` works too.

A teacher's own photos (a round made of them) are kept by :class:`OwnPhotos`: in this server process's
memory only, cleaned the same way, and deleted with the round, after :data:`OWN_PHOTOS_KEEP_S`, or when the
server restarts. They are never written to disk or logged.
"""

from __future__ import annotations

import io
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

MAX_SIDE_PX = 1024
"""Longest side (px) of a photo as a student receives it."""
JPEG_QUALITY = 85
EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".heic", ".heif"})
MAX_FILES = 500_000
"""Files indexed at most (a wrong folder such as / must not walk the whole disk)."""
OWN_PHOTOS_KEEP_S = 12 * 3600
"""How long a teacher's own photos are kept in memory (s), unless the round is deleted first."""
OWN_PHOTOS_MAX = 50
"""Photos per round of the teacher's own."""
GPS_IFD = 0x8825
"""The EXIF tag of the GPS sub-directory."""

_LEADING_NUMBER = re.compile(r"^(\d{3,})(?:[_.]|$)")


class PhotoError(ValueError):
    """A file that is not a photo this server can read; the message is for the user."""


def id_keys(image_id: str) -> list[str]:
    """The keys an image id (or a file's path relative to the folder) is matched by, most specific first.

    The relative path as given (``/`` separators), its file name, and the Flickr photo id (the leading
    number of the file name), all lower case.
    """
    text = str(image_id).strip().replace("\\", "/").lstrip("./").lower()
    name = text.rsplit("/", 1)[-1]
    keys = [text, name]
    m = _LEADING_NUMBER.match(name)
    if m:
        keys.append(m[1])
    return list(dict.fromkeys(k for k in keys if k))


@dataclass
class PhotoFolder:
    """An index of a folder of photos by image id.

    Attributes:
        root: the folder (resolved).
        files: key (see :func:`id_keys`) -> file path; the first file found keeps a key.
        n_files: photo files found.
        truncated: True when the walk stopped at :data:`MAX_FILES`.
    """

    root: Path
    files: dict[str, Path] = field(default_factory=dict)
    n_files: int = 0
    truncated: bool = False

    def find(self, image_id: str) -> Path | None:
        """The file of an image id, or None."""
        for k in id_keys(image_id):
            p = self.files.get(k)
            if p is not None:
                return p
        return None

    def coverage(self, ids: list[str]) -> tuple[int, list[str]]:
        """(how many of ``ids`` have a file, the ids without one)."""
        missing = [i for i in ids if self.find(i) is None]
        return len(ids) - len(missing), missing


def index_folder(root: str | os.PathLike[str], max_files: int = MAX_FILES) -> PhotoFolder:
    """Walk a folder (symlinked folders are not followed) and index its photo files by id.

    Raises:
        PhotoError: when ``root`` is not a readable folder.
    """
    base = Path(root).expanduser()
    if not base.is_dir():
        raise PhotoError(f"{base} is not a folder")
    base = base.resolve()
    out = PhotoFolder(base)
    for dirpath, dirnames, filenames in os.walk(base, onerror=None, followlinks=False):
        dirnames.sort()
        for fname in sorted(filenames):
            if Path(fname).suffix.lower() not in EXTENSIONS:
                continue
            path = Path(dirpath) / fname
            if out.n_files >= max_files:
                out.truncated = True
                return out
            out.n_files += 1
            for k in id_keys(path.relative_to(base).as_posix()):
                out.files.setdefault(k, path)
    return out


def clean_photo(data: bytes, max_side: int = MAX_SIDE_PX) -> bytes:
    """A photo as a student may see it: upright, at most ``max_side`` px, a JPEG with no metadata at all.

    The image is decoded and re-encoded from its pixels only (EXIF, GPS, XMP, ICC profile and comments are
    not carried over); EXIF orientation is applied first, so the photo stays upright without its tag.

    Args:
        data: the file's bytes (JPEG, PNG, WebP, HEIC when pillow-heif is installed, ...).
        max_side: longest side of the result (px).

    Raises:
        PhotoError: when the bytes are not an image.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        src = Image.open(io.BytesIO(data))
        if src.format == "JPEG":
            src.draft("RGB", (max_side, max_side))  # decode at a reduced scale: 4-8x faster for big photos
        im = ImageOps.exif_transpose(src).convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as err:
        raise PhotoError(f"not a readable photo ({type(err).__name__})") from None
    im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    im.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)  # no exif=, icc_profile=: nothing but pixels
    return out.getvalue()


def read_clean(path: str | os.PathLike[str], max_side: int = MAX_SIDE_PX) -> bytes:
    """:func:`clean_photo` of a file."""
    return clean_photo(Path(path).read_bytes(), max_side)


def exif_gps(data: bytes) -> tuple[float, float] | None:
    """The (lat, lon) in degrees of a photo's EXIF GPS tags, or None (no tags, unreadable, out of range)."""
    from PIL import Image

    try:
        gps = Image.open(io.BytesIO(data)).getexif().get_ifd(GPS_IFD)
        lat = _dms(gps[2]) * (-1.0 if str(gps.get(1, "N")).upper().startswith("S") else 1.0)
        lon = _dms(gps[4]) * (-1.0 if str(gps.get(3, "E")).upper().startswith("W") else 1.0)
    except (KeyError, TypeError, ValueError, ZeroDivisionError, OSError, IndexError, SyntaxError):
        return None
    except Exception:  # noqa: BLE001 - any unreadable tag means "no position"
        return None
    return (lat, lon) if -90 <= lat <= 90 and -180 <= lon <= 180 else None


def _dms(v) -> float:
    d, m, s = (float(x) for x in v)
    return d + m / 60.0 + s / 3600.0


def has_metadata(data: bytes) -> dict[str, bool]:
    """Which metadata a photo file carries: ``exif``, ``gps`` (the GPS sub-directory), ``icc``, ``xmp``."""
    from PIL import Image

    im = Image.open(io.BytesIO(data))
    exif = im.getexif()
    return {
        "exif": len(exif) > 0 or "exif" in im.info,
        "gps": len(exif.get_ifd(GPS_IFD)) > 0,
        "icc": bool(im.info.get("icc_profile")),
        "xmp": "xmp" in im.info or b"http://ns.adobe.com/xap/1.0/" in data,
    }


class OwnPhotos:
    """A teacher's own photos by round code and case number, in this process's memory only (thread-safe).

    Photos are stored cleaned (:func:`clean_photo`) and deleted with the round (:meth:`drop`), after
    ``keep_s`` seconds, or when the process ends. Nothing is written to disk or logged.
    """

    def __init__(self, keep_s: float = OWN_PHOTOS_KEEP_S) -> None:
        self.keep_s = keep_s
        self._lock = threading.Lock()
        self._rounds: dict[str, tuple[float, dict[int, bytes]]] = {}

    def put(self, code: str, photos: dict[int, bytes], now: float | None = None) -> None:
        """Keep a round's (already cleaned) photos, replacing any it had."""
        now = time.time() if now is None else now
        with self._lock:
            self._expire(now)
            self._rounds[code] = (now, dict(photos))

    def get(self, code: str, case_no: int, now: float | None = None) -> bytes | None:
        """A photo, or None when there is none (never stored, deleted or expired)."""
        now = time.time() if now is None else now
        with self._lock:
            self._expire(now)
            item = self._rounds.get(code)
            return None if item is None else item[1].get(case_no)

    def drop(self, code: str) -> bool:
        """Delete a round's photos; True when it had some."""
        with self._lock:
            return self._rounds.pop(code, None) is not None

    def expires_at(self, code: str) -> float | None:
        """When a round's photos will be deleted (epoch s), or None when it has none."""
        with self._lock:
            item = self._rounds.get(code)
            return None if item is None else item[0] + self.keep_s

    def _expire(self, now: float) -> None:
        for code in [c for c, (t, _) in self._rounds.items() if now - t > self.keep_s]:
            del self._rounds[code]
