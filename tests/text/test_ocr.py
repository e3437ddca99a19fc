"""The text reader on rendered signs (perspective, blur, noise, JPEG) in 14 languages and 11 scripts
(geolocate/text/ocr.py), and the clues read from them: text (edit distance), top country and its mass,
the area code's place within 50 km."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("rapidocr_onnxruntime", reason="the text reader is not installed (pip install rapidocr-onnxruntime==1.4.4)")

from geolocate.metrics import haversine_km  # noqa: E402
from geolocate.text import country_posterior, extract_clues, ocr  # noqa: E402

from .signs import SIGNS, Sign, best_match, font_missing, render  # noqa: E402

SIZE = (896, 560)
TESSERACT = ocr.reader_status()["tesseract"]
# (sign, largest normalised edit distance of its main line, of its worst line)
LIMITS = {"french": (0.1, 0.2), "portuguese": (0.1, 0.25), "german": (0.15, 0.2), "spanish": (0.1, 0.15), "chinese": (0.1, 0.2),
          "russian": (0.1, 0.4), "greek": (0.15, 0.25), "arabic": (0.2, 0.2), "hebrew": (0.15, 0.2), "hindi": (0.15, 0.15),
          "thai": (0.15, 0.15), "korean": (0.15, 0.2), "japanese": (0.15, 0.2), "georgian": (0.15, 0.15)}
PP_ONLY = {"french", "portuguese", "german", "spanish", "chinese"}


def _skip_reason(sign: Sign) -> str:
    if font_missing(sign):
        return f"font {font_missing(sign)} is not installed (apt-get install fonts-noto-core fonts-noto-cjk fonts-dejavu-core)"
    if sign.name not in PP_ONLY:
        if not TESSERACT:
            return "Tesseract is not installed (pip install tesserocr==2.13.0; apt-get install tesseract-ocr tesseract-ocr-osd)"
        script = {"russian": "Cyrillic", "greek": "Greek", "arabic": "Arabic", "hebrew": "Hebrew", "hindi": "Devanagari", "thai": "Thai",
                  "korean": "Hangul", "japanese": "Japanese", "georgian": "Georgian"}[sign.name]
        if script not in ocr.reader_status()["scripts"]:
            return f"no Tesseract model for {script} (apt-get install {ocr.missing_pack(script)})"
    return ""


@pytest.fixture(scope="module")
def readings() -> dict[str, ocr.ReadResult]:
    ocr.clear_cache()
    out = {}
    for s in SIGNS:
        if not _skip_reason(s):
            out[s.name] = ocr.read_image(render(s, SIZE))
    return out


@pytest.mark.parametrize("sign", SIGNS, ids=[s.name for s in SIGNS])
def test_rendered_sign(sign: Sign, readings):
    reason = _skip_reason(sign)
    if reason:
        pytest.skip(reason)
    r = readings[sign.name]
    read = [ln.text for ln in r.lines]
    main, worst = LIMITS[sign.name]
    dists = [best_match(e, read)[1] for e in sign.lines]
    assert dists[0] <= main, (read, dists)
    assert max(dists) <= worst, (read, dists)
    for ln in r.lines:
        assert len(ln.box) == 4 and 0 <= ln.confidence <= 1
        assert all(0 <= x <= SIZE[0] and 0 <= y <= SIZE[1] for x, y in ln.box)
    clues = extract_clues(read)
    post = country_posterior(clues)
    top, mass = next(iter(post.items()))
    assert top == sign.country, (read, list(post.items())[:3])
    assert mass >= 0.5
    if sign.place is not None:
        phones = [c for c in clues if c.kind == "phone" and c.places]
        assert phones, [c.describe() for c in clues]
        p = phones[0].places[0]
        assert haversine_km(p.lat, p.lon, *sign.place) < 50


def test_no_text():
    rng = np.random.default_rng(1)
    a = np.clip(rng.normal(120, 8, (400, 600, 3)), 0, 255).astype(np.uint8)
    r = ocr.read_image(Image.fromarray(a))
    assert r.lines == ()
    assert [m.text for m in r.messages] == ["No text found in the photo."]


def test_cached_by_pixels_and_thread_safe():
    ocr.clear_cache()
    a = render(SIGNS[11], (640, 400), seed=3)  # chinese: PP-OCR alone
    b = Image.fromarray(np.asarray(a).copy())  # equal pixels, another object
    results: list[ocr.ReadResult] = []
    threads = [threading.Thread(target=lambda im=im: results.append(ocr.read_image(im))) for im in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [ln.text for ln in results[0].lines] == [ln.text for ln in results[1].lines] and results[0].lines
    assert ocr.cached(a) is not None and ocr.read_image(b) is ocr.cached(a)
    assert ocr.pixel_key(a) == ocr.pixel_key(b) != ocr.pixel_key(render(SIGNS[11], (640, 400), seed=4))


def test_lines_capped_by_confidence(monkeypatch):
    im = render(SIGNS[0], (640, 400), seed=5)
    r = ocr.read_image(im, max_lines=1)
    assert len(r.lines) == 1 and r.dropped >= 1
    assert any("kept the 1 most confident" in m.text for m in r.messages)


def test_unread_script_is_said(monkeypatch):
    """Without Tesseract a Cyrillic sign's lines are unsure, and the message says what to install."""
    if font_missing(SIGNS[3]):
        pytest.skip("font missing")
    monkeypatch.setattr(ocr, "_tess_engines", lambda: (None, None))
    monkeypatch.setattr(ocr._ENGINES, "tess_error", "Tesseract is not installed (pip install tesserocr==2.13.0; apt-get install tesseract-ocr tesseract-ocr-osd).")
    r = ocr._read(render(SIGNS[3], SIZE, seed=7), ocr.MAX_LINES)
    assert any("could not be checked" in m.text and "tesserocr" in m.text for m in r.messages), r.messages
    assert ocr.missing_pack("Cyrillic") == "tesseract-ocr-script-cyrl"


def test_installed_scripts_are_listed():
    st = ocr.reader_status()
    assert st["pp_ocr"] is True
    if st["tesseract"]:
        assert set(st["scripts"]) <= set(ocr.TESSERACT_SCRIPTS)


def test_spaces_pp_ocr_drops_are_restored(readings):
    if not TESSERACT or "spanish" not in readings:
        pytest.skip("needs Tesseract and the Noto fonts")
    read = [ln.text for ln in readings["spanish"].lines]
    assert any("todos los" in t for t in read), read  # PP-OCR alone reads "Abiertotodoslosdias"


def test_missing_script_pack_is_named(monkeypatch):
    """With only the Greek model loaded, an Arabic sign cannot be read and the message names the pack."""
    if not TESSERACT or font_missing(SIGNS[5]):
        pytest.skip("needs Tesseract and the Arabic font")
    monkeypatch.setenv("GEOLOCATE_TEXT_SCRIPTS", "Greek")
    monkeypatch.setattr(ocr, "_ENGINES", ocr._Engines())  # fresh readers that load only what the variable allows
    r = ocr._read(render(SIGNS[5], SIZE, seed=9), ocr.MAX_LINES)
    assert not any(ln.script == "Arabic" for ln in r.lines)
    assert any("tesseract-ocr-script-arab" in m.text for m in r.messages), r.messages
