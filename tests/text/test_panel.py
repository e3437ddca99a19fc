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


def _photo_script():
    import streamlit as st

    from geolocate.evidence.text import TextEvidence
    from pages._panel_text import panel, photo_view
    from tests.text.signs import SIGNS, render

    photos = [render(SIGNS[1], (768, 480), seed=21)]  # portuguese: PP-OCR alone
    with st.sidebar:
        ev = panel(TextEvidence(), photos)
    photo_view(ev, photos)
    st.session_state["out"] = ev


def test_photo_view_lists_lines_and_unticking_drops_their_clues():
    pytest.importorskip("rapidocr_onnxruntime", reason="the text reader is not installed")
    at = AppTest.from_function(_photo_script, default_timeout=180)
    at.run()
    assert not at.exception
    assert sum(getattr(e, "type", "") == "image" for e in _walk(at.main)) == 1  # the photo with its boxes drawn
    boxes = [c for c in at.checkbox if c.key and c.key.startswith("text::use::")]
    from pages._panel_text import LINES

    texts = at.session_state[LINES]  # tick-box key -> the line it stands for
    phone = [c for c in boxes if "351" in texts[c.key]]
    assert phone and phone[0].value is True
    # The line is plain text beside a label-less tick box (a label is Markdown: "www." would become a link).
    assert phone[0].label.startswith("use line ") and any(t.value.startswith(texts[phone[0].key]) for t in at.text)
    assert any("Portugal, Lisbon (phone)" in t.value for t in at.text)
    phone[0].uncheck().run()
    ev = at.session_state["out"]
    assert len(ev.unticked) == 1 and "351" in ev.unticked[0] and ev.to_query() == {}
    assert not any("Portugal, Lisbon (phone)" in t.value for t in at.text)


def _walk(node):
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _walk(child)
