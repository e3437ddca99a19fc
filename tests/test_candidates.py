"""Candidate areas: connected groups of the budget's cells, named, with probabilities and a why."""

from __future__ import annotations

import numpy as np
import pytest

from geolocate.candidates import CandidateArea, candidate_areas, region_area_ids, region_names
from geolocate.distribution import RankedRegions
from geolocate.ensemble import Ensemble
from geolocate.experts.point import PointExpert
from geolocate.grid import CellSet, points_to_cells

WEIGHTS = {"kauai": 0.6, "paris": 0.4}


@pytest.fixture(scope="module")
def two_modes():
    """A linear pool of two broad kernels: 60 % around Kauai, 40 % around Paris."""
    ens = Ensemble([PointExpert(22.05, -159.5, 150.0, name="kauai"), PointExpert(48.85, 2.35, 150.0, name="paris")])
    dist = ens.distribution(WEIGHTS, method="linear")
    regions = dist.within_budget(1_500_000)
    return ens, regions, candidate_areas(regions, ens, WEIGHTS)


def test_two_mode_ensemble_gives_two_named_areas_with_their_probabilities(two_modes):
    _, regions, areas = two_modes
    assert [a.id for a in areas] == [1, 2]
    kauai, paris = areas
    assert "Hawaii, United States" in kauai.name
    assert kauai.name.endswith("France") is False and paris.name.endswith("France")
    assert kauai.prob == pytest.approx(0.6, abs=0.02)
    assert paris.prob == pytest.approx(0.4, abs=0.02)
    # every budget cell is in one of them, and the areas' numbers are their cells' sums
    ids = region_area_ids(regions, areas)
    assert set(ids.tolist()) == {1, 2}
    assert kauai.prob == pytest.approx(float(regions.prob[ids == 1].sum()))
    assert paris.area_km2 == pytest.approx(float(regions.area_km2[ids == 2].sum()))


def test_extent_centre_and_peak(two_modes):
    _, _, (kauai, paris) = two_modes
    assert kauai.south < 22.05 < kauai.north and kauai.west < -159.5 < kauai.east
    assert paris.south < 48.85 < paris.north and paris.west < 2.35 < paris.east
    assert abs(kauai.lat - 22.05) < 1.0 and abs(kauai.lon + 159.5) < 1.0
    assert abs(paris.peak_lat - 48.85) < 1.0 and abs(paris.peak_lon - 2.35) < 1.5


def test_why_names_the_expert_behind_each_area(two_modes):
    _, _, (kauai, paris) = two_modes
    assert kauai.why[0].name == "kauai" and paris.why[0].name == "paris"
    assert kauai.why[0].prob > 0.9 and kauai.why[0].lift > 100
    assert all(s.name != "paris" for s in kauai.why)  # Paris's kernel puts nothing on Kauai
    assert "kauai" in kauai.why_text() and "%" in kauai.why_text()


def test_weight_zero_expert_is_never_a_why(two_modes):
    ens, regions, _ = two_modes
    areas = candidate_areas(regions, ens, {"kauai": 0.0, "paris": 1.0})
    assert all(s.name != "kauai" for a in areas for s in a.why)


def test_max_areas_and_empty_regions(two_modes):
    ens, regions, _ = two_modes
    one = candidate_areas(regions, ens, WEIGHTS, max_areas=1)
    assert len(one) == 1 and "Hawaii" in one[0].name
    ids = region_area_ids(regions, one)
    assert set(ids.tolist()) == {0, 1}
    assert candidate_areas(regions.head(0)) == []


def _regions(cells: np.ndarray, prob: np.ndarray) -> RankedRegions:
    cs = CellSet.from_cells(cells)
    return RankedRegions(cs.cells, prob, cs.area_km2, prob / cs.area_km2, cs.lat, cs.lon)


def test_linking_touching_gapped_and_mixed_resolution_cells():
    import h3

    centre = int(points_to_cells(np.array([45.0]), np.array([5.0]), 5)[0])
    ring1 = [h3.str_to_int(c) for c in h3.grid_ring(h3.int_to_str(centre), 1)]
    ring3 = [h3.str_to_int(c) for c in h3.grid_ring(h3.int_to_str(centre), 3)]
    far = int(points_to_cells(np.array([-33.9]), np.array([18.4]), 5)[0])  # Cape Town
    # a neighbour is linked; a cell two rings out (one cell gap) is linked; three rings out is not
    gap2 = [h3.str_to_int(c) for c in h3.grid_ring(h3.int_to_str(centre), 2)][0]
    cells = np.array([centre, ring1[0], gap2, ring3[3], far], dtype=np.uint64)
    areas = candidate_areas(_regions(cells, np.array([0.4, 0.2, 0.1, 0.05, 0.25])), max_areas=5)
    groups = sorted(sorted(int(c) for c in a.cells) for a in areas)
    assert len(areas) == 3
    assert sorted(int(c) for c in (centre, ring1[0], gap2)) in groups
    assert [areas[0].prob, areas[1].prob] == pytest.approx([0.7, 0.25])
    # a res-7 child of a neighbouring res-5 cell's edge links to the res-5 cell (mixed resolutions)
    child = [h3.str_to_int(c) for c in h3.cell_to_children(h3.int_to_str(ring1[0]), 7)]
    mixed = np.array([centre, child[0]], dtype=np.uint64)
    assert len(candidate_areas(_regions(mixed, np.array([0.6, 0.4])))) == 1


def test_small_area_is_named_after_its_place():
    cells = points_to_cells(np.array([21.9812]), np.array([-159.3721]), 6)  # Lihue, res 6 (~36 km²)
    (area,) = candidate_areas(_regions(cells, np.array([1.0])))
    assert isinstance(area, CandidateArea)
    assert area.name.startswith("Lihue, Kauai, Hawaii")
    assert area.label == f"Area 1: {area.name}"
    assert region_names(_regions(cells, np.array([1.0]))) == ["Lihue, Kauai, Hawaii, United States"]
