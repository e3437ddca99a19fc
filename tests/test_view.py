"""Map data, analyst evidence, query-parameter round trips and upload handling (no Streamlit)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from geolocate import evidence, presets, share, uploads
from geolocate.distribution import CellDistribution
from geolocate.ensemble import Ensemble
from geolocate.evidence import AnalystEvidence
from geolocate.experts import PointExpert
from geolocate.experts import base as experts_base
from geolocate.maps import camera, deck, fmt
from geolocate.maps import data as mapdata
from geolocate.share import ViewParams


@pytest.fixture(scope="module")
def paris_dist() -> CellDistribution:
    ens = Ensemble([PointExpert(48.85, 2.35, scale_km=50.0, name="p")])
    return ens.distribution(refine_to=5)


def test_map_records_cover_the_mass_and_flag_the_budget(paris_dist):
    data = mapdata.map_records(paris_dist, budget_km2=1e4, max_cells=5000, mass=0.99)
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
    data = mapdata.map_records(paris_dist, budget_km2=1e7, max_cells=100)
    assert len(data.records) == 100
    assert len(data.budget) > 100  # the budget table is complete even if the map is capped


def test_deck_json_is_compact_and_carries_layers(paris_dist):
    data = mapdata.map_records(paris_dist, budget_km2=1e4)
    d = deck.build_deck(data, camera.view_state(paris_dist, 1e4), truth=(48.85, 2.35))
    spec = json.loads(d.to_json())
    ids = [layer["id"] for layer in spec["layers"]]
    assert ids == ["context", "density", "borders", "budget_halo", "budget", "city_dots", "city_labels", "truth"]
    assert len(spec["layers"][1]["data"]) == len(data.records)
    # The budget outline is the union edge of the budget's cells: every budget cell centre lies inside it.
    import shapely

    union = shapely.union_all([shapely.Polygon(d["path"]) for d in spec["layers"][4]["data"]])
    centres = shapely.points(data.budget.lon, data.budget.lat)
    assert shapely.contains(union, centres).all()
    # ... and encloses about the budget's area (degrees² to km² near Paris: 111.2² cos(lat)).
    km2 = union.area * 111.195**2 * np.cos(np.radians(union.centroid.y))
    assert km2 == pytest.approx(data.budget.total_area_km2, rel=0.05)
    assert "\n" not in d.to_json()
    vs = spec["initialViewState"]
    assert vs["latitude"] == pytest.approx(48.85, abs=1.0) and vs["longitude"] == pytest.approx(2.35, abs=1.0)
    assert d._tooltip["html"].count("{rank}") == 2


def test_marker_units_reach_the_browser_as_pixels(paris_dist):
    """pydeck turns a bare "pixels" into the accessor "@@=pixels", which deck.gl ignores (metres)."""
    data = mapdata.map_records(paris_dist, budget_km2=1e4)
    spec = json.loads(deck.build_deck(data, camera.WORLD_VIEW, truth=(48.85, 2.35)).to_json())
    truth = next(layer for layer in spec["layers"] if layer["id"] == "truth")
    assert truth["radiusUnits"] == "pixels" and truth["lineWidthUnits"] == "pixels"
    assert truth["getRadius"] == 7
    for layer in spec["layers"]:
        for key in ("radiusUnits", "widthUnits", "lineWidthUnits", "sizeUnits"):
            assert layer.get(key, "pixels") == "pixels", (layer["id"], key, layer.get(key))


def test_no_tile_style_unless_asked(paris_dist):
    """Privacy: without a style the deck asks Streamlit for no basemap (its default would fetch CARTO tiles)."""
    from geolocate.maps.basemap import NO_TILES, TILE_STYLE

    data = mapdata.map_records(paris_dist, budget_km2=1e4)
    spec = json.loads(deck.build_deck(data, camera.WORLD_VIEW).to_json())
    assert spec["mapStyle"] == NO_TILES == "__MAP_STYLE__"
    assert "http" not in json.dumps({k: v for k, v in spec.items() if k != "layers"})
    online = json.loads(deck.build_deck(data, camera.WORLD_VIEW, map_style=TILE_STYLE).to_json())
    assert online["mapStyle"] == TILE_STYLE and "token" not in TILE_STYLE


def test_context_layer_covers_the_whole_distribution_at_a_visible_resolution():
    from geolocate.experts import standard_priors
    from geolocate.grid import cell_resolutions

    ens = Ensemble(standard_priors())
    dist = ens.distribution({n: presets.default_weight(n) for n in ens.names}, refine_to=share.DEFAULT_REFINE)
    data = mapdata.map_records(dist, share.DEFAULT_BUDGET_KM2, zoom=camera.WORLD_VIEW["zoom"])
    # At world zoom (0.8) res-1 cells (~840 km) are ~9 px wide; res-3 cells would be ~1 px specks.
    assert data.context_res == 1
    cells = np.array([int(r["h3"], 16) for r in data.context], dtype=np.uint64)
    assert set(cell_resolutions(cells).tolist()) == {1}
    assert len(cells) == 842  # every res-1 cell holds some probability: the whole globe is drawn
    # Probability is conserved by the aggregation.
    from geolocate.maps.data import aggregate

    _, p, a = aggregate(dist, 1)
    assert p.sum() == pytest.approx(1.0) and a.sum() == pytest.approx(dist.cells.area_km2.sum())


def test_near_zero_is_grey_and_ruled_out_is_not_drawn():
    experts, _ = evidence.analyst_experts(AnalystEvidence(include=("ISL",), hard=True))
    ens = Ensemble(experts + [PointExpert(64.9, -18.6, 30.0, name="p")])
    dist = ens.distribution(refine_to=4)
    data = mapdata.map_records(dist, 1e4, zoom=4.0)
    from geolocate.grid import cells_to_parents

    ruled_out = dist.prob < dist.prob.max() * 1e-11  # the rest of the world (1e-12 leak) ...
    assert 0 < ruled_out.sum() < len(dist)
    drawn = {int(r["h3"], 16) for r in data.records} | {int(r["h3"], 16) for r in data.context}
    out_cells = dist.cells.cells[ruled_out]
    assert not drawn & set(out_cells.tolist())  # ... is not drawn at full resolution
    assert not drawn & set(cells_to_parents(out_cells, data.context_res).tolist()) - set(cells_to_parents(dist.cells.cells[~ruled_out], data.context_res).tolist())
    from geolocate.maps.data import NEAR_ZERO_RGBA

    colours = [r["colour"] for r in mapdata.map_records(dist, 1e4, mass=1.0, max_cells=10**6, zoom=4.0).records]
    assert NEAR_ZERO_RGBA in colours  # the kernel's far tail inside Iceland is near zero: grey, not dark purple
    assert colours[0] != NEAR_ZERO_RGBA


def test_colour_scale_ticks_are_powers_of_ten_with_real_positions():
    from geolocate.maps.data import ColourScale

    s = ColourScale(lo=-9.2, hi=-4.2)
    assert s.ticks() == [pytest.approx((0.04, -9.0)), pytest.approx((0.24, -8.0)), pytest.approx((0.44, -7.0)), pytest.approx((0.64, -6.0)), pytest.approx((0.84, -5.0))]
    c = s.colours(np.log(10.0) * np.array([-10.0, -9.2, -4.2]))
    from geolocate.maps.data import NEAR_ZERO_RGBA

    assert c[0].tolist() == NEAR_ZERO_RGBA
    assert c[1, :3].tolist() == [40, 11, 84] and c[2, :3].tolist() == [255, 225, 60]
    html = mapdata.legend_html(s, 1e4)
    assert "10<sup>-9</sup>" in html and "10<sup>-5</sup>" in html and "per km²" in html and "10,000 km²" in html


def test_view_state_frames_the_budget_cells(paris_dist):
    v = camera.view_state(paris_dist, 1e4)
    from geolocate.maps.camera import view_bounds

    w, s, e, n = view_bounds(v)
    regions = paris_dist.within_budget(1e4)
    assert (regions.lon > w).all() and (regions.lon < e).all() and (regions.lat > s).all() and (regions.lat < n).all()
    # ... and not much more: the budget (~10,000 km², ~100 km across) spans a good part of the view.
    assert e - w < 15


def test_view_state_across_the_antimeridian():
    ens = Ensemble([PointExpert(-17.0, 179.9, scale_km=60.0, name="fiji")])
    v = camera.view_state(ens.distribution(refine_to=5), 3e4)
    assert abs(abs(v["longitude"]) - 180) < 3 and v["zoom"] > 4


def test_format_prob_never_says_zero_for_a_positive_value():
    assert [fmt.format_prob(p) for p in (0.5, 0.0234, 3.1e-4, 2e-9, 0.0)] == ["50%", "2.3%", "0.031%", "< 0.0001%", "0%"]


def test_expert_label_does_not_repeat_the_kind():
    from geolocate.experts import PointExpert as P

    e = AnalystEvidence(attributes=("forest",))
    experts, _ = evidence.analyst_experts(e)
    assert experts_base.expert_label(experts[0]) == "analyst: forest"
    assert experts_base.expert_label(P(1.0, 2.0, 10.0, name="GeoCLIP", kind="image")) == "GeoCLIP · image"


def test_density_colours_are_monotone():
    c = mapdata.density_colours(np.linspace(-20, -5, 50))
    assert c.dtype == np.uint8 and c.shape == (50, 4)
    assert np.all(np.diff(c[:, 3].astype(int)) >= 0)
    assert c[0, 3] < c[-1, 3]


def test_sig_rounding_is_short_and_exact():
    vals = fmt.sig(np.array([3.14159e-6, 0.000101, 32.41, 12345.6, 0.0]))
    assert vals == [3.14e-06, 0.000101, 32.4, 12300.0, 0.0]
    assert json.dumps(vals) == "[3.14e-06, 0.000101, 32.4, 12300.0, 0.0]"


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


def test_budget_outline_does_not_wrap_round_the_globe_at_the_antimeridian():
    import h3

    from geolocate.grid import CellSet

    disk = h3.grid_disk(h3.latlng_to_cell(-17.0, 179.95, 4), 2)  # Fiji, straddling 180°
    cs = CellSet.from_cells(np.array([h3.str_to_int(c) for c in disk], dtype=np.uint64))
    paths = mapdata.budget_outline(CellDistribution(cs, np.zeros(len(cs))).ranked())
    for p in paths:
        lon = np.array(p)[:, 0]
        assert np.ptp(lon) < 10.0  # a few cells wide, not 360° round


def test_budget_outline_is_the_union_edge():
    import h3

    from geolocate.grid import CellSet

    disk = h3.grid_disk(h3.latlng_to_cell(10.0, 20.0, 5), 1)  # 7 cells
    cs = CellSet.from_cells(np.array([h3.str_to_int(c) for c in disk], dtype=np.uint64))
    regions = CellDistribution(cs, np.zeros(7)).ranked()
    paths = mapdata.budget_outline(regions)
    assert len(paths) == 1  # one outer ring, no inner seams
    assert 18 <= len(paths[0]) <= 19  # a 7-hexagon flower has 18 boundary vertices (+ closing point)
