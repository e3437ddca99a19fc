"""Analyst evidence: parsing a guess, the experts it makes, its URL keys (the ``analyst`` evidence kind)."""

from __future__ import annotations

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
