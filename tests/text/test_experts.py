"""Text experts: proper densities, uniform when uninformative, never zero, no double counting (geolocate/text/experts.py)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("phonenumbers")

from geolocate.experts.base import ExpertKind  # noqa: E402
from geolocate.experts.region import CountryProbabilityExpert  # noqa: E402
from geolocate.grid import global_grid  # noqa: E402
from geolocate.text import clue_experts, country_posterior, extract_clues  # noqa: E402
from geolocate.text.experts import CountryLikelihoodExpert, UniformExpert, country_probs  # noqa: E402

FRENCH = ["BOULANGERIE DU PORT", "Tél. +33 4 91 54 12 30", "www.marseille-tourisme.fr", "Ouvert tous les jours sauf le dimanche", "Croissant 1,20 €"]


@pytest.fixture(scope="module")
def grid():
    return global_grid(3)


@pytest.fixture(scope="module")
def french():
    clues = extract_clues(FRENCH)
    return clues, clue_experts(clues)


def _mass(expert, grid) -> float:
    return float(np.exp(expert.log_density(grid)) @ grid.area_km2)


def test_one_expert_per_clue_type_each_proper(french, grid):
    clues, experts = french
    assert [e.name for e in experts] == ["text: phone", "text: web", "text: language", "text: script", "text: currency", "text: place"]
    for e in experts:
        assert e.kind == ExpertKind.TEXT
        v = e.log_density(grid)
        assert np.isfinite(v).all()
        # a proper density (point kernels on res-3 cells hold their mass within ~15 %)
        assert _mass(e, grid) == pytest.approx(1.0, rel=0.15), e.name
        assert v.min() > -40  # never a hard zero
        assert e.describe().startswith(e.name)


def test_likelihood_ratio_is_the_clue(grid):
    (clue,) = extract_clues(["www.example.fr"])[:1]
    (e,) = clue_experts([clue])
    v = e.log_density(grid)
    ratio = np.exp(v.max() - v.min())
    assert ratio == pytest.approx(1 / clue.floor, rel=0.02)  # inside France 1, elsewhere the floor


def test_uninformative_clue_is_uniform(grid):
    clues = extract_clues(["www.example.com"])
    (e,) = clue_experts(clues)
    assert isinstance(e, UniformExpert) and "says nothing" in e.describe()
    v = e.log_density(grid)
    assert np.ptp(v) == 0 and _mass(e, grid) == pytest.approx(1.0, rel=1e-6)


def test_same_evidence_counts_once(grid):
    one = clue_experts(extract_clues(["+33 4 91 54 12 30"]))
    twice = clue_experts(extract_clues(["+33 4 91 54 12 30", "Tel.+33491541230"]))
    np.testing.assert_allclose(one[0].log_density(grid), twice[0].log_density(grid))
    doubled = extract_clues(["+33 4 91 54 12 30"]) * 2
    np.testing.assert_allclose(clue_experts(doubled)[0].log_density(grid), one[0].log_density(grid))


def test_fast_country_expert_equals_parent(grid):
    e = CountryLikelihoodExpert(country_probs({"FRA": 1.0, "BEL": 0.5, "CHE": 0.3}, 0.05), kind=ExpertKind.TEXT)
    np.testing.assert_allclose(e.log_density(grid), CountryProbabilityExpert.log_density(e, grid), atol=1e-9)


def test_country_posterior_and_the_ensemble_agree(french, grid):
    from geolocate.ensemble import Ensemble
    from geolocate.layers import country_layer

    clues, experts = french
    post = country_posterior(clues)
    top, p = next(iter(post.items()))
    assert top == "FRA" and p > 0.99
    dist = Ensemble(experts).distribution()
    codes = ["none"] + list(country_layer().classes[1:])
    frac = country_layer().values_at(dist.cells)
    mass = dist.prob @ frac
    # the rest is sea around Marseille: the area code's kernel does not know the coast (a land prior does)
    land = mass[1:] / mass[1:].sum()
    assert codes[1 + int(np.argmax(land))] == "FRA" and land.max() > 0.99 and mass[0] + land.max() * mass[1:].sum() > 0.99
    k = int(np.argmax(dist.prob))
    from geolocate.metrics import haversine_km

    assert haversine_km(dist.cells.lat[k], dist.cells.lon[k], 43.2965, 5.3698) < 150  # the densest cell is Marseille's
