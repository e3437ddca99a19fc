"""Tesseract's script models stay bounded (geolocate/text/ocr.py, ScriptReaders): at most the cap resident
after reading signs in every installed script, and a script pushed out is loaded again and still read."""

from __future__ import annotations

import threading

import pytest

from geolocate.text import ocr

from .signs import EXTRA_SIGNS, SIGNS, best_match, font_missing, render


class FakeApi:
    def __init__(self, script: str, live: set[str]) -> None:
        self.script, self.live = script, live
        live.add(script)

    def End(self) -> None:  # noqa: N802 (tesserocr's name)
        self.live.discard(self.script)


def test_lru_never_holds_more_than_the_cap_and_ends_what_it_evicts():
    live: set[str] = set()
    made: list[str] = []

    def load(script: str):
        made.append(script)
        return None if script == "Klingon" else FakeApi(script, live)

    r = ocr.ScriptReaders(load, cap=2)
    assert r.get("Cyrillic").script == "Cyrillic"
    r.get("Greek")
    r.get("Cyrillic")  # used again: Greek is now the least recently used
    r.get("Arabic")
    assert r.loaded() == ("Arabic", "Cyrillic") and live == {"Arabic", "Cyrillic"}
    assert r.evictions == 1 and r.peak == 2
    assert r.get("Greek").script == "Greek"  # evicted, loaded again
    assert made.count("Greek") == 2 and r.loads == 4
    assert r.get("Klingon") is None and r.get("Klingon") is None and made.count("Klingon") == 1  # a missing model is not retried
    r.clear()
    assert live == set() and r.loaded() == ()


def test_lru_is_thread_safe():
    live: set[str] = set()
    lock = threading.Lock()
    seen: list[int] = []

    def load(script: str):
        with lock:
            seen.append(len(live) + 1)  # resident while this one loads
        return FakeApi(script, live)

    r = ocr.ScriptReaders(load, cap=3)
    scripts = ["Cyrillic", "Greek", "Arabic", "Hebrew", "Thai", "Hangul", "Japanese"]

    def work(k: int) -> None:
        for n in range(60):
            with r.lock:
                api = r.get(scripts[(k * 3 + n) % len(scripts)])
                assert api.script in live  # never ended while in use
    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max(seen) <= 3 and r.peak <= 3 and len(r.loaded()) <= 3 and len(live) <= 3


SCRIPT_SIGNS = [s for s in SIGNS + EXTRA_SIGNS if s.name not in ("french", "portuguese", "german", "spanish", "chinese")]


@pytest.fixture
def capped(monkeypatch):
    pytest.importorskip("rapidocr_onnxruntime", reason="the text reader is not installed")
    st = ocr.reader_status()
    if not st["tesseract"] or len(st["scripts"]) < 4:
        pytest.skip("needs Tesseract with several script models (apt-get install tesseract-ocr-script-cyrl ...)")
    monkeypatch.setenv("GEOLOCATE_TEXT_MAX_SCRIPTS", "2")
    engines = ocr._Engines()
    engines.pp = ocr._pp_engine()  # PP-OCR is not what is bounded: keep the loaded one
    monkeypatch.setattr(ocr, "_ENGINES", engines)
    ocr.clear_cache()
    yield engines
    if engines.readers is not None:
        engines.readers.clear()
    ocr.clear_cache()


def test_script_models_stay_under_the_cap_and_an_evicted_script_reads_again(capped):
    signs = [s for s in SCRIPT_SIGNS if not font_missing(s)]
    results = {}
    for s in signs:
        results[s.name] = ocr.read_image(render(s, (896, 560)))
        readers = capped.readers
        assert readers is not None and len(readers.loaded()) <= 2
    assert readers.peak == 2 and readers.evictions >= len(signs) - 2
    # the first sign's script (Cyrillic) was pushed out by the later ones: reading it again reloads it
    first = signs[0]
    assert "Cyrillic" not in readers.loaded()
    loads = readers.loads
    ocr.clear_cache()
    again = ocr.read_image(render(first, (896, 560)))
    assert readers.loads > loads and "Cyrillic" in readers.loaded() and len(readers.loaded()) <= 2
    read = [ln.text for ln in again.lines]
    assert max(best_match(e, read)[1] for e in first.lines) <= 0.1, read
    assert [ln.text for ln in again.lines] == [ln.text for ln in results[first.name].lines]
    # every script Tesseract read on its way was one of the installed ones, each line in the sign's script
    for s in signs:
        scripts = {ln.script for ln in results[s.name].lines if ln.reader == "tesseract"}
        assert scripts, (s.name, [ln.text for ln in results[s.name].lines])
