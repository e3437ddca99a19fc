"""The Text in the photo panel and photo view (pages/_panel_text.py), run by Streamlit's AppTest."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("phonenumbers")
from streamlit.testing.v1 import AppTest  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _repo_on_path(monkeypatch):
    monkeypatch.chdir(REPO)
    monkeypatch.syspath_prepend(str(REPO))


def _script():
    import streamlit as st

    from geolocate.evidence.text import TextEvidence
    from pages._panel_text import panel, photo_view

    with st.sidebar:
        ev = panel(TextEvidence(typed=("**Tel** +351 21 346 2917", "[x](javascript:alert(1)) <b>Lisboa</b>")), [])
    photo_view(ev, [])
    st.session_state["out"] = ev


def test_panel_states_typed_text_and_renders_it_plain():
    at = AppTest.from_function(_script, default_timeout=120)
    at.run()
    assert not at.exception
    ev = at.session_state["out"]
    assert ev.typed == ("**Tel** +351 21 346 2917", "[x](javascript:alert(1)) <b>Lisboa</b>")
    texts = [t.value for t in at.text]
    assert "typed: **Tel** +351 21 346 2917" in texts  # plain text, never Markdown
    assert any("Portugal, Lisbon (phone)" in t for t in texts)
    assert all("Lisboa" not in m.value for m in at.markdown)  # no user text in Markdown
    at.sidebar.text_area[0].set_value("120 Kč").run()
    assert at.session_state["out"].typed == ("120 Kč",)
    assert any("Czechia" in t.value for t in at.text)
    at.sidebar.checkbox[0].uncheck().run()
    assert at.session_state["out"].ocr is False and at.session_state["out"].to_query() == {"text": "120 Kč", "ocr": "0"}
