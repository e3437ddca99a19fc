"""Map data, analyst evidence, query-parameter round trips and upload handling (no Streamlit)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from geolocate import evidence, presets, share, uploads
from geolocate.distribution import CellDistribution
from geolocate.ensemble import Ensemble
from geolocate.evidence import AnalystEvidence
from geolocate.experts import PointExpert
from geolocate.share import ViewParams


@pytest.fixture(scope="module")
def paris_dist() -> CellDistribution:
    ens = Ensemble([PointExpert(48.85, 2.35, scale_km=50.0, name="p")])
    return ens.distribution(refine_to=5)


@pytest.mark.parametrize(
    "text, expected",
    [("48.85, 2.35", (48.85, 2.35)), ("48.85 2.35", (48.85, 2.35)), ("33.9S 151.2E", (-33.9, 151.2)), ("-17.5;179.9", (-17.5, 179.9))],
)
def test_parse_latlon(text, expected):
    assert evidence.parse_latlon(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "enter latitude and longitude as two numbers, e.g. '48.85, 2.35' (got '')"),
        ("48.85", "enter latitude and longitude as two numbers"),
        ("north, south", "'north' is not a number of degrees"),
        ("95, 10", "(95.0, 10.0) is out of range: latitude must be in [-90, 90]"),
        ("10, 200", "(10.0, 200.0) is out of range"),
        ("10E, 20N", "'10E': expected N/S for this coordinate"),
    ],
)
def test_parse_latlon_rejects_with_message(text, message):
    with pytest.raises(ValueError) as err:
        evidence.parse_latlon(text)
    assert message in str(err.value)


def test_analyst_experts_move_the_ensemble_with_no_image_model():
    ev = AnalystEvidence(point=(-33.87, 151.21), radius_km=200.0, include=("AUS",), attributes=("urban",))
    experts, msgs = evidence.analyst_experts(ev)
    assert msgs == []
    assert [e.name for e in experts] == ["analyst guess", "analyst region", "analyst: urban"]
    assert experts[0].scales_km[0] == pytest.approx(100.0)  # sigma = radius / 2
    dist = Ensemble(experts).distribution(refine_to=5)
    lat, lon = dist.mode()
    assert abs(lat - -33.87) < 2 and abs(lon - 151.21) < 2
    assert dist.within_budget(1e5).total_prob > 0.5


def test_attribute_terms_map_to_real_classes():
    from geolocate.layers import IGBP_CLASSES, SCENE_CLASSES

    for term, (layer, classes) in evidence.ATTRIBUTE_TERMS.items():
        known = IGBP_CLASSES if layer == "landcover" else SCENE_CLASSES
        assert set(classes) <= set(known), term


def test_snow_puts_mass_on_ice():
    from geolocate.layers import IGBP_CLASSES, landcover_layer

    experts, _ = evidence.analyst_experts(AnalystEvidence(attributes=("snow",)))
    dist = Ensemble(experts).distribution()
    snow = landcover_layer().values_at(dist.cells)[:, IGBP_CLASSES.index("permanent snow and ice")]
    icy = snow > 0.5
    # Mostly-ice cells cover ~3 % of the Earth; the snow statement must put far more mass there than
    # their area share (a flat expert would give exactly the area share), and its mode must be icy.
    area_share = dist.cells.area_km2[icy].sum() / dist.cells.area_km2.sum()
    assert dist.prob[icy].sum() > 5 * area_share
    assert icy[dist.order()[0]]


def test_missing_layer_is_a_message_not_a_crash():
    from geolocate.layers import landcover_layer

    experts, msgs = evidence.analyst_experts(AnalystEvidence(attributes=("indoor scene", "forest")), layers={"landcover": landcover_layer()})
    assert [e.name for e in experts] == ["analyst: forest"]
    assert len(msgs) == 1 and "scene" in msgs[0].text and msgs[0].level == "warning"


def test_hard_region_is_a_mask():
    experts, _ = evidence.analyst_experts(AnalystEvidence(include=("ISL",), hard=True))
    ens = Ensemble(experts + [PointExpert(48.85, 2.35, 50.0, name="paris")])
    assert ens.names == ["paris"]
    dist = ens.distribution()
    lat, lon = dist.mode()
    assert 63 < lat < 67 and -25 < lon < -13  # Iceland wins over Paris


def test_query_round_trip():
    params = ViewParams(
        weights={"uniform land": 0.5, "analyst: urban": 1.25, "odd;name:x": 2.0},
        budget_km2=3200.0,
        refine=5,
        show="analyst guess",
        evidence=AnalystEvidence(point=(48.85, 2.35), radius_km=50.0, include=("FRA", "BEL"), exclude=("DEU",), hard=True, attributes=("urban", "forest")),
    )
    q = share.encode_query(params)
    assert all(isinstance(v, str) for v in q.values())
    back, msgs = share.decode_query(q, country_codes=["FRA", "BEL", "DEU"])
    assert msgs == []
    assert back == params


def test_query_defaults_are_omitted_and_garbage_is_reported():
    assert share.encode_query(ViewParams()) == {}
    back, msgs = share.decode_query({"w": "a:9;b:x;c:0.5", "budget": "-3", "res": "12", "guess": "999,0", "in": "FRA,XXX", "attr": "lava"}, country_codes=["FRA"])
    assert back.weights == {"a": presets.WEIGHT_MAX, "c": 0.5}  # 9 is clamped to the maximum, "x" dropped
    assert back.budget_km2 == share.BUDGET_MIN_KM2 and back.refine == share.DEFAULT_REFINE  # -3 km² clamped up
    assert back.evidence.point is None and back.evidence.include == ("FRA",) and back.evidence.attributes == ()
    assert len(msgs) == 1 and msgs[0].level == "warning"  # one summary, not one toast per item
    assert msgs[0].text.startswith("The link had 7 problem(s)")
    for word in ("'a' 9", "'b:x'", "budget -3", "res '12'", "guess", "'XXX'", "'lava'"):
        assert word in msgs[0].detail, word


def test_radius_from_a_link_is_clamped_with_a_message():
    back, msgs = share.decode_query({"guess": "48.85,2.35", "radius": "99999"})
    assert back.evidence.radius_km == evidence.RADIUS_MAX_KM == 5000.0
    assert "radius 99999 km is outside 1..5000 km; using 5000 km" in msgs[0].detail
    back, msgs = share.decode_query({"guess": "48.85,2.35", "radius": "nan"})
    assert back.evidence.radius_km == 100.0 and "'nan'" in msgs[0].detail


def test_many_bad_link_items_make_one_short_message():
    q = {"w": ";".join(f"x{i}:bad" for i in range(1500)), "in": ",".join(f"Q{i}" for i in range(1500))}
    back, msgs = share.decode_query(q, country_codes=["FRA"])
    assert back.weights == {} and back.evidence.include == ()
    assert len(msgs) == 1 and len(msgs[0].detail) < 1000
    assert "only the first 200 of 1500" in msgs[0].detail


def test_link_text_is_carried_as_plain_detail_not_markdown():
    back, msgs = share.decode_query({"attr": "![x](http://host/pixel.png)"})
    assert "http://host" not in msgs[0].text  # the app's own words carry no user text ...
    assert "'![x](http://host/pi…'" in msgs[0].detail  # ... which is quoted (and clipped) for st.text


def test_log_budget_options():
    opts = share.log_budget_options()
    assert opts[0] == 1.0 and opts[-1] == 1e7 and 1e4 in opts and share.DEFAULT_BUDGET_KM2 in opts
    assert all(b > a for a, b in zip(opts, opts[1:]))


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 120, 200)).save(buf, "JPEG")
    return buf.getvalue()


def _loader(data: bytes, name: str = "photo"):
    try:
        im = Image.open(io.BytesIO(data))
        im.load()
    except Exception as err:
        raise ValueError("not an image") from err
    return im


def test_load_uploads_reports_bad_files_and_keeps_good_ones():
    items = [("good.jpg", _jpeg()), ("bad.jpg", b"not a jpeg at all"), ("huge.jpg", b"x" * 2000), ("empty.png", b"")]
    photos, msgs = uploads.load_uploads(items, _loader, max_bytes=1500)
    assert len(_jpeg()) < 1500
    assert len(photos) == 1 and photos[0].size == (32, 24)
    assert [m.split(":")[0] for m in msgs] == ["bad.jpg", "huge.jpg", "empty.png"]
    assert "over the" in msgs[1]


def test_load_uploads_never_raises_on_loader_bugs():
    def broken(data, name="x"):
        raise KeyError("decoder bug")

    photos, msgs = uploads.load_uploads([("a.jpg", b"123")], broken)
    assert photos == [] and "could not be read" in msgs[0]


def test_load_uploads_with_the_real_photo_loader():
    photo_mod = pytest.importorskip("geolocate.image.photo")
    photos, msgs = uploads.load_uploads([("ok.jpg", _jpeg()), ("junk.txt", b"hello")], photo_mod.load_photo)
    assert len(photos) == 1 and photos[0].width == 32
    assert msgs == ["junk.txt: not an image file this tool can read (supported: JPEG, PNG, WebP, TIFF, BMP, GIF, HEIC/HEIF/AVIF)"]


