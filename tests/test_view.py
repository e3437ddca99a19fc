"""Map data, analyst evidence, query-parameter round trips and upload handling (no Streamlit)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from geolocate import view
from geolocate.distribution import CellDistribution
from geolocate.ensemble import Ensemble
from geolocate.experts import PointExpert
from geolocate.view import AnalystEvidence, ViewParams


@pytest.fixture(scope="module")
def paris_dist() -> CellDistribution:
    ens = Ensemble([PointExpert(48.85, 2.35, scale_km=50.0, name="p")])
    return ens.distribution(refine_to=5)


def test_map_records_cover_the_mass_and_flag_the_budget(paris_dist):
    data = view.map_records(paris_dist, budget_km2=1e4, max_cells=5000, mass=0.99)
    recs = data.records
    assert 0 < len(recs) <= 5000
    assert data.shown_prob >= 0.99
    assert [r["rank"] for r in recs] == list(range(1, len(recs) + 1))
    dens = [r["density"] for r in recs]
    assert dens == sorted(dens, reverse=True)
    # The budget prefix is the distribution's own within_budget selection.
    budget = paris_dist.within_budget(1e4)
    assert len(data.budget) == len(budget) > 0
    assert [r["h3"] for r in data.budget_records] == [format(int(c), "x") for c in budget.cells]
    assert sum(r["area_km2"] for r in data.budget_records) <= 1e4 * 1.01
    # The densest cell contains Paris.
    paris_rank = int(np.flatnonzero(paris_dist.order() == paris_dist.locate(48.85, 2.35))[0]) + 1
    assert paris_rank <= 7  # the kernel peak (ties among the finest cells around it)
    assert recs[0]["colour"][3] > recs[-1]["colour"][3]


def test_map_records_are_capped(paris_dist):
    data = view.map_records(paris_dist, budget_km2=1e7, max_cells=100)
    assert len(data.records) == 100
    assert len(data.budget) > 100  # the budget table is complete even if the map is capped


def test_deck_json_is_compact_and_carries_layers(paris_dist):
    data = view.map_records(paris_dist, budget_km2=1e4)
    deck = view.build_deck(data, view.view_state(paris_dist, 1e4), truth=(48.85, 2.35))
    spec = json.loads(deck.to_json())
    ids = [layer["id"] for layer in spec["layers"]]
    assert ids == ["density", "budget", "truth"]
    assert len(spec["layers"][0]["data"]) == len(data.records)
    # The budget overlay is the union of the budget's cells: every budget cell centre lies inside it.
    import shapely

    union = shapely.union_all([shapely.Polygon(d["polygon"]) for d in spec["layers"][1]["data"]])
    centres = shapely.points(data.budget.lon, data.budget.lat)
    assert shapely.contains(union, centres).all()
    # ... and covers about the budget's area (degrees² to km² near Paris: 111.2² cos(lat)).
    km2 = union.area * 111.195**2 * np.cos(np.radians(union.centroid.y))
    assert km2 == pytest.approx(data.budget.total_area_km2, rel=0.05)
    assert "\n" not in deck.to_json()
    vs = spec["initialViewState"]
    assert vs["latitude"] == pytest.approx(48.85, abs=1.0) and vs["longitude"] == pytest.approx(2.35, abs=1.0)
    assert deck._tooltip["html"].count("{rank}") == 2


def test_priors_only_payload_stays_under_5_mb():
    from geolocate.experts import standard_priors

    ens = Ensemble(standard_priors())
    dist = ens.distribution({n: view.default_weight(n) for n in ens.names}, refine_to=view.DEFAULT_REFINE)
    data = view.map_records(dist, view.DEFAULT_BUDGET_KM2)
    payload = view.build_deck(data, view.WORLD_VIEW).to_json()
    assert len(data.records) == view.MAX_MAP_CELLS  # a diffuse prior hits the cap
    assert len(payload.encode()) < 5e6


def test_density_colours_are_monotone():
    c = view.density_colours(np.linspace(-20, -5, 50))
    assert c.dtype == np.uint8 and c.shape == (50, 4)
    assert np.all(np.diff(c[:, 3].astype(int)) >= 0)
    assert c[0, 3] < c[-1, 3]


def test_sig_rounding_is_short_and_exact():
    vals = view._sig(np.array([3.14159e-6, 0.000101, 32.41, 12345.6, 0.0]))
    assert vals == [3.14e-06, 0.000101, 32.4, 12300.0, 0.0]
    assert json.dumps(vals) == "[3.14e-06, 0.000101, 32.4, 12300.0, 0.0]"


@pytest.mark.parametrize(
    "text, expected",
    [("48.85, 2.35", (48.85, 2.35)), ("48.85 2.35", (48.85, 2.35)), ("33.9S 151.2E", (-33.9, 151.2)), ("-17.5;179.9", (-17.5, 179.9))],
)
def test_parse_latlon(text, expected):
    assert view.parse_latlon(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "48.85", "north, south", "95, 10", "10, 200", "10E, 20N"])
def test_parse_latlon_rejects_with_message(text):
    with pytest.raises(ValueError):
        view.parse_latlon(text)


def test_analyst_experts_move_the_ensemble_with_no_image_model():
    ev = AnalystEvidence(point=(-33.87, 151.21), radius_km=200.0, include=("AUS",), attributes=("urban",))
    experts, msgs = view.analyst_experts(ev)
    assert msgs == []
    assert [e.name for e in experts] == ["analyst guess", "analyst region", "analyst: urban"]
    assert experts[0].scales_km[0] == pytest.approx(100.0)  # sigma = radius / 2
    dist = Ensemble(experts).distribution(refine_to=5)
    lat, lon = dist.mode()
    assert abs(lat - -33.87) < 2 and abs(lon - 151.21) < 2
    assert dist.within_budget(1e5).total_prob > 0.5


def test_attribute_terms_map_to_real_classes():
    from geolocate.layers import IGBP_CLASSES, SCENE_CLASSES

    for term, (layer, classes) in view.ATTRIBUTE_TERMS.items():
        known = IGBP_CLASSES if layer == "landcover" else SCENE_CLASSES
        assert set(classes) <= set(known), term


def test_snow_puts_mass_on_ice():
    experts, _ = view.analyst_experts(AnalystEvidence(attributes=("snow",)))
    dist = Ensemble(experts).distribution()
    lat, _ = dist.mode()
    assert abs(lat) > 55  # Greenland, Antarctica or high mountains at that latitude band


def test_missing_layer_is_a_message_not_a_crash():
    from geolocate.layers import landcover_layer

    experts, msgs = view.analyst_experts(AnalystEvidence(attributes=("indoor scene", "forest")), layers={"landcover": landcover_layer()})
    assert [e.name for e in experts] == ["analyst: forest"]
    assert len(msgs) == 1 and "scene" in msgs[0]


def test_hard_region_is_a_mask():
    experts, _ = view.analyst_experts(AnalystEvidence(include=("ISL",), hard=True))
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
    q = view.encode_query(params)
    assert all(isinstance(v, str) for v in q.values())
    back, msgs = view.decode_query(q, country_codes=["FRA", "BEL", "DEU"])
    assert msgs == []
    assert back == params


def test_query_defaults_are_omitted_and_garbage_is_reported():
    assert view.encode_query(ViewParams()) == {}
    back, msgs = view.decode_query({"w": "a:9;b:x;c:0.5", "budget": "-3", "res": "12", "guess": "999,0", "in": "FRA,XXX", "attr": "lava"}, country_codes=["FRA"])
    assert back.weights == {"c": 0.5}
    assert back.budget_km2 == view.DEFAULT_BUDGET_KM2 and back.refine == view.DEFAULT_REFINE
    assert back.evidence.point is None and back.evidence.include == ("FRA",) and back.evidence.attributes == ()
    assert len(msgs) == 7


def test_log_budget_options():
    opts = view.log_budget_options()
    assert opts[0] == 1.0 and opts[-1] == 1e7 and 1e4 in opts and view.DEFAULT_BUDGET_KM2 in opts
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
    photos, msgs = view.load_uploads(items, _loader, max_bytes=1500)
    assert len(_jpeg()) < 1500
    assert len(photos) == 1 and photos[0].size == (32, 24)
    assert [m.split(":")[0] for m in msgs] == ["bad.jpg", "huge.jpg", "empty.png"]
    assert "over the" in msgs[1]


def test_load_uploads_never_raises_on_loader_bugs():
    def broken(data, name="x"):
        raise KeyError("decoder bug")

    photos, msgs = view.load_uploads([("a.jpg", b"123")], broken)
    assert photos == [] and "could not be read" in msgs[0]


def test_load_uploads_with_the_real_photo_loader():
    photo_mod = pytest.importorskip("geolocate.image.photo")
    photos, msgs = view.load_uploads([("ok.jpg", _jpeg()), ("junk.txt", b"hello")], photo_mod.load_photo)
    assert len(photos) == 1 and photos[0].width == 32
    assert msgs == ["junk.txt: not an image file this tool can read (supported: JPEG, PNG, WebP, TIFF, BMP, GIF, HEIC/HEIF/AVIF)"]


def test_budget_outline_does_not_wrap_round_the_globe_at_the_antimeridian():
    import h3

    from geolocate.grid import CellSet

    disk = h3.grid_disk(h3.latlng_to_cell(-17.0, 179.95, 4), 2)  # Fiji, straddling 180°
    cs = CellSet.from_cells(np.array([h3.str_to_int(c) for c in disk], dtype=np.uint64))
    paths = view.budget_outline(CellDistribution(cs, np.zeros(len(cs))).ranked())
    for p in paths:
        lon = np.array(p)[:, 0]
        assert np.ptp(lon) < 10.0  # a few cells wide, not 360° round


def test_budget_outline_is_the_union_edge():
    import h3

    from geolocate.grid import CellSet

    disk = h3.grid_disk(h3.latlng_to_cell(10.0, 20.0, 5), 1)  # 7 cells
    cs = CellSet.from_cells(np.array([h3.str_to_int(c) for c in disk], dtype=np.uint64))
    regions = CellDistribution(cs, np.zeros(7)).ranked()
    paths = view.budget_outline(regions)
    assert len(paths) == 1  # one outer ring, no inner seams
    assert 18 <= len(paths[0]) <= 19  # a 7-hexagon flower has 18 boundary vertices (+ closing point)
