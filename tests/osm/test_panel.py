"""The "What is visible" panel (pages/_panel_osm.py) in Streamlit's AppTest, on the Helsinki store."""

from __future__ import annotations

from pathlib import Path

import pytest

AppTest = pytest.importorskip("streamlit.testing.v1").AppTest


REPO = str(Path(__file__).resolve().parents[2])


def _script(store_dir: str, privacy: bool, repo: str) -> None:
    import sys

    import streamlit as st

    if repo not in sys.path:
        sys.path.insert(0, repo)

    from geolocate.evidence.osm import OsmEvidence
    from pages._panel_osm import panel

    ev = panel(OsmEvidence(("pharmacy; tram stop within 60 m",)), privacy=privacy, restored="osm::queries" not in st.session_state, store_dir=store_dir)
    st.session_state["stated"] = ev


def _app(store_dir: Path, privacy: bool) -> AppTest:
    at = AppTest.from_function(_script, args=(str(store_dir), privacy, REPO), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def test_panel_counts_builds_and_lists(store_dir):
    at = _app(store_dir, privacy=True)
    assert at.session_state["stated"].queries == ("pharmacy; tram stop within 60 m",)
    df = at.dataframe[0].value
    assert list(df["OSM id"]) == ["node 6049453002"] and "map" not in df.columns  # privacy: no links
    at.selectbox(key="osm::anchor").select("pharmacy").run()
    at.number_input(key="osm::n_extra").set_value(1).run()
    at.selectbox(key="osm::feat0").select("tram stop").run()
    at.number_input(key="osm::dist0").set_value(100.0).run()
    assert any(t.value == "4 places match: pharmacy; tram stop within 100 m" for t in at.text)
    at.button(key="osm::add").click().run()
    assert at.session_state["stated"].queries == ("pharmacy; tram stop within 60 m", "pharmacy; tram stop within 100 m")
    at.text_input(key="osm::text").input("pharmcy; tram stop within 5 m").run()
    assert any("closest presets: pharmacy" in (w.value or "") or "closest presets: pharmacy" in t.value for w in at.warning for t in at.text)
    at.button(key="osm::remove0").click().run()
    assert at.session_state["stated"].queries == ("pharmacy; tram stop within 100 m",)


def test_panel_links_only_without_privacy(store_dir):
    at = _app(store_dir, privacy=False)
    df = at.dataframe[0].value
    assert list(df["map"]) == ["https://www.openstreetmap.org/node/6049453002"]
