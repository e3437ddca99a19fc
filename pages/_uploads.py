"""Streamlit glue for uploads: drop the uploader's stored copy of a photo once it is decoded.

Streamlit keeps every uploaded file's bytes in its process-wide uploaded-file manager for as long as the
file stays in the uploader (12 photos of 21 MB: 269 MB per session), and no setting changes that
(``server.maxUploadSize`` only caps one file). Once :class:`~geolocate.uploads.UploadStore` has decoded a
file, :func:`release_upload` swaps the stored record for an empty one with the same id: the uploader still
lists the file (the analyst can remove it, which the store sees), a rerun gets the same file id (the store
does not decode it again), and the 21 MB are freed.

    store = UploadStore(loader=load_photo, release=release_upload)
"""

from __future__ import annotations

from typing import Any

from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx
from streamlit.runtime.uploaded_file_manager import UploadedFileRec


def release_upload(f: Any) -> bool:
    """Replace this session's stored record of upload ``f`` (a Streamlit ``UploadedFile``) by an empty one.

    Args:
        f: an uploaded file with ``file_id``, ``name`` and ``type``.

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
