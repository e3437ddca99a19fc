"""Streamlit glue for uploads: no copies of a photo's bytes beyond Streamlit's one, and that one dropped once
the photo is decoded.

Where an album's bytes live in Streamlit 1.67 (12 photos of 21 MB, measured with tracemalloc on a real
server, ``benchmarks/_memstages.py``):

1. the uploaded-file manager keeps every file's bytes (one record per file, 269 MB) for as long as the file
   stays in the uploader; no setting changes that (``server.maxUploadSize`` only caps one file);
2. the uploader widget's state keeps ``UploadedFile`` objects sharing those bytes (no copy);
3. ``st.file_uploader`` returns a ``copy.deepcopy`` of them on every run, and the deep copy of a ``BytesIO``
   copies its bytes: another 256 MB per run.

Importing this module makes the deep copy of an ``UploadedFile`` share its bytes (``BytesIO`` is
copy-on-write, so user code still cannot change the widget's copy), which removes 3. Once
:class:`~geolocate.uploads.UploadStore` has decoded a file, the callback of :func:`uploader_release` empties
1 (the record is swapped for an empty one with the same id: the uploader still lists the file, the analyst
can still remove it, a rerun gets the same id and the store does not decode it again) and 2; the store
empties the page's own copy. Nothing is left holding the file's bytes, so they are freed.

    store = UploadStore(loader=load_photo, release=uploader_release(K.PHOTOS))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx
from streamlit.runtime.uploaded_file_manager import UploadedFile, UploadedFileRec

from geolocate.uploads import drop_bytes


def _deepcopy_sharing_bytes(self: UploadedFile, memo: dict[int, Any]) -> UploadedFile:
    """A deep copy of an uploaded file that shares its bytes until either side writes (``BytesIO`` semantics)."""
    copy = UploadedFile(UploadedFileRec(file_id=self.file_id, name=self.name, type=self.type, data=self.getvalue()), self._file_urls)
    copy.seek(self.tell())
    memo[id(self)] = copy
    return copy


if "__deepcopy__" not in vars(UploadedFile):  # a Streamlit that copies files cheaply itself is left alone
    UploadedFile.__deepcopy__ = _deepcopy_sharing_bytes  # type: ignore[attr-defined]


def release_upload(f: Any) -> bool:
    """Replace this session's stored record of upload ``f`` (a Streamlit ``UploadedFile``) by an empty one.

    Args:
        f: an uploaded file with ``file_id``.

    Returns:
        Whether a stored record was emptied (False outside a script run or when the file is gone already).
    """
    ctx = get_script_run_ctx()
    file_id = getattr(f, "file_id", None)
    if ctx is None or file_id is None:
        return False
    mgr = ctx.uploaded_file_mgr
    add_file = getattr(mgr, "add_file", None)  # Streamlit's in-memory manager has it; the protocol does not promise it
    if add_file is None:
        return False
    # Only a record still stored is replaced: one the analyst removed meanwhile must not come back.
    current = mgr.get_files(ctx.session_id, [file_id])
    if not current or not current[0].data:
        return False
    add_file(ctx.session_id, UploadedFileRec(file_id=file_id, name=current[0].name, type=current[0].type, data=b""))
    return True


def _widget_files(widget_key: str) -> list[Any]:
    """The uploader widget's own file objects (``st.session_state`` gives them, not copies)."""
    value = st.session_state.get(widget_key)
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def uploader_release(widget_key: str) -> Callable[[Any], None]:
    """The ``release`` callback for an :class:`~geolocate.uploads.UploadStore` fed by ``st.file_uploader(key=widget_key)``.

    Args:
        widget_key: the uploader's ``key``.

    Returns:
        ``release(f)``: empties Streamlit's stored record of ``f`` and the widget state's file object with the
        same id (the page's own copy ``f`` is emptied by the store itself).
    """

    def release(f: Any) -> None:
        release_upload(f)
        file_id = getattr(f, "file_id", None)
        for g in _widget_files(widget_key):
            if g is not f and getattr(g, "file_id", None) == file_id:
                drop_bytes(g)

    return release
