"""Streamlit glue shared by the pages: process-wide caches and per-session ensembles.

Heavy, read-only things (priors, layers, the country list, image models) are built once per process with
``st.cache_resource`` and warmed before they are shared, so concurrent sessions only ever read them.
Each session keeps its own small LRU of ensembles (an Ensemble memoises refinements, so it is per session).
"""

from __future__ import annotations

import functools
import hashlib
import re
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from geolocate.ensemble import Ensemble
from geolocate.evidence import Message
from geolocate.experts.base import Expert
from geolocate.grid import DEFAULT_RESOLUTION
from geolocate.locate import Located

# The image suite (torch, ~3 s of CPU to import) is imported on first use, not by every page that imports this
# module: Layers, Benchmark and the classroom never touch it. It is built by another part of the project; the app
# must work without it.
_IMAGE_NAMES = ("image_experts", "load_photo", "weights_status", "IMAGE_SUITE_ERROR")


@functools.cache
def _image_suite() -> dict[str, Any]:
    try:
        from geolocate.image.suite import image_experts, load_photo, weights_status

        return {"image_experts": image_experts, "load_photo": load_photo, "weights_status": weights_status, "IMAGE_SUITE_ERROR": None}
    except Exception as err:  # noqa: BLE001 - any failure to import means "image experts unavailable"
        out: dict[str, Any] = {"image_experts": None, "weights_status": None, "IMAGE_SUITE_ERROR": f"{type(err).__name__}: {err}"}
        photo_loader: Callable[..., Any] | None
        try:
            from geolocate.image.photo import load_photo as photo_loader
        except Exception:  # noqa: BLE001
            photo_loader = None
        return out | {"load_photo": photo_loader}


def __getattr__(name: str) -> Any:
    """``from pages._shared import load_photo`` (and the other image names) imports the suite then (PEP 562)."""
    if name in _IMAGE_NAMES:
        return _image_suite()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


ENSEMBLES_PER_SESSION = 4


def _use_app_navigation() -> None:
    """Route through app.py's st.navigation even when a fresh server's first visit is a page URL.

    Streamlit treats an app with a ``pages/`` folder as an old-style multipage app until the first run
    of ``st.navigation``: a first visit to e.g. /layers would run pages/layers.py alone, with a sidebar
    listing raw file names (this module among them). Switching the process to st.navigation and rerunning
    sends that visit through app.py, which then shows the requested page.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory and Path(sys.argv[0]).name != "pytest":
        PagesManager.uses_pages_directory = False
        st.rerun()


_use_app_navigation()


@st.cache_resource(show_spinner="Loading priors and layers (first run only, a few seconds)…")
def shared_priors() -> list[Expert]:
    """The standard priors, warmed on the base grid so that sessions only read them."""
    from geolocate.experts import standard_priors

    priors = standard_priors()
    Ensemble(priors).base_fields()  # fills the layers' coarse-resolution caches once
    return priors


@st.cache_resource(show_spinner="Loading land-cover and scene layers…")
def shared_layers() -> dict:
    """Layers behind the analyst's attribute terms (geolocate.evidence.attribute_layers), warmed on the base grid."""
    from geolocate.evidence import attribute_layers

    out = attribute_layers()
    for layer in out.values():
        layer.at_resolution(DEFAULT_RESOLUTION)
    return out


@st.cache_resource(show_spinner="Loading the offline basemap (first run only)…")
def shared_basemap() -> bool:
    """Borders, city names and the place index, loaded once per process before sessions read them."""
    from geolocate.maps import basemap
    from geolocate.maps import spec as mapspec
    from geolocate.maps.camera import WORLD_VIEW
    from geolocate.maps.data import border_paths_near

    mapspec.world_borders()  # the map component's borders (encoded once)
    basemap.border_paths()
    border_paths_near(WORLD_VIEW)  # the coarser world-zoom outlines
    basemap.border_boxes()
    basemap.cities()
    basemap.country_names()
    return True


@st.cache_resource(show_spinner=False)
def shared_countries() -> list[dict]:
    """Countries of the country layer ({iso3, name, continent}), sorted by name; the layer itself is warmed."""
    from geolocate.layers import country_layer, country_table

    country_layer()  # loaded once per process; region experts read only the columns they name (no dense table)
    return sorted(country_table(), key=lambda c: c["name"])


