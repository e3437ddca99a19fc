"""AppTest runs of the Locate page's sun, shadow and clock evidence: entry, EXIF clock, shareable link."""

from __future__ import annotations

import io

import numpy as np
from apphelpers import PAGES, shown_text
from PIL import Image
from streamlit.testing.v1 import AppTest

from geolocate.experts.point import haversine_km
from geolocate.experts.solar import subsolar_point
from geolocate.experts.sun import parse_iso_time
from geolocate.grid import EARTH_RADIUS_KM

PAGE = str(PAGES / "locate.py")


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _mode(at: AppTest) -> tuple[float, float]:
    value = {m.label: m.value for m in at.metric}["Most likely region"]
    lat, lon = (float(v) for v in value.split(","))
    return lat, lon


def _texts(at: AppTest) -> str:
    return "\n".join([shown_text(e.value) for e in (*at.info, *at.warning, *at.error)] + [t.value for t in at.text])


def _ring_arc(lat: float, lon: float, when: str) -> float:
    slat, slon = subsolar_point(parse_iso_time(when).timestamp())
    return float(haversine_km(lat, lon, slat, slon) / EARTH_RADIUS_KM * 180 / np.pi)


def test_shadow_and_time_add_a_sun_expert_and_move_the_regions():
    at = _run(AppTest.from_file(PAGE, default_timeout=120))
    before = {m.label: m.value for m in at.metric}["Most likely region"]
    assert before.startswith("n/a")  # priors only: no answer yet
    at.sidebar.text_input(key="sun_shadow").input("1:1")
    at.sidebar.text_input(key="sun_time").input("2024-03-20T12:00Z")
    at.sidebar.number_input(key="sun_time_unc").set_value(5.0)
    _run(at)
    assert "sun · analyst" in [s.label for s in at.main.slider]
    after = _mode(at)
    # The most likely region lies on the 45-degree ring around the subsolar point (priors pick where on it).
    assert abs(_ring_arc(*after, "2024-03-20T12:00Z") - 45.0) < 2.0
    # Bad input: a message, not a traceback, and the sun expert is gone.
    at.sidebar.text_input(key="sun_shadow").input("1:x")
    _run(at)
    assert "not a number" in _texts(at) and "sun · analyst" not in [s.label for s in at.main.slider]


def _exif_jpeg(when: str, offset: str | None) -> bytes:
    im = Image.new("RGB", (64, 48), (90, 120, 150))
    exif = Image.Exif()
    ifd = exif.get_ifd(0x8769)
    ifd[0x9003] = when
    if offset:
        ifd[0x9011] = offset
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def test_photo_exif_time_and_offset_give_clock_evidence_and_the_shadow_its_time():
    at = _run(AppTest.from_file(PAGE, default_timeout=180))
    at.file_uploader(key="photos").set_value(("ist.jpg", _exif_jpeg("2024:07:01 09:00:00", "+05:30"), "image/jpeg"))
    _run(at)
    assert "clock · analyst" in [s.label for s in at.main.slider]
    assert "UTC+05:30" in _texts(at)
    lat, lon = _mode(at)
    assert 5 < lat < 36 and 68 < lon < 98  # India / Sri Lanka
    # A shadow without a typed time takes the EXIF time (03:30 UTC): the sun expert joins.
    at.sidebar.text_input(key="sun_shadow").input("1:1")
    _run(at)
    assert "sun · analyst" in [s.label for s in at.main.slider]
    assert "EXIF time (2024-07-01 03:30 UTC" in _texts(at)
    # Switching the EXIF clock off removes both (the shadow has no time then, which is said).
    at.sidebar.checkbox(key="sun_exif").uncheck()
    _run(at)
    labels = [s.label for s in at.main.slider]
    assert "clock · analyst" not in labels and "sun · analyst" not in labels and "needs a time" in _texts(at)


def test_photo_exif_time_without_offset_says_why_there_is_no_clock():
    at = _run(AppTest.from_file(PAGE, default_timeout=180))
    at.file_uploader(key="photos").set_value(("local.jpg", _exif_jpeg("2024:07:01 09:00:00", None), "image/jpeg"))
    _run(at)
    assert "clock · analyst" not in [s.label for s in at.main.slider]
    assert "OffsetTimeOriginal" in _texts(at)


def test_shareable_link_restores_the_sun_and_clock_evidence():
    at = AppTest.from_file(PAGE, default_timeout=120)
    for k, v in {"shadow": "1:1", "time": "2024-03-20T12:00Z", "time_unc": "5", "utc_offset": "+01:00", "local_time": "2024-03-20T13:00"}.items():
        at.query_params[k] = v
    _run(at)
    assert at.sidebar.text_input(key="sun_shadow").value == "1:1"
    assert at.sidebar.text_input(key="clock_offset").value == "+01:00"
    labels = [s.label for s in at.main.slider]
    assert "sun · analyst" in labels and "clock · analyst" in labels
    lat, lon = _mode(at)
    assert abs(_ring_arc(lat, lon, "2024-03-20T12:00Z") - 45.0) < 2.0 and -25 < lon < 30  # the ring within UTC+01:00
    q = {k: (v[-1] if isinstance(v, list) else v) for k, v in at.query_params.items()}
    assert q.get("shadow") == "1:1" and q.get("utc_offset") == "+01:00" and q.get("time") == "2024-03-20T12:00Z"


def test_an_exif_time_out_of_range_is_a_note_and_the_page_carries_on():
    at = _run(AppTest.from_file(PAGE, default_timeout=180))
    at.file_uploader(key="photos").set_value(("old.jpg", _exif_jpeg("0001:01:01 00:00:00", "+14:00"), "image/jpeg"))
    _run(at)  # no OverflowError
    assert "the year must be 1900-2100" in _texts(at)
    assert "clock · analyst" not in [s.label for s in at.main.slider] and at.metric
