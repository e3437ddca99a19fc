"""UploadStore's memory: each upload's bytes are read only for its decode, one file at a time, and dropped
right after it (the file object emptied, the caller's copy released, the bytes freed); only the downscaled
photos stay."""

from __future__ import annotations

import gc
import io
import sys
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from geolocate.uploads import UploadStore, drop_bytes


class FakeUpload:
    """Like Streamlit's UploadedFile: a name, a file id, and getvalue() that copies the bytes."""

    def __init__(self, name: str, log: list[str]):
        self.name, self.file_id, self._log = name, f"id-{name}", log

    def getvalue(self) -> bytes:
        self._log.append(f"read {self.name}")
        return b"x" * 1000


class BytesUpload(io.BytesIO):
    """Shaped like Streamlit's UploadedFile (a BytesIO sharing its bytes, with file_id, name and size)."""

    def __init__(self, name: str, data: bytes):
        super().__init__(data)
        self.name, self.file_id, self.size = name, f"id-{name}", len(data)


def _noise_jpeg(width: int, height: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, size=(height, width, 3), dtype=np.uint8)).save(buf, "JPEG", quality=95)
    return buf.getvalue()


def test_uploads_are_read_one_at_a_time_right_before_their_decode():
    log: list[str] = []

    def loader(data: bytes, name: str):
        log.append(f"decode {name}")
        return name

    store = UploadStore(loader=loader, max_photos=3)
    files = [FakeUpload(f"p{i}.jpg", log) for i in range(5)]
    photos, messages, _ = store.sync(files)
    assert photos == ["p0.jpg", "p1.jpg", "p2.jpg"] and len(messages) == 1
    # Never all files' bytes at once: read, decode, read, decode; files over the cap are never read.
    assert log == ["read p0.jpg", "decode p0.jpg", "read p1.jpg", "decode p1.jpg", "read p2.jpg", "decode p2.jpg"]
    log.clear()
    store.sync(files[:3])  # a rerun: nothing is read again
    assert log == []


def test_each_upload_is_emptied_and_released_right_after_its_decode():
    log: list[str] = []
    files = [BytesUpload(f"p{i}.jpg", bytes([i]) * 5000) for i in range(3)]

    def loader(data: bytes, name: str):
        log.append(f"decode {name} {len(data)}")
        return name

    store = UploadStore(loader=loader, release=lambda f: log.append(f"release {f.name} {len(f.getvalue())}"))
    photos, messages, keys = store.sync(files)
    assert photos == ["p0.jpg", "p1.jpg", "p2.jpg"] and messages == []
    # The file object is emptied before the caller's release, and both before the next file's decode.
    assert log == ["decode p0.jpg 5000", "release p0.jpg 0", "decode p1.jpg 5000", "release p1.jpg 0", "decode p2.jpg 5000", "release p2.jpg 0"]
    assert [f.getvalue() for f in files] == [b"", b"", b""]
    log.clear()
    assert store.sync(files) == (photos, [], keys)  # a rerun with the emptied files: same photos, nothing decoded
    assert log == []
    # A new store (the session's was reset) cannot decode an emptied file: it says so, it does not say "empty file".
    _, messages, _ = UploadStore(loader=loader).sync(files[:1])
    assert messages == ["p0.jpg: this upload was already read and released; remove it and upload it again"]


def test_uploads_keyed_by_their_bytes_are_never_emptied():
    f = io.BytesIO(b"abc")  # no file_id: the store's key is the bytes' hash, so they must stay readable
    assert drop_bytes(f) is False and f.getvalue() == b"abc"
    released: list = []
    store = UploadStore(loader=lambda data, name: name, release=released.append)
    store.sync([("a.jpg", b"abc")])
    assert released == []


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_the_encoded_bytes_are_freed_after_sync(fmt):
    """The uploads' bytes are referenced only by their file objects: after sync nothing holds them (a photo
    small enough to keep as decoded must not keep its opened file, whose buffer holds every byte: PNG did)."""
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(buf, fmt)
    data = buf.getvalue() + b"\0"  # a bytes object of its own (getvalue shares the buffer's)
    del buf
    f = BytesUpload("p.jpg", data)
    held = sys.getrefcount(data)
    store = UploadStore(release=lambda f: None)
    photos, _, _ = store.sync([f])
    assert len(photos) == 1
    assert sys.getrefcount(data) == held - 1  # the file object's reference is gone (only this test's is left)


def test_decoding_an_album_holds_one_file_at_a_time_and_frees_them_all():
    """tracemalloc over UploadStore.sync with the real loader: 6 uploads of ~1.5 MB JPEGs (1500 x 1000).

    The peak of Python allocations stays within one file's bytes plus a margin (never two files' copies), and
    once sync returns the uploads' bytes are freed: what is left is the small photos' metadata, not the files.
    """
    pytest.importorskip("geolocate.image.photo")
    one = _noise_jpeg(1500, 1000)
    tracemalloc.start()
    try:
        files = [BytesUpload(f"p{i}.jpg", one + bytes([i]) * 16) for i in range(6)]  # distinct bytes objects
        total = sum(f.size for f in files)
        gc.collect()
        start, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        photos, messages, _ = UploadStore().sync(files)
        end, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(photos) == 6 and messages == []
    assert all(min(p.image.size) <= 1024 for p in photos)
    assert peak - start < 0.5 * len(one)  # bytes are shared, never copied (getvalue of a BytesIO is free)
    assert end - start < -0.9 * total  # the 6 files' bytes are gone


def test_the_photo_keeps_the_files_sha256_since_its_bytes_are_dropped():
    """A saved investigation names its photos by their files' SHA-256: taken at decode, the only moment the bytes exist."""
    import hashlib

    from geolocate.investigation import photo_record

    data = _noise_jpeg(64, 48)
    f = BytesUpload("p.jpg", data)
    (photo,), _, _ = UploadStore().sync([f])
    assert f.getvalue() == b""
    assert photo.sha256 == hashlib.sha256(data).hexdigest()
    assert photo_record(photo).sha256 == photo.sha256
