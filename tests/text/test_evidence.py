"""The text evidence kind: link keys, typed text only in links, OCR switch, unticked lines (geolocate/evidence/text.py)."""

from __future__ import annotations

import pytest

pytest.importorskip("phonenumbers")

from geolocate.evidence import EvidenceContext, EvidenceSet  # noqa: E402
from geolocate.evidence.base import kind  # noqa: E402
from geolocate.evidence.text import TextEvidence, analyse, clue_report  # noqa: E402
from geolocate.experts.base import ExpertKind  # noqa: E402

from .signs import SIGNS, font_missing, render  # noqa: E402


def test_registered_and_link_round_trip():
    assert kind("text") is TextEvidence and TextEvidence.label == "Text in the photo"
    ev = TextEvidence(typed=("Tel +351 21 346 2917", "Lisboa"), ocr=False, unticked=("secret line read in the photo",))
    q = ev.to_query()
    assert q == {"text": "Tel +351 21 346 2917\nLisboa", "ocr": "0"}  # unticked (OCR) text never goes into a link
    back, problems = TextEvidence.from_query(q)
    assert back == TextEvidence(typed=ev.typed, ocr=False) and problems == []
    es, _ = EvidenceSet.from_query({"text": "Lisboa", "guess": "1,2"})
    assert es.get("text").typed == ("Lisboa",)
    assert TextEvidence().is_empty and TextEvidence().to_query() == {}
    assert ("reading text in the photo", "off") in ev.summary()


def test_bad_link_values():
    ev, problems = TextEvidence.from_query({"text": "\u202eLisboa\u0000\n\n" + "x" * 12_000, "ocr": "maybe"})
    assert ev.typed[0] == "Lisboa" and ev.ocr is True
    assert any("10,000" in p for p in problems) and any("ocr" in p for p in problems)
    assert all(len(t) <= 300 for t in ev.typed)


def test_typed_text_without_photo():
    ev, _ = TextEvidence.from_typed("Tel. +351 21 346 2917\nPastelaria Lisboa\n1,20 €")
    experts, messages = ev.experts(EvidenceContext())
    names = [e.name for e in experts]
    assert {"text: phone", "text: place", "text: currency"} <= set(names)
    assert all(e.kind == ExpertKind.TEXT for e in experts)
    a = analyse(ev)
    assert "Portugal, Lisbon (phone)" in a.lines[0].clues
    assert ("+351 21 346 2917", "Portugal, Lisbon (phone)") in clue_report(a)


def test_nothing_and_hostile():
    assert TextEvidence().experts(EvidenceContext()) == ([], [])
    ev, _ = TextEvidence.from_typed("+1 000 000 0000")
    experts, messages = ev.experts(EvidenceContext())
    texts = [str(m) for m in messages]
    assert any("+1 000 000 0000 is not a valid phone number" in t for t in texts)
    assert not any(e.name == "text: phone" for e in experts)


@pytest.fixture(scope="module")
def photo():
    pytest.importorskip("rapidocr_onnxruntime", reason="the text reader is not installed")
    sign = SIGNS[1]  # portuguese: PP-OCR alone
    if font_missing(sign):
        pytest.skip("fonts missing")
    return render(sign, (768, 480), seed=11)


def test_photo_read_and_lines_unticked(photo):
    ev = TextEvidence()
    a = analyse(ev, [photo])
    phone = [ln for ln in a.lines if "+351" in ln.text]
    assert phone and phone[0].source == "photo" and len(phone[0].box) == 4
    experts, _ = ev.experts(EvidenceContext(photos=[photo]))
    assert "text: phone" in [e.name for e in experts]
    # unticking the number's line removes the phone clue; the link still carries nothing of the photo
    off = TextEvidence(unticked=(phone[0].text,))
    experts2, _ = off.experts(EvidenceContext(photos=[photo]))
    assert "text: phone" not in [e.name for e in experts2]
    assert off.to_query() == {}
    assert [ln.used for ln in analyse(off, [photo]).lines if ln.text == phone[0].text] == [False]
    # reading off: the photo is not read at all
    assert analyse(TextEvidence(ocr=False), [photo]).lines == ()
