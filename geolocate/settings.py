"""Server and workshop settings, read from the environment (no Streamlit here).

Environment variables:
    GEOLOCATE_DATA_DIRS: data folders the Benchmark page may read, separated by ``os.pathsep`` (":").
        Default: ``../shared/data`` beside the checkout, the user data folder
        (``platformdirs.user_data_dir("geolocate")/data``) and ``GEOLOCATE_DATA_DIR`` when set.
    GEOLOCATE_DATA_DIR: the Benchmark page's default folder (always allowed: the operator set it).
    GEOLOCATE_WORKSHOP: "1" turns on workshop mode: heavy benchmark runs are capped (no weight fitting,
        at most ``GEOLOCATE_WORKSHOP_MAX_SAMPLES`` photos, default 300).
    GEOLOCATE_CASE_PHOTOS: a folder of the benchmarks' image files (Im2GPS3k, YFCC), matched to image ids
        by relative path, file name or Flickr photo id; the Cases and Classroom pages then send each photo
        from the app's own host, shrunk and without metadata (``python -m geolocate cases photos DIR``
        checks a folder). Unset: the pages link to Flickr when online, or say how to provide the photos.

A shared server runs at most one heavy job (a benchmark run) at a time: :data:`HEAVY_RUN` is a process-wide
slot taken without waiting, so a second visitor is told to come back instead of queueing behind the first.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WORKSHOP_DEFAULT_MAX_SAMPLES = 300
UPLOAD_FRAMING_BYTES = 1024 * 1024
"""Room for multipart headers and boundaries above the upload limit (bytes)."""


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def user_data_dir() -> Path:
    """Per-user data folder for benchmarks (``<platformdirs user data>/geolocate/data``)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("geolocate")) / "data"


def default_data_dir() -> Path:
    """Return the Benchmark page's default data folder.

    That is ``GEOLOCATE_DATA_DIR``, else the first of ``GEOLOCATE_DATA_DIRS``, else ``../shared/data``
    beside the checkout.
    """
    env = os.environ.get("GEOLOCATE_DATA_DIR", "").strip()
    if env:
        return Path(env)
    dirs = [p for p in os.environ.get("GEOLOCATE_DATA_DIRS", "").split(os.pathsep) if p.strip()]
    return Path(dirs[0]).expanduser() if dirs else ROOT.parent / "shared" / "data"


def data_dirs() -> list[Path]:
    """Folders (resolved, symlinks followed) whose contents the Benchmark page may read."""
    env = os.environ.get("GEOLOCATE_DATA_DIRS", "")
    if env.strip():
        dirs = [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()]
    else:
        dirs = [ROOT.parent / "shared" / "data", user_data_dir()]
    if os.environ.get("GEOLOCATE_DATA_DIR", "").strip():
        dirs.append(default_data_dir())
    out: list[Path] = []
    for d in dirs:
        r = d.resolve()
        if r not in out:
            out.append(r)
    return out


def allowed_data_path(path: str | os.PathLike[str]) -> Path | None:
    """``path`` resolved if it lies inside one of :func:`data_dirs`, else None.

    Resolving first means ``..`` and symlinks cannot lead out of an allowed folder.
    """
    text = str(path).strip()
    if not text or "\x00" in text:
        return None
    try:
        p = Path(text).expanduser().resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    for root in data_dirs():
        if p == root or root in p.parents:
            return p
    return None


def workshop_mode() -> bool:
    """True when ``GEOLOCATE_WORKSHOP`` is set to 1/true/yes/on."""
    return _truthy(os.environ.get("GEOLOCATE_WORKSHOP"))


def workshop_max_samples() -> int:
    """Most photos one benchmark run may use in workshop mode (``GEOLOCATE_WORKSHOP_MAX_SAMPLES``, default 300)."""
    try:
        n = int(os.environ.get("GEOLOCATE_WORKSHOP_MAX_SAMPLES", WORKSHOP_DEFAULT_MAX_SAMPLES))
    except ValueError:
        n = WORKSHOP_DEFAULT_MAX_SAMPLES
    return max(n, 1)


def case_photos_dir() -> Path | None:
    """The folder of case photos (``GEOLOCATE_CASE_PHOTOS``), or None when unset or empty."""
    text = os.environ.get("GEOLOCATE_CASE_PHOTOS", "").strip()
    return Path(text).expanduser() if text and "\x00" not in text else None


class RunSlot:
    """A process-wide slot for one heavy job at a time, taken without waiting."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def busy(self) -> bool:
        """True while a job holds the slot."""
        return self._lock.locked()

    @contextmanager
    def take(self) -> Iterator[bool]:
        """Yield True holding the slot, or False at once when another job holds it."""
        got = self._lock.acquire(blocking=False)
        try:
            yield got
        finally:
            if got:
                self._lock.release()


HEAVY_RUN = RunSlot()
"""The one slot for benchmark runs in this server process."""


def keep_uploads_in_memory(max_upload_mb: float) -> None:
    """Stop the web server from spooling uploads to temporary files on disk.

    Streamlit parses uploads with Starlette, whose multipart parser keeps each file in a
    ``SpooledTemporaryFile`` that rolls over to a file in the temp folder above 1 MB. Raising that
    threshold above the largest body Streamlit accepts (``server.maxUploadSize`` plus framing; Streamlit
    aborts larger bodies while streaming) keeps every upload in memory, bounded by that limit.

    Args:
        max_upload_mb: the server's ``server.maxUploadSize`` (MB).
    """
    try:
        from starlette.formparsers import MultiPartParser
    except ImportError:  # another web server: nothing of ours to adjust
        return
    limit = int(max_upload_mb * 1024 * 1024) + UPLOAD_FRAMING_BYTES
    if MultiPartParser.spool_max_size < limit:
        MultiPartParser.spool_max_size = limit
