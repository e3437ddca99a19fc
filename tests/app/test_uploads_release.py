"""pages/_uploads with Streamlit's own uploaded-file manager and UploadedFile: st.file_uploader's deep copy
of the files shares their bytes; once UploadStore has decoded a file, Streamlit's stored record is emptied
(same id, so the uploader still lists it and a rerun finds it in the store) and so is the widget state's file
object, so nothing holds the bytes any more; a file the analyst removed meanwhile is not brought back."""

from __future__ import annotations

import copy
import io
import sys
from types import SimpleNamespace

import pytest
from PIL import Image
from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
from streamlit.runtime.uploaded_file_manager import UploadedFile, UploadedFileRec

from geolocate.uploads import UploadStore

_uploads = pytest.importorskip("pages._uploads")

URLS = SimpleNamespace(upload_url="u", delete_url="d")


def _jpeg(i: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (i, 100, 200)).save(buf, "JPEG")
    return buf.getvalue() + bytes([i]) * 16


@pytest.fixture
def session(monkeypatch):
    mgr = MemoryUploadedFileManager("/_stcore/upload_file")
    ctx = SimpleNamespace(session_id="s1", uploaded_file_mgr=mgr)
    monkeypatch.setattr(_uploads, "get_script_run_ctx", lambda *a, **k: ctx)
    return mgr


def _stored_bytes(mgr: MemoryUploadedFileManager) -> int:
    """Bytes Streamlit counts as held by its uploaded-file manager (its own metric)."""
    return sum(stat.byte_length for stats in mgr.get_stats().values() for stat in stats)


def _uploaded(mgr: MemoryUploadedFileManager, ids: list[str]) -> list[UploadedFile]:
    """What st.file_uploader returns on a run: UploadedFile objects built from the stored records."""
    return [UploadedFile(rec, URLS) for rec in mgr.get_files("s1", ids)]


def test_the_uploaders_deep_copy_shares_the_bytes():
    """st.file_uploader returns copy.deepcopy of the widget's files on every run; a BytesIO's own deep copy
    copies every byte (12 photos of 21 MB: 256 MB a run, measured on a real server)."""
    data = _jpeg(1)
    original = UploadedFile(UploadedFileRec(file_id="f0", name="p.jpg", type="image/jpeg", data=data), URLS)
    original.seek(5)
    (dup,) = copy.deepcopy([original])
    assert dup is not original and dup.getvalue() is data  # shared, not copied
    assert (dup.file_id, dup.name, dup.type, dup.size, dup.tell()) == ("f0", "p.jpg", "image/jpeg", len(data), 5)
    dup.seek(0)
    dup.write(b"changed")  # copy-on-write: the widget's own file is untouched
    assert original.getvalue() == data and dup.getvalue()[:7] == b"changed"


def test_decoded_uploads_leave_nothing_holding_their_bytes(session, monkeypatch):
    mgr = session
    datas = [_jpeg(i) for i in range(3)]
    for i, data in enumerate(datas):
        mgr.add_file("s1", UploadedFileRec(file_id=f"f{i}", name=f"p{i}.jpg", type="image/jpeg", data=data))
    ids = ["f0", "f1", "f2"]
    held = [sys.getrefcount(d) for d in datas]
    assert _stored_bytes(mgr) == sum(map(len, datas))
    widget = _uploaded(mgr, ids)  # the widget state's files, as st.session_state[key] gives them
    monkeypatch.setattr(_uploads, "_widget_files", lambda key: widget if key == "photos" else [])

    store = UploadStore(release=_uploads.uploader_release("photos"))
    photos, messages, keys = store.sync(copy.deepcopy(widget))  # what st.file_uploader returns
    assert [p.name for p in photos] == ["p0.jpg", "p1.jpg", "p2.jpg"] and messages == []
    # Streamlit's records are empty (same ids and names) and counted as such; the widget's files are empty.
    assert [(r.file_id, r.name, r.data) for r in mgr.get_files("s1", ids)] == [("f0", "p0.jpg", b""), ("f1", "p1.jpg", b""), ("f2", "p2.jpg", b"")]
    assert _stored_bytes(mgr) == 0
    assert [f.getvalue() for f in widget] == [b"", b"", b""]
    # Only this test's list holds the bytes now: the record's reference is gone (taken before any file object existed).
    assert [sys.getrefcount(d) for d in datas] == [h - 1 for h in held]

    # A rerun (new UploadedFile objects from the emptied records): the same photos, nothing decoded again.
    again, messages, keys2 = store.sync(_uploaded(mgr, ids))
    assert [id(p) for p in again] == [id(p) for p in photos] and keys2 == keys and messages == []
    # The analyst removes one photo in the uploader: the store drops it.
    mgr.remove_file("s1", "f1")
    left, _, _ = store.sync(_uploaded(mgr, ids))
    assert [p.name for p in left] == ["p0.jpg", "p2.jpg"]


def test_a_file_removed_meanwhile_is_not_brought_back(session):
    mgr = session
    mgr.add_file("s1", UploadedFileRec(file_id="f0", name="p0.jpg", type="image/jpeg", data=_jpeg(0)))
    (f,) = _uploaded(mgr, ["f0"])
    mgr.remove_file("s1", "f0")  # the analyst removed it while the script was decoding
    assert _uploads.release_upload(f) is False
    assert mgr.get_files("s1", ["f0"]) == []


def test_outside_a_script_run_nothing_happens(monkeypatch):
    monkeypatch.setattr(_uploads, "get_script_run_ctx", lambda *a, **k: None)
    assert _uploads.release_upload(SimpleNamespace(file_id="f0", name="p.jpg", type="image/jpeg")) is False
