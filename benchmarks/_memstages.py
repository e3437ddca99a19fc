"""``streamlit run app.py`` with a memory log per stage: where a session's memory goes on a real server.

A debugging aid for ``bench_upload_memory.py --server --stages``: it wraps the stages of an album's path
(Streamlit's upload handler storing a file, ``UploadStore.sync``, ``locate.image_evidence``,
``locate.build``, ``st.image``'s media store, the report's thumbnails) and appends one line per call to
``$GEOLOCATE_MEMLOG``: the time (``time.monotonic()``, s), the thread, the stage, resident memory (RSS) before and after, and glibc's own
count of bytes in use and bytes free but still held by its heaps (``mallinfo2``). Only sizes are logged:
never a photo's bytes, name or EXIF. SIGUSR1 appends the same figures without a stage (the bench sends it
at the moments it samples). With ``GEOLOCATE_MEMTRACE=1`` Python allocations are traced too
(tracemalloc, 3 frames) from the first SIGUSR2 on: the start and end of ``UploadStore.sync`` and each later
SIGUSR2 append the 12 largest growths since the previous such line. With ``GEOLOCATE_MEMSTAGES_RELEASE=1`` every ``UploadStore`` gets
``release=pages._uploads.uploader_release(PHOTOS)`` and ``pages._uploads`` is imported (what the Locate
page does once it passes that callback).

    GEOLOCATE_MEMLOG=/tmp/mem.log .venv/bin/python benchmarks/_memstages.py --server.port 8610
"""

from __future__ import annotations

import ctypes
import functools
import inspect
import os
import signal
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
LOG = os.environ.get("GEOLOCATE_MEMLOG", "/dev/stderr")
_lock = threading.Lock()


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


_libc: ctypes.CDLL | None
try:
    _libc = ctypes.CDLL("libc.so.6")
    _libc.mallinfo2.restype = _Mallinfo2
except (OSError, AttributeError):  # not glibc >= 2.33
    _libc = None


def figures() -> str:
    """RSS, glibc bytes in use (heap + mmapped) and bytes free but held in its heaps, in MB."""
    rss = 0.0
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    if _libc is None:
        return f"rss {rss:.0f}"
    m = _libc.mallinfo2()
    return f"rss {rss:.0f} inuse {(m.uordblks + m.hblkhd) / 2**20:.0f} heapfree {m.fordblks / 2**20:.0f}"


def log(text: str) -> None:
    with _lock, open(LOG, "a") as f:
        f.write(f"{time.monotonic():10.2f} {threading.current_thread().name[:18]:18s} {text}\n")


_TRACED = {"UploadStore.sync"}
"""Stages whose begin and end also log the largest Python allocation growths (with GEOLOCATE_MEMTRACE=1)."""
_last_snapshot: list = []


def trace_growth(label: str) -> None:
    """Log the 12 largest growths of traced Python memory since the previous call (3 frames each)."""
    if not tracemalloc.is_tracing():
        return
    snap = tracemalloc.take_snapshot()
    if _last_snapshot:
        for stat in snap.compare_to(_last_snapshot[0], "traceback")[:12]:
            where = " < ".join(f"{Path(fr.filename).name}:{fr.lineno}" for fr in stat.traceback)
            log(f"trace {label}: {stat.size_diff / 2**20:+.1f} MB (now {stat.size / 2**20:.1f} MB in {stat.count} blocks) {where}")
    _last_snapshot[:] = [snap]


def wrap(owner: Any, attr: str, stage: str, size=None) -> None:
    """Log ``figures()`` before and after every call of ``owner.attr`` (sync or async)."""
    fn = getattr(owner, attr)

    def describe(args, kwargs) -> str:
        return f" ({size(*args, **kwargs)})" if size else ""

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def inner_async(*args, **kwargs):
            before = figures()
            log(f"{stage} begins{describe(args, kwargs)}: {before}")
            try:
                return await fn(*args, **kwargs)
            finally:
                log(f"{stage}{describe(args, kwargs)}: {before} -> {figures()}")

        setattr(owner, attr, inner_async)
    else:

        @functools.wraps(fn)
        def inner(*args, **kwargs):
            before = figures()
            log(f"{stage} begins{describe(args, kwargs)}: {before}")
            if stage in _TRACED:
                trace_growth(f"before {stage}")
            try:
                return fn(*args, **kwargs)
            finally:
                log(f"{stage}{describe(args, kwargs)}: {before} -> {figures()}")
                if stage in _TRACED:
                    trace_growth(f"during {stage}")

        setattr(owner, attr, inner)


def install() -> None:
    sys.path.insert(0, str(REPO))
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
    from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager

    from geolocate import locate, report, uploads

    wrap(MemoryUploadedFileManager, "add_file", "upload stored", lambda self, session_id, file: f"{len(file.data) / 1e6:.1f} MB")
    wrap(MemoryUploadedFileManager, "remove_session_files", "session's uploads removed")
    wrap(MemoryMediaFileStorage, "load_and_get_id", "media stored", lambda self, path_or_data, *a, **k: f"{len(path_or_data) / 1e3:.0f} kB" if isinstance(path_or_data, bytes) else "")
    wrap(uploads.UploadStore, "sync", "UploadStore.sync", lambda self, files: f"{len(files or [])} files")
    wrap(locate, "image_evidence", "locate.image_evidence", lambda photos, **k: f"{len(photos)} photos")
    wrap(locate, "build", "locate.build", lambda photos, *a, **k: f"{len(photos)} photos")
    wrap(report, "thumbnail_jpeg", "report.thumbnail_jpeg")
    if os.environ.get("GEOLOCATE_MEMSTAGES_RELEASE") == "1":
        # What the Locate page does once it passes release=release_upload (pages/_uploads.py) to its store.
        from pages import _state
        from pages._uploads import uploader_release  # its import also makes the uploader's deep copy share bytes

        init = uploads.UploadStore.__init__

        @functools.wraps(init)
        def init_with_release(self, *args, **kwargs):
            kwargs.setdefault("release", uploader_release(_state.PHOTOS))
            init(self, *args, **kwargs)

        uploads.UploadStore.__init__ = init_with_release  # type: ignore[method-assign]
        log("UploadStore releases Streamlit's stored records (GEOLOCATE_MEMSTAGES_RELEASE=1)")
    signal.signal(signal.SIGUSR1, lambda *_: log(f"mark: {figures()}"))
    if os.environ.get("GEOLOCATE_MEMTRACE") == "1":

        def on_usr2(*_: Any) -> None:
            if not tracemalloc.is_tracing():  # the first SIGUSR2 starts tracing (the warm page is not traced)
                tracemalloc.start(3)
            trace_growth("signal")

        signal.signal(signal.SIGUSR2, on_usr2)
    log(f"start: {figures()}")


if __name__ == "__main__":
    install()
    from streamlit.web import cli

    os.chdir(REPO)
    sys.argv = ["streamlit", "run", "app.py", *sys.argv[1:]]
    sys.exit(cli.main())
