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


def _after(at: AppTest, key: str) -> list[str]:
    """The alerts right under the sidebar widget ``key`` (up to the next widget)."""
    from streamlit.testing.v1 import element_tree as et

    def leaves(node) -> list:
        out = []
        for i in sorted(getattr(node, "children", {}) or {}):
            child = node.children[i]
            out += leaves(child) if isinstance(child, et.Block) else [child]
        return out

    els = leaves(at.sidebar)
    i = next(j for j, e in enumerate(els) if getattr(e, "key", None) == key)
    out = []
    for e in els[i + 1 :]:
        if isinstance(e, et.Widget):
            break
        if isinstance(e, et.AlertBase):
            out.append(shown_text(e.value))
    return out


_FIELDS = ("sun_shadow", "sun_alt", "sun_time", "clock_offset", "clock_local")
# (typed fields, the field whose message it is, words of that one message)
_CASCADES = [
    ({"clock_offset": "+25:00", "clock_local": "2024-07-01T14:30"}, "clock_offset", "outside the offsets in use on Earth"),
    ({"clock_offset": "+25:00"}, "clock_offset", "outside the offsets in use on Earth"),
    ({"clock_offset": "+05:30"}, "clock_local", "needs the local date and time"),
    ({"clock_local": "2024-07-01T14:30"}, "clock_offset", "needs its UTC offset"),
    ({"clock_offset": "+01:00", "clock_local": "2024-07-01T14:30+01:00"}, "clock_local", "without an offset"),
    ({"clock_offset": "+01:00", "clock_local": "tomorrow"}, "clock_local", "'tomorrow' is not understood"),
    ({"sun_shadow": "1:1", "sun_time": "noon"}, "sun_time", "'noon' is not understood"),
    ({"sun_shadow": "1:1"}, "sun_time", "needs a time"),
    ({"sun_shadow": "1:x", "sun_time": "2024-03-20T12:00Z"}, "sun_shadow", "'x' is not a number"),
    ({"sun_alt": "95", "sun_time": "2024-03-20T12:00Z"}, "sun_alt", "95 is outside"),
    ({"sun_shadow": "1:1,1:2", "sun_time": "2024-03-20T12:00Z,2024-03-20T13:00Z,2024-03-20T14:00Z"}, "sun_time", "3 times for 2 observations"),
]


def test_each_input_error_is_one_message_under_its_field():
    at = _run(AppTest.from_file(PAGE, default_timeout=180))
    for typed, key, words in _CASCADES:
        for k in _FIELDS:
            at.sidebar.text_input(key=k).input(typed.get(k, ""))
        _run(at)
        alerts = [shown_text(e.value) for e in (*at.error, *at.warning)]
        assert len(alerts) == 1, (typed, alerts)
        assert words in alerts[0] and _after(at, key) == alerts, (typed, key, alerts)
        assert "sun · analyst" not in [s.label for s in at.main.slider] and "clock · analyst" not in [s.label for s in at.main.slider]


def test_a_photo_without_exif_time_has_no_exif_switch_and_no_note_about_it():
    at = _run(AppTest.from_file(PAGE, default_timeout=180))
    im = Image.new("RGB", (64, 48), (90, 120, 150))
    buf = io.BytesIO()
    im.save(buf, "JPEG")
    at.file_uploader(key="photos").set_value(("plain.jpg", buf.getvalue(), "image/jpeg"))
    at.sidebar.text_input(key="clock_offset").input("+25:00")
    at.sidebar.text_input(key="clock_local").input("2024-07-01T14:30")
    _run(at)
    assert not [c for c in at.sidebar.checkbox if c.key == "sun_exif"]
    assert _after(at, "clock_offset") == ["UTC offset '+25:00' is outside the offsets in use on Earth (-12:00 to +14:00)"]
    assert [a for a in (shown_text(e.value) for e in (*at.sidebar.error, *at.sidebar.warning))] == _after(at, "clock_offset")
    texts = _texts(at)
    assert "DateTimeOriginal" not in texts and "needs its UTC offset" not in texts
