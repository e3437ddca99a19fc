"""Helpers shared by the Cases and Classroom pages: process-wide caches of benchmark cases (read-only once
built, so every session may read them) and the photo / scene panels."""

from __future__ import annotations

import os
import re

import pandas as pd
import streamlit as st

from geolocate import settings
from geolocate.data import discover_benchmarks
from geolocate.teach import cases, photos
from pages._shared import shared_priors


# ---- data ------------------------------------------------------------------------------------------------
@st.cache_data(show_spinner=False)
def bench_specs(folder: str):
    return discover_benchmarks(folder)


@st.cache_resource(show_spinner="Reading the benchmark (first visit only)…", max_entries=4)
def casebook(folder: str, name: str) -> cases.CaseBook:
    spec = next(s for s in bench_specs(folder) if s.name == name)
    return cases.load_casebook(spec)


@st.cache_resource(show_spinner="Drawing every expert's map for this photo…", max_entries=64)
def case_of(folder: str, name: str, image_id: str) -> cases.Case:
    return cases.evaluate_case(casebook(folder, name), image_id, priors=shared_priors())


@st.cache_resource(show_spinner=False)
def _table_store() -> dict:
    """Process-wide store of all-images tables (read-only once stored)."""
    return {}


def table_of(folder: str, name: str, compute: bool = False, progress=None):
    """The all-images table from memory or the disk cache; computed only when asked (about a minute)."""
    store, key = _table_store(), (folder, name)
    if key not in store:
        t = cases.case_table(casebook(folder, name), progress=progress, only_cached=not compute)
        if t is None:
            return None
        store[key] = t
    return store[key]


def md(text: object) -> str:
    """File-derived text with Markdown escaped."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:])", r"\\\1", str(text))


def offline() -> bool:
    """True when the server runs offline (GEOLOCATE_OFFLINE) or this session turned on Locate's privacy mode:
    then no page asks the browser to contact another host."""
    env = os.environ.get("GEOLOCATE_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}
    return env or st.session_state.get("privacy") is True


# ---- photos ------------------------------------------------------------------------------------------------
PHOTO_FOLDER_TTL_S = 600
"""How long an index of the photo folder is reused before the folder is walked again (files added)."""
HOW_TO_PROVIDE = (
    "To show the photos in the room, offline: put the benchmark's image files (e.g. Im2GPS3k's) in a folder on the "
    "server, check it with `python -m geolocate cases photos /path/to/folder`, set GEOLOCATE_CASE_PHOTOS=/path/to/folder "
    "in the server's environment and restart it. Each photo is then sent from this app, shrunk and with its "
    "metadata (GPS position included) removed."
)


@st.cache_resource(show_spinner="Indexing the case photos folder…", ttl=PHOTO_FOLDER_TTL_S, max_entries=2)
def photo_folder(path: str) -> photos.PhotoFolder | None:
    """The index of the server's case photos folder (process-wide, read-only once built), or None when unreadable."""
    try:
        return photos.index_folder(path)
    except (photos.PhotoError, OSError):
        return None


def folder_status() -> tuple[photos.PhotoFolder | None, str | None]:
    """(the photo folder's index or None, a problem to tell the teacher or None)."""
    path = settings.case_photos_dir()
    if path is None:
        return None, None
    folder = photo_folder(str(path))
    if folder is None:
        return None, "GEOLOCATE_CASE_PHOTOS is set but is not a readable folder on the server."
    return folder, None


@st.cache_data(show_spinner=False, max_entries=256)
def _clean_file(path: str, mtime_ns: int) -> bytes | None:
    """A file's cleaned bytes (memory only), keyed by its modification time."""
    try:
        return photos.read_clean(path)
    except (photos.PhotoError, OSError):
        return None


def local_photo(image_id: str) -> bytes | None:
    """The case photo from the server's folder, shrunk and without metadata, or None when there is none."""
    folder, _ = folder_status()
    path = folder.find(image_id) if folder is not None else None
    if path is None:
        return None
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return None
    return _clean_file(str(path), mtime)


def show_photo(photo: cases.FlickrPhoto | None, where=st, image_id: str | None = None) -> None:
    """The photo: from the server's photo folder when it has it (sent by this app, shrunk, no metadata),
    else loaded by the browser from Flickr when online; never fetched by this server."""
    local = local_photo(image_id) if image_id else None
    if local is not None:
        where.image(local, caption="From this server's photo folder (shrunk, metadata removed).", width="stretch")
        return
    folder, problem = folder_status()
    if problem:
        where.warning(problem)
    if photo is None or offline():
        why = ("This benchmark's image ids are not Flickr file names, so there is no photo address to show." if photo is None else
               "No photo: this server runs offline (GEOLOCATE_OFFLINE=1) or privacy mode is on (Locate page), so the page does not ask your browser to load it from Flickr.")
        if folder is not None:
            why += " The server's photo folder has no file for this image id."
        where.info(why)
        where.caption(HOW_TO_PROVIDE)
    else:
        where.image(photo.image_url, caption="Loaded by your browser from Flickr (the photo may have been removed since).", width="stretch")
        if photo.page_url:
            where.link_button("Photo page on Flickr", photo.page_url)


def show_scene(scene: dict[str, float], where=st) -> None:
    if not scene:
        where.caption("No scene probabilities for this photo.")
        return
    df = pd.DataFrame({"scene": list(scene), "probability": list(scene.values())})
    where.dataframe(df, hide_index=True, column_config={"probability": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="percent")})
    where.caption("What the Places365 scene classifier saw (indoor / natural / urban): the scene expert's input.")




# ---- place search ------------------------------------------------------------------------------------------
def _gazetteer():
    """geolocate.gazetteer when this install has it, else None (the search box is then not shown)."""
    try:
        from geolocate import gazetteer
    except Exception:  # noqa: BLE001 - an optional part: the map and the text box still work
        return None
    return gazetteer if hasattr(gazetteer, "search") else None


def place_search(target_key: str, key: str, where=st) -> None:
    """A place search whose chosen match fills the text box ``target_key`` with its "lat, lon"."""
    gaz = _gazetteer()
    if gaz is None:
        return
    query = where.text_input("Find a place (optional)", key=key, max_chars=80, placeholder="e.g. Lyon, Nairobi, Lake Titicaca")
    if not query.strip():
        return
    try:
        places = gaz.search(query, limit=8)
    except Exception:  # noqa: BLE001 - a search problem must not break the guess
        places = []
    if not places:
        where.caption("No place found with this name.")
        return
    labels = [", ".join(p for p in (pl.name, pl.admin1, pl.country_name) if p) for pl in places]

    def _choose():
        i = st.session_state.get(f"{key}::pick")
        if i is not None:
            st.session_state[target_key] = f"{places[i].lat:.4f}, {places[i].lon:.4f}"

    where.selectbox("Matches", list(range(len(places))), format_func=lambda i: labels[i], index=None, key=f"{key}::pick",
                    on_change=_choose, placeholder="Choose a match to use its position")