def shared_weights_status() -> list:
    """Which image-model weights are present (checked once per process and backbone choice)."""
    import os

    return _weights_status(os.environ.get("GEOLOCATE_BACKBONE") or None)


@st.cache_resource(show_spinner=False)
def _weights_status(backbone: str | None) -> list:
    status = _image_suite()["weights_status"]
    if status is None:
        return []
    try:
        return list(status(backbone))
    except Exception as err:  # noqa: BLE001 - a status check must never break the page
        return [type("WeightStatus", (), {"name": "image models", "available": False, "detail": str(err), "fix": ""})()]


@st.cache_resource(show_spinner=False)
def network_status() -> dict:
    """Whether this server process may use the network for model weights; checked once per process.

    ``GEOLOCATE_OFFLINE``/``HF_HUB_OFFLINE`` win. Otherwise the Hub is probed once (the image package's
    own cached check when it has one, else a 2 s TCP connect); when it is unreachable the process switches
    to offline mode, so no upload in any session waits on download retries.

    Returns:
        {"offline": bool, "reason": str}.
    """
    import os

    try:
        from geolocate.image import weights as w
    except Exception:  # noqa: BLE001 - no image package: nothing would download anyway
        return {"offline": True, "reason": "the image package is not installed"}
    if w.offline():
        return {"offline": True, "reason": "offline mode is set (GEOLOCATE_OFFLINE / HF_HUB_OFFLINE)"}
    probe = getattr(w, "hub_reachable", None)
    if callable(probe):
        try:
            ok = bool(probe())
        except Exception:  # noqa: BLE001
            ok = False
    else:
        import socket
        from urllib.parse import urlparse

        host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
        try:
            socket.create_connection((host, 443), timeout=2.0).close()
            ok = True
        except OSError:
            ok = False
    if not ok:
        os.environ["GEOLOCATE_OFFLINE"] = "1"  # process-wide: later weight lookups never try to download
        return {"offline": True, "reason": "the model hub is unreachable from this server (checked once at start)"}
    return {"offline": False, "reason": "online"}


def session_ensemble(key: tuple, build: Callable[[], list[Expert]]) -> Ensemble:
    """The session's Ensemble for an expert-set key, built (and its base fields computed) on first use."""
    return session_cached(key, lambda: _warm(Ensemble(build())))


def _warm(ens: Ensemble) -> Ensemble:
    ens.base_fields()
    return ens


def session_located(key: tuple, build: Callable[[], Located]) -> Located:
    """The session's :class:`~geolocate.locate.Located` for a (evidence, photos) key, built on first use."""
    return session_cached(key, build)


def session_cached(key: tuple, build: Callable[[], Any]) -> Any:
    """A small per-session LRU (an Ensemble memoises refinements, so it is per session, never shared)."""
    cache: OrderedDict = st.session_state.setdefault("_ensembles", OrderedDict())
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    value = build()
    cache[key] = value
    while len(cache) > ENSEMBLES_PER_SESSION:
        cache.popitem(last=False)
    return value


SHARED_LOCATED = 8
"""How many photo-less results the process keeps for every session (each holds its experts' base fields)."""
_shared_located: OrderedDict = OrderedDict()
_shared_located_lock = threading.Lock()


def shared_located(key: tuple, build: Callable[[], Located]) -> Located:
    """A :class:`~geolocate.locate.Located` for evidence WITHOUT photos, shared by every session of the process.

    A new session (most often the priors alone, or a shared link) then skips building the experts and
    refining from scratch. Sharing is safe: the page only reads a Located, and its Ensemble's caches update
    under the Ensemble's own lock. Photos are never shared: their results stay in the session
    (:func:`session_located`). ``key`` must hold everything ``build`` depends on (evidence, privacy).
    """
    with _shared_located_lock:
        hit = _shared_located.get(key)
        if hit is not None:
            _shared_located.move_to_end(key)
            return hit
    value = build()  # outside the lock: another session's different evidence need not wait
    with _shared_located_lock:
        value = _shared_located.setdefault(key, value)
        _shared_located.move_to_end(key)
        while len(_shared_located) > SHARED_LOCATED:
            _shared_located.popitem(last=False)
    return value


