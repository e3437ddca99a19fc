"""UploadStore reads each upload's bytes only when it decodes it, one file at a time, and never again."""

from __future__ import annotations

from geolocate.uploads import UploadStore


class FakeUpload:
    """Like Streamlit's UploadedFile: a name, a file id, and getvalue() that copies the bytes."""

    def __init__(self, name: str, log: list[str]):
        self.name, self.file_id, self._log = name, f"id-{name}", log

    def getvalue(self) -> bytes:
        self._log.append(f"read {self.name}")
        return b"x" * 1000


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
