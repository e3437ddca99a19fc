import numpy as np
import pytest

from geolocate.distribution import CellDistribution
from geolocate.ensemble import Ensemble, floored, pool
from geolocate.experts import ArrayExpert, PointExpert, RegionExpert, UniformLandPrior
from geolocate.grid import EARTH_AREA_KM2, global_grid


def _experts():
    return [PointExpert(48.85, 2.35, 200.0, name="paris"), PointExpert(40.4, -3.7, 400.0, name="madrid"), UniformLandPrior()]


def test_weight_zero_removes_an_expert():
    ens = Ensemble(_experts(), floor=1e-3)
    full = ens.distribution({"paris": 1.0, "madrid": 0.0, "uniform land": 1.0})
    ens2 = Ensemble([_experts()[0], _experts()[2]], floor=1e-3)
    assert np.allclose(full.log_mass, ens2.distribution().log_mass)


def test_one_expert_at_weight_one_is_itself():
    g = global_grid(3)
    e = PointExpert(10.0, 10.0, 500.0, name="p")
    ens = Ensemble([e], floor=0.0)
    d = ens.distribution([1.0])
    own = CellDistribution.from_log_density(g, e.log_density(g))
    assert np.allclose(d.log_mass, own.log_mass)
    # Linear pooling of a single expert is the same distribution.
    assert np.allclose(Ensemble([e], floor=0.0).distribution([2.0], method="linear").log_mass, own.log_mass)


def test_log_linear_is_a_normalised_product():
    g = global_grid(3)
    a, b = _experts()[:2]
    d = Ensemble([a, b], floor=0.0).distribution([1.0, 1.0])
    prod = CellDistribution.from_log_density(g, a.log_density(g) + b.log_density(g))
    assert np.allclose(d.log_mass, prod.log_mass)
    # Doubling every weight sharpens: the mode keeps its place and gains mass.
    d2 = Ensemble([a, b], floor=0.0).distribution([2.0, 2.0])
    assert d2.order()[0] == d.order()[0] and d2.prob.max() > d.prob.max()


def test_linear_pool_is_a_mixture():
    g = global_grid(3)
    a, b = _experts()[:2]
    d = Ensemble([a, b], floor=0.0).distribution([3.0, 1.0], method="linear")
    pa = CellDistribution.from_log_density(g, a.log_density(g)).prob
    pb = CellDistribution.from_log_density(g, b.log_density(g)).prob
    assert np.allclose(d.prob, 0.75 * pa + 0.25 * pb, atol=1e-12)


def test_floor_stops_an_expert_zeroing_the_world():
    g = global_grid(3)
    zero_africa = ArrayExpert("veto", g.cells, np.where((g.lat < 30) & (g.lat > -30) & (g.lon > 0) & (g.lon < 40), -1e4, 0.0))
    d = Ensemble([zero_africa], floor=1e-3).distribution()
    nairobi = d.locate(-1.29, 36.82)
    assert d.log_density[nairobi] >= np.log(1e-3 / EARTH_AREA_KM2) - 1e-9
    assert floored(np.array([-np.inf]), 0.01)[0] == pytest.approx(np.log(0.01 / EARTH_AREA_KM2))


def test_hard_region_is_a_mask_outside_the_weights():
    ens = Ensemble([PointExpert(46.5, 2.0, 800.0, name="p"), RegionExpert(include=["FRA"], hard=True, name="in France")])
    assert ens.names == ["p"]
    d = ens.distribution()
    sel = d.within_budget(5e5)
    assert len(sel) > 0
    from geolocate.layers import country_layer, country_table

    codes = ["none"] + [c["iso3"] for c in country_table()]
    frac = country_layer().values_at(sel.cells)
    assert np.all(frac[:, codes.index("FRA")] > 0)


def test_refinement_sharpens_and_keeps_a_partition():
    ens = Ensemble([PointExpert(35.0, 139.0, 3.0, name="tokyo")], floor=1e-3)
    coarse = ens.distribution()
    fine = ens.distribution(refine_to=7, refine_cells=50)
    assert fine.prob.sum() == pytest.approx(1.0)
    assert fine.cells.area_km2.sum() == pytest.approx(EARTH_AREA_KM2, rel=1e-3)
    assert fine.area_to_contain(35.0, 139.0) < 20 < coarse.area_to_contain(35.0, 139.0)
    assert fine.cells.resolution.max() == 7


def test_pool_validates_weights():
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match="expected 2 weights"):
        pool(x, np.ones(3))
    with pytest.raises(ValueError, match="non-negative"):
        pool(x, np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="unknown pooling"):
        pool(x, np.ones(2), "geometric")
    with pytest.raises(ValueError, match="unknown experts"):
        Ensemble(_experts()).weight_vector({"nobody": 1.0})
    with pytest.raises(ValueError, match="unique"):
        Ensemble([PointExpert(0, 0, name="a"), PointExpert(1, 1, name="a")])


class _SlowPoint(PointExpert):
    """A point expert that yields the GIL while it evaluates, as image experts and layer lookups do, so
    overlapping runs interleave inside the ensemble's cache updates."""

    def log_density(self, cells):
        import time

        out = super().log_density(cells)
        time.sleep(0.002)
        return out