@functools.lru_cache(maxsize=512)
def place_names(lat: tuple[float, ...], lon: tuple[float, ...]) -> tuple[str, ...]:
    """Nearest-place names for points (degrees), memoised: a slider move mostly ranks the same regions again."""
    from geolocate.maps import basemap

    if not lat:
        return ()
    import numpy as np

    return tuple(p["text"] for p in basemap.nearest_places(np.asarray(lat), np.asarray(lon)))


_PATH = re.compile(r"(?<![\w:/.~])~?(?:/[^\s/:;,'\"()]+){2,}/?")


def without_paths(text: str) -> str:
    """The text with file-system paths cut to their last part ("…/name"): no server folders on screen."""
    return _PATH.sub(lambda m: "…/" + m.group(0).rstrip("/").rsplit("/", 1)[-1], text)


def digest(data: bytes) -> str:
    """Short content hash (hex) identifying an upload."""
    return hashlib.sha256(data).hexdigest()[:16]


_LEVELS = {"error": st.error, "warning": st.warning, "info": st.info}


def show_message(msg: Message | str, level: str = "info") -> None:
    """Show a message by its level; text and detail are plain text (escaped / st.text), never Markdown/HTML."""
    if not isinstance(msg, Message):
        msg = Message(level, "", str(msg))
    if msg.text:
        _LEVELS.get(msg.level, st.info)(escape_markdown(msg.text))
        if msg.detail:
            st.text(msg.detail)
    else:
        # Only user-influenced text (e.g. a file name inside a loader message): no Markdown rendering.
        _LEVELS.get(msg.level, st.info)(escape_markdown(msg.detail))


def escape_markdown(text: str) -> str:
    """Backslash-escape every ASCII punctuation character, so Markdown shows the text literally.

    CommonMark treats a backslash before any ASCII punctuation as a literal character: links, images,
    emphasis and HTML tags cannot form.
    """
    import re

    escaped = re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", text)
    # GitHub-flavoured Markdown still turns escaped "www.x", "http://x" and "a@b.c" into links: a zero-width
    # non-joiner inside each trigger keeps them text (what shows is unchanged).
    escaped = re.sub(r"(?i)(ww)(w\\\.)", "\\1\u200c\\2", escaped)
    escaped = re.sub(r"(?i)(https?|ftp|mailto)(\\:)", "\\1\u200c\\2", escaped)
    return escaped.replace("\\@", "\\@\u200c")


def keep_library_files_out_of_tmp() -> None:
    """Let no library write into the temp folder while a photo is being handled.

    Uploads must never touch the disk, and the test that checks it watches the temp folder during an
    upload. Two libraries write there on first use: torch (``torchinductor_<user>``, on importing
    open_clip) and onnxruntime (``.ses``, on import). Both go to the user cache folder instead; onnxruntime
    (the text reader's engine) is imported once here, at the process's start.
    """
    import os

    from geolocate.grid import cache_dir

    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir() / "torchinductor"))
    # onnxruntime's native code writes a session id file (.ses) into $TMPDIR when it is imported: point
    # $TMPDIR at the cache folder for that import only.
    saved = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(cache_dir())
    try:
        import onnxruntime  # noqa: F401
    except Exception:  # noqa: BLE001 - the text reader is optional
        pass
    finally:
        if saved is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved


keep_library_files_out_of_tmp()


def freeze_long_lived_objects() -> None:
    """Move every object that exists now to the garbage collector's permanent generation.

    Streamlit runs a full garbage collection after every script run (``runner.postScriptGC``, on by
    default). With torch, pandas and the app imported that scans ~250,000 objects, ~110 ms of CPU holding
    the GIL after every rerun of every session: on 2 cores that delays the websocket sending the map of a
    slider move, and queues the other sessions. Modules, classes and import-time caches live as long as
    the process, so they need no scanning; each collection then only walks what was created since.
    Objects frozen here are still freed by reference counting; only cycles among them would stay.
    """
    import gc

    gc.freeze()


freeze_long_lived_objects()  # once per process: this module is imported by every page
