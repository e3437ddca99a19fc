"""Helpers shared by the Cases and Classroom pages: process-wide caches of benchmark cases (read-only once
built, so every session may read them) and the photo / scene panels."""

from __future__ import annotations

import os
import re

import pandas as pd
import streamlit as st

from geolocate.data import discover_benchmarks
from geolocate.teach import cases
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


def show_photo(photo: cases.FlickrPhoto | None, where=st) -> None:
    """The photo, loaded by the browser from Flickr; never by this server."""
    if photo is None:
        where.info("This benchmark's image ids are not Flickr file names, so there is no photo address to show.")
    elif offline():
        where.info("No photo: this server runs offline (GEOLOCATE_OFFLINE=1) or privacy mode is on (Locate page), so the page does not ask your browser to load it from Flickr.")
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


