"""Analyst evidence: parsing a guess, the experts it makes, its URL keys (the ``analyst`` evidence kind)."""

from __future__ import annotations

import numpy as np
import pytest

from geolocate import evidence
from geolocate.ensemble import Ensemble
from geolocate.evidence import AnalystEvidence
from geolocate.experts import PointExpert
from geolocate.experts import base as experts_base


def test_expert_label_does_not_repeat_the_kind():
    from geolocate.experts import PointExpert as P

    e = AnalystEvidence(attributes=("forest",))
    experts, _ = evidence.analyst_experts(e)
    assert experts_base.expert_label(experts[0]) == "analyst: forest"
    assert experts_base.expert_label(P(1.0, 2.0, 10.0, name="GeoCLIP", kind="image")) == "GeoCLIP · image"


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


@pytest.mark.parametrize("text", ["nan,nan", "NaN, 2", "3, -nan"])
def test_nan_coordinates_are_named_as_such(text):
    with pytest.raises(ValueError, match="'nan' is not a number of degrees"):
        evidence.parse_latlon(text)


def test_areas_parse_round_trip_through_the_link_and_report_bad_items():
    from geolocate.evidence.analyst import Area, parse_areas

    areas, problems = evidence.analyst.parse_areas("in 48.85, 2.35, 50\nOUT:40N 3E 20km\nfoo 1,2,3\nin 1,2\nin 95,2,3\nin 1,2,0")
    assert areas == (Area(True, 48.85, 2.35, 50.0), Area(False, 40.0, 3.0, 20.0))
    assert len(problems) == 4
    assert "'foo 1,2,3': start with 'in' or 'out'" in problems[0] and "give lat, lon and a radius" in problems[1]
    assert "'in 95,2,3': (95.0, 2.0) is out of range" in problems[2] and "radius must be 0.1 to 5000 km" in problems[3]
    ev = AnalystEvidence(point=(48.85, 2.35), areas=areas, hard=True)
    q = ev.to_query()
    assert q["area"] == "in:48.85,2.35,50;out:40,3,20"
    back, problems = AnalystEvidence.from_query(q)
    assert back == ev and problems == []
    assert parse_areas(areas[0].text())[0] == (areas[0],)
    assert ("not in the area", "40, 3 ± 20 km (certain)") in ev.summary()
    assert not AnalystEvidence(areas=areas[:1]).is_empty


def test_a_hard_include_circle_masks_every_cell_outside_it_and_an_exclude_circle_the_cells_inside():
    from geolocate.evidence.analyst import AREA_EXPERT, Area
    from geolocate.metrics import haversine_km

    ev = AnalystEvidence(areas=(Area(True, 64.9, -18.6, 250.0), Area(False, 64.1, -21.9, 60.0)), hard=True)
    experts, msgs = evidence.analyst_experts(ev)
    assert msgs == [] and [e.name for e in experts] == [AREA_EXPERT] and experts[0].hard
    dist = Ensemble(experts + [PointExpert(48.85, 2.35, 50.0, name="paris")]).distribution(refine_to=5)
    d_in = haversine_km(dist.cells.lat, dist.cells.lon, 64.9, -18.6)
    d_out = haversine_km(dist.cells.lat, dist.cells.lon, 64.1, -21.9)
    rim = np.sqrt(dist.cells.area_km2 / np.pi)  # cells overlapping a rim keep their overlap
    assert dist.prob[d_in > 250 + rim].sum() < 1e-4  # Paris is ruled out (the hard leak is 1e-12 per km² share)
    assert dist.prob[d_out < 60 - rim].sum() < 1e-6
    assert dist.prob[(d_in < 250 - rim) & (d_out > 60 + rim)].sum() > 0.9


def test_a_circle_smaller_than_a_base_cell_still_gives_that_cell_its_share():
    from geolocate.experts.region import circle_share
    from geolocate.grid import global_grid

    grid = global_grid(3)
    share = circle_share(grid, 48.85, 2.35, 5.0)  # 79 km² in cells of ~12,000 km²
    assert 0 < share.max() < 0.05 and (share > 0).sum() <= 3
    assert share.sum() == pytest.approx(np.pi * 25 / grid.area_km2[share.argmax()], rel=0.5)
    full = circle_share(grid, 48.85, 2.35, 2000.0)
    assert full.max() == 1.0 and ((full > 0) & (full < 1)).sum() < (full == 1).sum()


def test_map_shapes_are_closed_rings_at_the_radius():
    from geolocate.evidence.analyst import Area, map_shapes
    from geolocate.metrics import haversine_km

    ev = AnalystEvidence(point=(21.3, 179.9), radius_km=100.0, areas=(Area(True, 48.85, 2.35, 50.0), Area(False, 40.0, 3.0, 20.0)))
    shapes = map_shapes(ev)
    assert [s["kind"] for s in shapes] == ["guess", "include", "exclude"]
    for s, (lat, lon, r) in zip(shapes, [(21.3, 179.9, 100.0), (48.85, 2.35, 50.0), (40.0, 3.0, 20.0)]):
        ring = np.array(s["path"])
        assert (ring[0] == ring[-1]).all() and len(ring) > 30
        np.testing.assert_allclose(haversine_km(ring[:, 1], ring[:, 0], lat, lon), r, rtol=1e-3)
    assert np.ptp(np.array(shapes[0]["path"])[:, 0]) < 3  # continuous across the antimeridian, no jump of 360
    assert map_shapes(AnalystEvidence()) == []


def test_match_countries_by_name_part_group_or_continent():
    from geolocate.evidence.analyst import match_countries
    from geolocate.layers import country_table

    names = {c["iso3"]: c["name"] for c in country_table()}
    assert match_countries("United States", names) == (["UMI", "USA", "VIR"], "names containing 'United States'")
    eu, what = match_countries("eu", names)
    assert what == "group EU" and len(eu) == 27 and "FRA" in eu and "GBR" not in eu
    africa, what = match_countries("Africa", names)
    assert what == "continent Africa" and "NGA" in africa and "FRA" not in africa
    assert match_countries("Atlantis", names) == ([], "")


def test_a_cell_on_the_rim_of_a_circle_is_shared_by_its_overlap():
    from types import SimpleNamespace

    from geolocate.experts.region import circle_share
    from geolocate.grid import EARTH_RADIUS_KM

    # Cells of 100 km² whose centres lie 1,000 km north of the circle's centre, then 3 km in and out.
    dist_km = np.array([1000.0 - 3.0, 1000.0, 1000.0 + 3.0, 1000.0 + 6.0])
    cells = SimpleNamespace(lat=np.degrees(dist_km / EARTH_RADIUS_KM), lon=np.zeros(4), area_km2=np.full(4, 100.0))
    share = circle_share(cells, 0.0, 0.0, 1000.0)
    assert share[1] == pytest.approx(0.5, abs=0.01)  # a straight rim through the middle halves the disc
    assert 0.5 < share[0] < 1 and 0 < share[2] < 0.5 and share[3] == 0.0  # r = 5.64 km: 6 km out is clear
