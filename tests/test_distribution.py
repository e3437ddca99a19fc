import numpy as np
import pytest
from h3.api import numpy_int as h3n

from geolocate.distribution import CellDistribution, area_to_truth, logsumexp
from geolocate.grid import CellSet, children, global_grid


def _cells(n=4):
    g = global_grid(2)
    return g.subset(np.arange(n))


def test_rva_case_solved_on_paper():
    # Densities (per km²): 4, 1, 1, 0.5 with areas 10, 20, 30, 40.
    area = np.array([10.0, 20.0, 30.0, 40.0])
    dens = np.log(np.array([4.0, 1.0, 1.0, 0.5]))
    assert area_to_truth(dens, area, 0) == 10.0  # only itself
    # Cell 1 ties with cell 2: the densest (10) + half of the tied other (15) + itself (20).
    assert area_to_truth(dens, area, 1) == 10 + 15 + 20
    assert area_to_truth(dens, area, 2) == 10 + 10 + 30
    assert area_to_truth(dens, area, 3) == 100.0


def test_uniform_distribution_needs_half_the_earth():
    g = global_grid(2)
    d = CellDistribution.from_log_density(g, np.zeros(len(g)))
    i = d.locate(0.0, 0.0)
    expect = (g.area_km2.sum() - g.area_km2[i]) / 2 + g.area_km2[i]
    assert d.area_to_contain(0.0, 0.0) == pytest.approx(expect)
    assert d.prob.sum() == pytest.approx(1.0)


def test_budget_prefix_and_totals():
    cs = _cells(4)
    mass = np.array([0.4, 0.3, 0.2, 0.1])
    d = CellDistribution(cs, np.log(mass))
    r = d.ranked()
    budget = r.area_km2[:2].sum() + 1.0
    sel = d.within_budget(budget)
    assert len(sel) == 2 and sel.total_area_km2 <= budget
    assert sel.cum_prob[-1] == pytest.approx(sel.total_prob)
    assert len(d.within_budget(r.area_km2[0] * 0.5)) == 0  # smaller than the densest cell
    with pytest.raises(ValueError):
        d.within_budget(0)


def test_mixed_resolution_ranks_by_density_not_mass():
    g = global_grid(3)
    parent = g.subset(np.array([100]))
    kids, _ = children(g.cells[[200]], 4)
    cs = CellSet.concat([parent, kids])
    # The parent holds more mass (0.3) than any child (0.1) but is 7x larger: a child is denser.
    mass = np.concatenate([[0.3], np.full(7, 0.1)])
    d = CellDistribution(cs, np.log(mass))
    order = d.order()
    assert order[0] != 0 and cs.resolution[order[0]] == 4
    assert d.ranked().cells[-1] == g.cells[100]  # the heaviest cell ranks last: it is the least dense
    # A point inside one child is found at the child's resolution.
    lat, lon = kids.lat[3], kids.lon[3]
    assert d.locate(lat, lon) == 1 + 3


def test_locate_follows_the_hierarchy_near_cell_edges():
    """H3 children do not tile their parent: every point must still land in exactly one support cell."""
    g = global_grid(3)
    i = g.locate([48.85], [2.35])[0]
    ring = np.flatnonzero(np.linalg.norm(g.xyz - g.xyz[i], axis=1) < 0.05)  # the cell and its neighbours
    kids, _ = children(g.cells[ring], 6)
    keep = np.ones(len(g), bool)
    keep[ring] = False
    cs = CellSet.concat([g.subset(keep), kids])
    d = CellDistribution.from_log_density(cs, np.zeros(len(cs)))
    rng = np.random.default_rng(0)
    lats, lons = rng.uniform(44.0, 54.0, 3000), rng.uniform(-5.0, 10.0, 3000)  # across the refined edge
    found = np.array([d.locate(a, b) for a, b in zip(lats, lons)])
    assert (found >= 0).all()


def test_ties_break_by_h3_index():
    cs = _cells(5).subset(np.array([4, 2, 0, 3, 1]))  # not in H3 order
    # Cells 0, 2, 4 of the grid tie at the top density; grid cell 3 is denser, grid cell 1 sparser.
    d = CellDistribution.from_log_density(cs, np.array([0.0, 0.0, 0.0, 1.0, -1.0]))
    grid_cells = _cells(5).cells
    assert d.ranked().cells.tolist() == grid_cells[[3, 0, 2, 4, 1]].tolist()


def test_rejects_nan_and_zero_mass():
    cs = _cells(2)
    with pytest.raises(ValueError, match="NaN"):
        CellDistribution(cs, np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="zero total"):
        CellDistribution(cs, np.array([-np.inf, -np.inf]))


def test_logsumexp():
    assert logsumexp(np.log([1.0, 2.0, 3.0])) == pytest.approx(np.log(6.0))
    assert np.allclose(logsumexp(np.log([[1.0, 3.0], [2.0, 2.0]]), axis=1)[:, 0], np.log([4.0, 4.0]))


def test_to_frame_columns():
    d = CellDistribution.from_log_density(_cells(3), np.array([0.0, 1.0, 2.0]))
    f = d.ranked().to_frame()
    assert list(f.columns) == ["rank", "h3", "lat", "lon", "resolution", "prob", "area_km2", "density_per_km2", "cum_prob", "cum_area_km2"]
    assert h3n.str_to_int(f.h3[0]) == d.ranked().cells[0]


@pytest.mark.parametrize("offset_km", [1.0, 30.0, 300.0])
def test_area_to_truth_of_one_kernel_is_the_cap_at_any_finest_resolution(offset_km):
    """One vMF kernel: the density falls with the distance from its centre, so the area denser than
    the truth is the spherical cap through the truth, 2 pi R^2 (1 - cos(d / R)). Below the finest cell
    the unsettled cells count their share denser than the truth, so res 6 (36 km² cells) and res 10
    agree with it, and with each other, within 1 %. A 1 km cap (3 km²) is within 1 % at res 10 and far
    below the truth's own res-6 cell (36 km²) at res 6: there is no floor at that cell any more."""
    from geolocate.ensemble import Ensemble
    from geolocate.experts import PointExpert
    from geolocate.grid import EARTH_RADIUS_KM

    ens = Ensemble([PointExpert(45.0, 7.0, 100.0, name="k")], floor=0.0)
    lat = 45.0 + np.degrees(offset_km / EARTH_RADIUS_KM)
    cap = 2 * np.pi * EARTH_RADIUS_KM**2 * (1 - np.cos(offset_km / EARTH_RADIUS_KM))
    a6 = ens.area_to_truth(lat, 7.0, finest=6)
    a10 = ens.area_to_truth(lat, 7.0, finest=10)
    assert a10.area_km2 == pytest.approx(cap, rel=0.01)
    if offset_km < 10:
        assert a6.area_km2 < 0.25 * 36
    else:
        assert a6.area_km2 == pytest.approx(cap, rel=0.01)
        assert a6.area_km2 == pytest.approx(a10.area_km2, rel=0.01)
    assert a10.band_km2 <= a6.band_km2  # finer cells leave less unsettled


def test_mode_is_the_continuous_peak_when_the_distribution_knows_it():
    cs = _cells(3)
    d = CellDistribution.from_log_density(cs, np.array([0.0, 1.0, 2.0]))
    assert d.mode() == d.densest_centre() == (cs.lat[2], cs.lon[2])
    calls = []

    class _Peak:
        lat, lon = 1.5, 2.5

    d.peak_finder = lambda: calls.append(1) or _Peak()
    assert d.mode() == (1.5, 2.5) and d.mode() == (1.5, 2.5)
    assert len(calls) == 1  # computed once
