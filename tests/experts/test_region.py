"""Country probabilities as a density: each country's mass is its probability, the rest goes to the unnamed world."""

from __future__ import annotations

import numpy as np
import pytest

from geolocate.experts.region import CountryProbabilityExpert, country_areas_km2
from geolocate.grid import EARTH_AREA_KM2, global_grid
from geolocate.layers import country_layer


def test_country_areas_are_the_layers_own_and_sum_to_the_land():
    areas = country_areas_km2()
    assert areas["FRA"] == pytest.approx(636_000, rel=0.01)  # Natural Earth's France includes its overseas regions
    assert areas["DEU"] == pytest.approx(357_000, rel=0.01) and areas["USA"] == pytest.approx(9.45e6, rel=0.01)
    assert 1.45e8 < sum(areas.values()) < 1.50e8  # the land area of the Earth, km²


def test_each_country_holds_its_probability():
    e = CountryProbabilityExpert({"FRA": 0.6, "JPN": 0.3}, name="text: language", kind="text")
    grid = global_grid(4)
    mass = np.exp(e.log_density(grid)) * grid.area_km2
    assert mass.sum() == pytest.approx(1.0, rel=2e-3)  # a proper density over the globe
    col = {c: i for i, c in enumerate(country_layer().classes)}
    frac = country_layer().values_at(grid, classes=[col["FRA"], col["JPN"]]).astype(np.float64)
    # Inside a country the density is flat: its probability over its area (coastal cells mix with the rest).
    inside_fra, inside_jpn = frac[:, 0] > 0.999, frac[:, 1] > 0.999
    dens = np.exp(e.log_density(grid))
    assert dens[inside_fra] == pytest.approx(0.6 / country_areas_km2()["FRA"], rel=3e-3)
    assert dens[inside_jpn] == pytest.approx(0.3 / country_areas_km2()["JPN"], rel=3e-3)
    assert mass[frac[:, 0] > 0].sum() > 0.59 and mass[frac[:, 1] > 0].sum() > 0.29
    # The remaining 0.1 is spread evenly over the rest of the Earth: never zero anywhere.
    rest = 0.1 / (EARTH_AREA_KM2 - country_areas_km2()["FRA"] - country_areas_km2()["JPN"])
    sea = frac.sum(axis=1) == 0
    assert np.exp(e.log_density(grid.subset(np.flatnonzero(sea)[:100]))) == pytest.approx(rest, rel=1e-6)
    assert e.describe() == "text: language: FRA 60%, JPN 30%"


def test_probabilities_over_one_are_normalised_and_unknown_codes_refused():
    e = CountryProbabilityExpert({"FRA": 2.0, "ITA": 2.0})
    assert e.probs == {"FRA": 0.5, "ITA": 0.5}
    with pytest.raises(ValueError, match="unknown country codes"):
        CountryProbabilityExpert({"XXX": 0.5})