def test_overlapping_runs_on_one_ensemble_match_a_fresh_one():
    """Streamlit's fast reruns: two runs of one session share an Ensemble. Every result must equal a
    fresh single-threaded Ensemble's, and the shared one must stay consistent afterwards."""
    from concurrent.futures import ThreadPoolExecutor

    def experts():
        return [_SlowPoint(35.0, 139.0, 30.0, name="tokyo"), _SlowPoint(34.7, 135.5, 60.0, name="osaka"), _SlowPoint(43.0, 141.3, 90.0, name="sapporo")]

    jobs = [({"tokyo": 1.0 + 0.5 * (k % 3), "osaka": 0.5 * (k % 4), "sapporo": 1.0}, 5 + k % 3, 20 + 10 * (k % 5)) for k in range(24)]
    fresh = []
    for w, res, n in jobs:
        d = Ensemble(experts()).distribution(w, refine_to=res, refine_cells=n)
        fresh.append((d.cells.cells.copy(), d.log_mass.copy()))
    shared = Ensemble(experts())
    shared.base_fields()

    def run(k):
        w, res, n = jobs[k]
        d = shared.distribution(w, refine_to=res, refine_cells=n)
        return d.cells.cells, d.log_mass

    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(run, range(len(jobs))))
    for k, (cells, log_mass) in enumerate(got):
        assert np.array_equal(cells, fresh[k][0]), f"job {k}: different cells"
        assert np.allclose(log_mass, fresh[k][1], rtol=0, atol=1e-9), f"job {k}: different probabilities"
    # The cache stays consistent: a later single-threaded call still matches.
    again = shared.distribution(jobs[0][0], refine_to=jobs[0][1], refine_cells=jobs[0][2])
    assert np.allclose(again.log_mass, fresh[0][1], rtol=0, atol=1e-9)


# -- the continuous mode and refinement to res 10 (issue 21) ------------------------------------------


@pytest.mark.parametrize("refine_to", [None, 5, 7, 10])
def test_a_point_experts_mode_is_its_prediction_at_any_resolution(refine_to):
    from geolocate.metrics import haversine_km

    lat, lon = 48.856613, 2.352222
    ens = Ensemble([PointExpert(lat, lon, [1.0, 25.0, 300.0], weights=[0.3, 0.4, 0.3], name="p")])
    m = ens.mode(refine_to=refine_to)
    assert haversine_km(*m, lat, lon) < 1e-3  # metres, not the ~km of a cell centre
    # The app's distribution reports the same point; its densest cell's centre is elsewhere.
    d = ens.distribution(refine_to=refine_to)
    assert d.mode() == m
    assert haversine_km(*d.densest_centre(), lat, lon) > 1e-3


def test_mode_of_two_kernels_is_their_product_peak():
    """A log-linear product of two vMF kernels is a vMF whose mean direction is kappa1 mu1 + kappa2 mu2:
    the lattice search must land on it to the metre, although no candidate sits there."""
    from geolocate.grid import latlon_to_xyz
    from geolocate.metrics import haversine_km

    a, b = (35.68, 139.69), (35.70, 139.80)  # ~10 km apart
    s1, s2 = 3.0, 6.0
    ens = Ensemble([PointExpert(*a, s1, name="a"), PointExpert(*b, s2, name="b")], floor=0.0)
    m = ens.mode(refine_to=6)
    v = latlon_to_xyz(np.array([a[0], b[0]]), np.array([a[1], b[1]]))
    peak = v[0] / s1**2 + v[1] / s2**2
    peak /= np.linalg.norm(peak)
    plat, plon = np.degrees(np.arcsin(peak[2])), np.degrees(np.arctan2(peak[1], peak[0]))
    assert haversine_km(*m, plat, plon) < 2e-3


def test_a_hard_mask_holds_the_mode():
    ens = Ensemble([PointExpert(48.85, 2.35, 50.0, name="paris"), RegionExpert(include=["ISL"], hard=True, name="in Iceland")])
    lat, lon = ens.mode()
    assert 63 < lat < 67 and -25 < lon < -13


def test_refinement_to_res_10_splits_one_resolution_at_a_time():
    """A base cell that enters the top late is split one level, not into 7^7 res-10 children."""
    import time

    ens = Ensemble([PointExpert(35.0, 139.0, [1.0, 300.0], name="tokyo"), UniformLandPrior()])
    t = time.perf_counter()
    d = ens.distribution(refine_to=10, refine_cells=200)
    assert time.perf_counter() - t < 30
    assert d.cells.resolution.max() == 10
    assert len(d) < len(ens.grid) + 7 * 7 * 200
    assert d.cells.area_km2.sum() == pytest.approx(EARTH_AREA_KM2, rel=1e-3)
    assert d.prob.sum() == pytest.approx(1.0)
    assert d.area_to_contain(35.0, 139.0) < 0.1  # the truth's res-10 cell is 0.015 km²


def test_point_density_is_the_unwidened_kernel():
    from geolocate.experts.point import kernel_log_density
    from geolocate.grid import latlon_to_xyz

    e = PointExpert(10.0, 20.0, 5.0, name="p")
    ens = Ensemble([e], floor=0.0)
    lat, lon = np.array([10.0, 10.01, 11.0]), np.array([20.0, 20.0, 20.5])
    own = kernel_log_density(latlon_to_xyz(lat, lon), None, latlon_to_xyz(np.array([10.0]), np.array([20.0])), np.array([5.0]), np.array([1.0]))[0]
    z = ens._normalisers()[0]
    assert np.allclose(ens.point_density(lat, lon), own - z, rtol=0, atol=1e-9)
