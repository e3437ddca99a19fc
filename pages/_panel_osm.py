"""The "What is visible (OpenStreetMap)" panel: build map queries, see how many places match, list them.

A query is built from a preset picker (a selectbox: type to search) for the anchor and up to
:data:`MAX_EXTRA` clauses "FEATURE within N m", or typed in the query syntax (``key=value`` tags too).
The panel shows a live count of the places matching the query being built in the covered area, and for
each added query its matching places with coordinates and OSM ids (links to openstreetmap.org only
when privacy mode is off). Every user or OSM text is shown as plain text (``st.text`` / dataframes).
Widget keys start ``osm::``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from geolocate.evidence import Message
from geolocate.evidence.osm import OsmEvidence
from geolocate.osm.presets import PRESETS
from geolocate.osm.query import QueryError, run_query
from geolocate.osm.store import FeatureStore, load_store
from pages._shared import show_message

QUERIES, ANCHOR, N_EXTRA, TEXT, ADD, MISS, HARD = "osm::queries", "osm::anchor", "osm::n_extra", "osm::text", "osm::add", "osm::miss", "osm::hard"
MAX_EXTRA = 3
LISTED = 25
"""Matching places listed per query."""

_NAMES = [p.name for p in PRESETS]
_KIND = {"n": "node", "w": "way", "r": "relation"}


def _init(key: str, value: Any, restored: bool) -> None:
    if restored or key not in st.session_state:
        st.session_state[key] = value


def _store(folder: str | None) -> FeatureStore:
    """The store (load_store memoises it per process and sees a new import by the extracts' mtimes)."""
    return load_store(folder)


_COUNTS: dict[tuple, int] = {}


def _count(store: FeatureStore, text: str) -> int:
    """Matching places of a query, memoised per store and text (the live count reruns on every widget move)."""
    key = (str(store.folder), tuple((m.get("name"), m.get("imported_at")) for m in store.extracts), text)
    if key not in _COUNTS:
        if len(_COUNTS) > 256:
            _COUNTS.clear()
        _COUNTS[key] = len(run_query(text, store))
    return _COUNTS[key]


def _built_query() -> str:
    parts = [str(st.session_state.get(ANCHOR) or "")]
    for i in range(int(st.session_state.get(N_EXTRA, 0))):
        feat = st.session_state.get(f"osm::feat{i}")
        dist = st.session_state.get(f"osm::dist{i}")
        unit = st.session_state.get(f"osm::unit{i}", "m")
        if feat and dist:
            parts.append(f"{feat} within {float(dist):g} {unit}")
    return "; ".join(p for p in parts if p)


def _places(store: FeatureStore, text: str, privacy: bool) -> pd.DataFrame:
    r = run_query(text, store)
    rows = []
    for i, f in enumerate(r.fids[:LISTED].tolist()):
        row = {
            "OSM id": f"{_KIND[str(store.osm_type[f])]} {int(store.osm_id[f])}",
            "name": str(store.name[f] or ""),
            "lat": round(float(r.where[i, 0]), 6),
            "lon": round(float(r.where[i, 1]), 6),
        }
        for j, c in enumerate(r.query.clauses[1:]):
            row[f"to {c.term} (m)"] = round(float(r.nearest_m[i, j]), 1)
        if not privacy:
            row["map"] = store.url(f)
        rows.append(row)
    return pd.DataFrame(rows)


def panel(evidence: OsmEvidence, privacy: bool = True, *, restored: bool = False, store_dir: str | None = None) -> OsmEvidence:
    """Draw the panel and return the evidence its widgets state.

    Args:
        evidence: the current evidence (from the link on the first run).
        privacy: privacy mode is on (no links to openstreetmap.org).
        restored: the session's first run (widgets take the evidence's values).
        store_dir: the feature store folder (default: the one ``osm import`` writes).
    """
    _init(QUERIES, list(evidence.queries), restored)
    _init(MISS, float(evidence.miss_rate), restored)
    _init(HARD, bool(evidence.hard), restored)
    st.header(OsmEvidence.label)
    try:
        store = _store(store_dir)
    except (OSError, ValueError) as err:
        show_message(Message("error", "The OpenStreetMap feature store cannot be read.", str(err)[:200]))
        return OsmEvidence(tuple(st.session_state[QUERIES]), float(st.session_state[MISS]), bool(st.session_state[HARD]))
    if store.is_empty:
        st.caption("No OpenStreetMap extract is imported. On the server run: python -m geolocate osm import EXTRACT.osm.pbf")
    else:
        st.caption(f"Covered: {store.coverage.area_km2:,.1f} km² from {len(store.extracts)} extract(s). Outside it the queries say nothing.")
        st.text(", ".join(str(m.get("name")) for m in store.extracts))
    st.selectbox("I can see", _NAMES, index=None, key=ANCHOR, placeholder="type to search the presets")
    st.number_input("…and near it (clauses)", min_value=0, max_value=MAX_EXTRA, step=1, key=N_EXTRA)
    for i in range(int(st.session_state.get(N_EXTRA, 0))):
        c1, c2, c3 = st.columns([3, 2, 1])
        c1.selectbox(f"feature {i + 1}", _NAMES, index=None, key=f"osm::feat{i}", placeholder="preset")
        c2.number_input("within", min_value=1.0, max_value=20000.0, value=100.0, step=10.0, key=f"osm::dist{i}")
        c3.selectbox("unit", ["m", "km"], key=f"osm::unit{i}")
    st.text_input("…or type a query", key=TEXT, placeholder="amenity=pharmacy; railway=tram_stop within 60 m")
    text = (st.session_state.get(TEXT) or "").strip() or _built_query()
    if text:
        try:
            n = _count(store, text) if not store.is_empty else 0
            st.text(f"{n} places match: {text}")
        except QueryError as err:
            show_message(Message("warning", "This query cannot be used:", str(err)))
            text = ""
    if st.button("Add query", key=ADD, disabled=not text):
        ev, problems = OsmEvidence.of(*st.session_state[QUERIES], text)
        for p in problems:
            show_message(Message("warning", "", p))
        st.session_state[QUERIES] = list(ev.queries)
    keep = []
    for i, q in enumerate(st.session_state[QUERIES]):
        c1, c2 = st.columns([5, 1])
        c1.text(q)
        if not c2.button("remove", key=f"osm::remove{i}"):
            keep.append(q)
        if not store.is_empty:
            with st.expander("matching places", expanded=False):
                try:
                    df = _places(store, q, privacy)
                except QueryError as err:
                    show_message(Message("warning", "", str(err)))
                    continue
                if df.empty:
                    st.text("none in the covered area")
                else:
                    cfg = {"map": st.column_config.LinkColumn("map", display_text="openstreetmap.org")} if not privacy else None
                    st.dataframe(df, hide_index=True, column_config=cfg)
    st.session_state[QUERIES] = keep
    st.slider("Chance OSM misses the place", min_value=0.01, max_value=0.9, step=0.01, key=MISS, help="OSM is incomplete: the rest of the covered area keeps this share.")
    st.checkbox("Matches are certain (rule the rest of the covered area out)", key=HARD)
    ev, _ = OsmEvidence.of(*keep, miss_rate=float(st.session_state[MISS]), hard=bool(st.session_state[HARD]))
    return ev


def osm_panel(ev: OsmEvidence, ctx: Any) -> OsmEvidence:
    """The panel in the form of pages/_panels.py's ``PANELS`` (``ctx``: its PanelContext)."""
    return panel(ev, bool(getattr(ctx, "privacy", True)), restored=bool(getattr(ctx, "restored", False)))


__all__ = ["osm_panel", "panel"]
