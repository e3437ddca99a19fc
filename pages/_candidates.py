"""Locate page widgets: the candidate areas (the search plan), hand-off links, saved investigations.

Each is one call from the page (pages/locate.py wires them; nothing here reads the page's state)::

    render_candidates(areas, privacy)                          # above the regions table
    inv = render_investigation_controls(params, notes, photos)  # "Save investigation" / "Open investigation"

Plain text only: names, "why" and errors are user- or data-derived, so they go through dataframes,
``st.text``, ``st.code`` (no language: no highlighting, a copy button) or escaped messages. Hand-off
links appear only with privacy mode off (following one tells that service where you are looking) and
open in a new tab (``LinkColumn``). Widget keys start ``cand::``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import streamlit as st

from geolocate import handoff
from geolocate.candidates import CandidateArea
from geolocate.investigation import Investigation, InvestigationError, load, save
from geolocate.maps.fmt import format_km2, format_prob
from geolocate.share import ViewParams
from pages._shared import escape_markdown

PICK = "cand::pick"
UPLOAD = "cand::open"
OPENED = "cand::opened"
"""Session key: the upload id of the investigation last opened (so one upload opens it once)."""

PRIVACY_NOTE = "Hand-off links are hidden in privacy mode: following one tells that service where you are looking."


def candidates_frame(areas: Sequence[CandidateArea]) -> dict[str, list]:
    """The candidate areas as table columns (plain text): #, candidate area, chance, size, centre, why."""
    return {
        "#": [a.id for a in areas],
        "candidate area": [a.name for a in areas],
        "chance": [format_prob(a.prob) for a in areas],
        "size": [format_km2(a.area_km2) for a in areas],
        "centre": [handoff.decimal_degrees(a.lat, a.lon, 4) for a in areas],
        "why": [a.why_text() for a in areas],
    }


def handoff_frame(lat: float, lon: float, zoom: int = 12) -> dict[str, list[str]]:
    """Hand-off links for a point as table columns: service, link."""
    links = handoff.links(lat, lon, zoom)
    return {"service": [x.service for x in links], "link": [x.url for x in links]}


def render_handoff(lat: float, lon: float, privacy: bool, zoom: int = 12, key: str = "point") -> None:
    """Copyable coordinates (4 formats) for a point and, with privacy mode off, links to other map services."""
    formats = handoff.coordinate_formats(lat, lon)
    cols = st.columns(2)
    for i, (fmt, text) in enumerate(formats.items()):
        with cols[i % 2]:
            st.caption(fmt)
            st.code(text, language=None)
    if privacy:
        st.caption(PRIVACY_NOTE)
        return
    st.dataframe(
        handoff_frame(lat, lon, zoom), hide_index=True, key=f"cand::links::{key}",
        column_config={"link": st.column_config.LinkColumn("open (new tab)", display_text="open")},
    )


def render_candidates(areas: Sequence[CandidateArea], privacy: bool) -> None:
    """The candidate areas above the regions table: name, chance, size, why; hand-off for the one picked.

    Args:
        areas: :func:`geolocate.candidates.candidate_areas` of the regions inside the budget.
        privacy: privacy mode (True hides the hand-off links; coordinates stay).
    """
    st.subheader("Candidate areas", anchor=False)
    if not areas:
        st.text("No candidate area: no region fits the area budget (raise the budget).")
        return
    st.dataframe(candidates_frame(areas), hide_index=True, key="cand::table")
    labels = {a.id: a.label for a in areas}
    pick = st.selectbox("Coordinates and hand-off for", list(labels), format_func=lambda i: labels.get(i, str(i)), key=PICK)
    area = next((a for a in areas if a.id == pick), areas[0])
    with st.container(border=True):
        st.text(f"{area.label}: peak cell centre {handoff.decimal_degrees(area.peak_lat, area.peak_lon)}")
        width_km = max(area.area_km2, 1.0) ** 0.5
        render_handoff(area.peak_lat, area.peak_lon, privacy, zoom=handoff.zoom_for_km(3 * width_km), key=f"area{area.id}")


def render_investigation_controls(params: ViewParams, notes: str, photos: Sequence[Any] = (), *,
                                  method: str | None = None, previous: Investigation | None = None) -> Investigation | None:
    """"Save investigation" (a JSON download) and "Open investigation" (an upload).

    Args:
        params: the current view and evidence (what the shareable link holds).
        notes: the analyst's notes.
        photos: the decoded photos (only their names, SHA-256 and EXIF facts are saved).
        method: the pooling method, or None for the preset's.
        previous: the investigation the page was opened from (its creation time is kept).

    Returns:
        The investigation just opened (once per upload), else None. A bad file shows one error naming
        the field and returns None; the page keeps its state.
    """
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    st.download_button(
        "Save investigation", data=lambda: _save_text(params, notes, photos, method, previous),
        file_name=f"investigation_{stamp}.json", mime="application/json", on_click="ignore", key="cand::save",
        help="A JSON file with the evidence, weights, budget, notes and each photo's SHA-256 and EXIF facts; never the photo.",
    )
    upload = st.file_uploader("Open investigation", type=["json"], key=UPLOAD, help="A file saved with 'Save investigation'.")
    if upload is None:
        st.session_state.pop(OPENED, None)
        return None
    ident = getattr(upload, "file_id", None) or f"{upload.name}:{upload.size}"
    if st.session_state.get(OPENED) == ident:
        return None  # opened on an earlier run; the page has applied it
    try:
        inv = load(upload.getvalue())
    except InvestigationError as err:
        st.error(escape_markdown(f"{upload.name} was not opened: {err}"))
        return None
    st.session_state[OPENED] = ident
    return inv


def _save_text(params: ViewParams, notes: str, photos: Sequence[Any], method: str | None, previous: Investigation | None) -> str:
    try:
        return save(params, notes, photos, method=method, previous=previous)
    except InvestigationError as err:  # notes too long: the file says so rather than the button failing
        return save(params, notes[:1000] + f"\n[notes cut: {err}]", photos, method=method, previous=previous)


__all__ = ["candidates_frame", "handoff_frame", "render_candidates", "render_handoff", "render_investigation_controls"]
