"""The "Text in the photo" panel (sidebar) and the photo view (main column): typed text, OCR switch, the photo
with its text boxes, and every line read with its clues, each line with a tick box.

Every user or OCR text is shown as plain text: ``st.text``, ``st.dataframe``, and tick-box labels
escaped (:func:`pages._shared.escape_markdown`), never Markdown or HTML. Widget keys start ``text::``.
Unticking a line stores its text in ``TextEvidence.unticked`` (never in the link).
"""

from __future__ import annotations

import hashlib
from typing import Any

import streamlit as st

from geolocate.evidence.text import MAX_TYPED_CHARS, TextAnalysis, TextEvidence, analyse
from pages._shared import escape_markdown, show_message

TYPED, OCR, LINES = "text::typed", "text::ocr", "text::lines"
USE = "text::use::"
"""Prefix of the tick boxes' keys (one per line read: ``text::use::<hash of the line>``)."""

MAX_LISTED = 60


def _line_key(text: str) -> str:
    return USE + hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=8).hexdigest()


def _unticked() -> tuple[str, ...]:
    """Texts of the lines whose tick boxes are off (from the previous run's boxes)."""
    texts: dict[str, str] = st.session_state.get(LINES, {})
    return tuple(t for k, t in texts.items() if st.session_state.get(k) is False)


def panel(evidence: TextEvidence, photos: list) -> TextEvidence:
    """Draw the sidebar inputs (typed text, reading on/off) and return the evidence they state.

    Args:
        evidence: the current text evidence (from the link on the first run).
        photos: the decoded photos (in memory).
    """
    from geolocate.text.ocr import INSTALL_PP, reader_status

    if TYPED not in st.session_state:
        st.session_state[TYPED] = "\n".join(evidence.typed)
    if OCR not in st.session_state:
        st.session_state[OCR] = bool(evidence.ocr)
    st.text_area(
        "Text seen in the photo", key=TYPED, max_chars=MAX_TYPED_CHARS, height=90,
        help="One line per sign or label: phone numbers, web addresses, prices, place names, words. Works without a photo; goes into the shareable link.",
    )
    status = reader_status()
    st.checkbox("Read the text in the photo", key=OCR, disabled=not status["pp_ocr"], help="Reads the photo here, on this server; what it reads never goes into the link.")
    if not status["pp_ocr"]:
        st.caption(escape_markdown(f"The text reader is not installed: {INSTALL_PP}"))
    ev, problems = TextEvidence.from_typed(str(st.session_state[TYPED]), ocr=bool(st.session_state[OCR]) and status["pp_ocr"], unticked=_unticked())
    if not status["pp_ocr"] and evidence.ocr:
        ev = TextEvidence(ev.typed, True, ev.unticked)  # keep the link's switch; nothing is read anyway
    for p in problems:
        st.text(p)
    return ev


def _boxed(image: Any, analysis: TextAnalysis, source: str) -> Any:
    """A copy of the photo with the text boxes drawn (green: used, grey: unticked)."""
    from PIL import ImageDraw

    im = image.copy()
    d = ImageDraw.Draw(im)
    width = max(2, im.width // 400)
    for ln in analysis.lines:
        if ln.source != source or not ln.box:
            continue
        colour = (20, 200, 60) if ln.used else (150, 150, 150)
        d.polygon([(float(x), float(y)) for x, y in ln.box], outline=colour, width=width)
    return im


def photo_view(evidence: TextEvidence, photos: list) -> None:
    """Under the photo: the photo with its text boxes, each line read with a tick box and its clues, the messages."""
    from geolocate.text.experts import country_posterior

    if evidence is None:
        return
    if not photos and not evidence.typed:
        return
    with st.spinner("Reading the text in the photo…") if (photos and evidence.ocr) else _null():
        analysis = analyse(evidence, photos if evidence.ocr else [])
    if not analysis.lines and not analysis.messages:
        return
    with st.expander("Text in the photo", expanded=True):
        texts: dict[str, str] = {}
        sources = [f"photo {k}" if len(photos) > 1 else "photo" for k in range(1, len(photos) + 1)]
        for k, photo in enumerate(photos if evidence.ocr else []):
            if any(ln.source == sources[k] and ln.box for ln in analysis.lines):
                st.image(_boxed(getattr(photo, "image", photo), analysis, sources[k]), caption=sources[k] + ": text boxes (grey: not used)", width="stretch")
        shown = 0
        for ln in analysis.lines:
            if shown >= MAX_LISTED:
                st.text(f"… and {len(analysis.lines) - MAX_LISTED} more lines")
                break
            shown += 1
            if ln.source == "typed":
                st.text(f"typed: {ln.text}")
            else:
                key = _line_key(ln.text)
                texts[key] = ln.text
                if key not in st.session_state:
                    st.session_state[key] = ln.used
                # The line itself as plain text beside a label-less tick box: a widget label is Markdown,
                # where even escaped text turns "www.…" into a link.
                tick, line = st.columns([1, 24], vertical_alignment="center")
                tick.checkbox(f"use line {shown}", key=key, label_visibility="collapsed")
                line.text(f"{ln.text}   ({ln.script}, {ln.confidence:.0%})")
            for c in ln.clues:
                if "(script)" in c or "(language)" in c:
                    continue  # shown once below, not on every line
                st.text(f"    → {c}")
        st.session_state[LINES] = texts
        rows = [{"clue": c.kind, "text": c.text, "implies": c.implication or "says nothing"} for c in analysis.clues]
        if rows:
            st.dataframe(rows, hide_index=True, width="stretch")
            post = country_posterior(analysis.clues)
            top = list(post.items())[:3]
            if top:
                from geolocate.text.clues import country_name

                st.text("All text clues together (with where people live): " + ", ".join(f"{country_name(c)} {p:.0%}" for c, p in top))
        for m in analysis.messages:
            show_message(m)


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


__all__ = ["panel", "photo_view"]
