import numpy as np
import pytest

from geolocate.experts import (
    AttributeExpert,
    PointExpert,
    PopulationPrior,
    RegionExpert,
    UniformLandPrior,
    attribute_log_likelihood,
    fit_scale_mixture,
    override_probs,
    tempered,
)
from geolocate.experts import base as experts_base
from geolocate.experts.attribute import AttributePredictions
from geolocate.experts.base import BatchExpert
from geolocate.experts.point import PointPredictions, haversine_km
from geolocate.grid import CellSet, global_grid
from geolocate.layers import Layer, landcover_layer


def _mass(expert, res=4):
    g = global_grid(res)
    ld = expert.log_density(g)
    return g, np.exp(ld) * g.area_km2


@pytest.mark.parametrize("sigma", [100.0, 2500.0])
def test_point_kernel_is_normalised_on_the_sphere(sigma):
    g, m = _mass(PointExpert(10.0, 20.0, sigma))
    assert m.sum() == pytest.approx(1.0, rel=0.01)


def test_point_kernel_mass_within_two_sigma():
    # A 2-D Gaussian puts 1 - exp(-2) = 86.5 % of its mass within 2 sigma.
    sigma = 300.0
    g, m = _mass(PointExpert(45.0, 10.0, sigma))
    d = haversine_km(45.0, 10.0, g.lat, g.lon)
    assert m[d <= 2 * sigma].sum() == pytest.approx(1 - np.exp(-2), abs=0.02)


def test_sharp_kernel_keeps_its_mass_in_its_cell():
    g, m = _mass(PointExpert(48.8566, 2.3522, 1.0), res=3)
    i = g.locate([48.8566], [2.3522])[0]
    # Widening by the cell's spread is an approximation, so the ensemble renormalises; what matters is
    # that the containing cell wins and holds most of the mass (Paris is 15 km from its cell centre).
    assert m.argmax() == i and m[i] / m.sum() > 0.5


def test_point_expert_rejects_bad_input():
    with pytest.raises(ValueError, match="out of range"):
        PointExpert(95.0, 0.0)
    with pytest.raises(ValueError, match="positive"):
        PointExpert(0.0, 0.0, 0.0)


def test_fit_scale_mixture_recovers_the_scale():
    rng = np.random.default_rng(0)
    errors = 25.0 * np.sqrt(-2 * np.log(rng.uniform(size=4000)))  # Rayleigh(sigma = 25 km)
    w = fit_scale_mixture(errors, (1.0, 25.0, 750.0))
    assert w[1] > 0.95 and w.sum() == pytest.approx(1.0)


def test_attribute_likelihood_by_hand():
    f = np.array([[1.0, 0.0], [0.25, 0.75]])
    p = np.array([[0.8, 0.2]])
    prior = np.array([0.5, 0.5])
    got = attribute_log_likelihood(f, p, prior)[0]
    assert np.allclose(np.exp(got), [1.6, 0.25 * 1.6 + 0.75 * 0.4])


def test_tempered_probabilities():
    p = np.array([0.6, 0.3, 0.1])
    assert np.allclose(tempered(p, 1.0), p)
    sharp = tempered(p, 0.5)
    assert np.allclose(sharp, p**2 / (p**2).sum())


def test_landcover_override_prefers_matching_cells():
    lc = landcover_layer()
    e = AttributeExpert(lc, override_probs(lc, ["permanent snow and ice"]), name="snow", kind="analyst")
    g = global_grid(4)
    ld = e.log_density(g)
    greenland, sahara = g.locate([75.0, 23.0], [-40.0, 10.0])
    assert ld[greenland] > ld[sahara] + 2.0
    with pytest.raises(ValueError, match="unknown landcover classes"):
        override_probs(lc, ["lava"])


def test_attribute_expert_validates_shape():
    lc = landcover_layer()
    with pytest.raises(ValueError, match="expected 17 class probabilities"):
        AttributeExpert(lc, [0.5, 0.5])


def test_priors_rank_known_places():
    g = global_grid(4)
    tokyo, sahara, pacific = g.locate([35.68, 23.0, 0.0], [139.69, 10.0, -150.0])
    pop = PopulationPrior().log_density(g)
    assert pop[tokyo] > pop[sahara] + 5
    land = UniformLandPrior().log_density(g)
    assert land[sahara] == pytest.approx(0.0, abs=0.05) and land[pacific] == pytest.approx(np.log(0.01))


def test_region_hard_and_soft():
    g = global_grid(4)
    paris, berlin = g.locate([48.8566, 52.52], [2.3522, 13.405])
    soft = RegionExpert(include=["FRA"]).log_density(g)
    assert soft[paris] == pytest.approx(0.0) and soft[berlin] == pytest.approx(np.log(0.05))
    hard = RegionExpert(exclude=["FRA"], hard=True)
    assert hard.hard and hard.log_density(g)[paris] < -25
    with pytest.raises(ValueError, match="unknown country codes"):
        RegionExpert(include=["XXX"])


def test_region_polygon():
    import shapely

    box = shapely.box(0.0, 40.0, 10.0, 50.0)
    g = global_grid(3)
    e = RegionExpert(include_polygons=[box])
    s = e.share(g)
    inside = (g.lon > 0.5) & (g.lon < 9.5) & (g.lat > 40.5) & (g.lat < 49.5)
    assert np.all(s[inside] == 1.0) and s[~inside & (np.abs(g.lat) > 60)].max() == 0.0


def test_layer_aggregation_preserves_area_weighted_fractions():
    lc = landcover_layer()
    fine, coarse = lc.fractions, lc.at_resolution(2)
    g4, g2 = global_grid(4), global_grid(2)
    water4 = (fine[:, 0] * g4.area_km2).sum()
    water2 = (coarse[:, 0] * g2.area_km2).sum()
    assert water2 == pytest.approx(water4, rel=0.01)
    assert 0.68 < water4 / g4.area_km2.sum() < 0.73  # about 71 % of Earth is water


def test_layer_values_for_finer_cells_inherit():
    from geolocate.grid import children

    # A dense res-2 layer whose every row differs (class 1 share = position / n): a finer cell must read
    # exactly its own ancestor's row, not a neighbour's or a mean.
    g2 = global_grid(2)
    share = (np.arange(len(g2)) / len(g2)).astype(np.float32)
    layer = Layer("ramp", ["a", "b"], g2, np.column_stack([1 - share, share]))
    picks = np.array([0, 1, 2500, len(g2) - 1])
    kids, owner = children(g2.cells[picks], 5)
    assert np.array_equal(layer.values_at(kids)[:, 1], share[picks][owner])
    assert len(np.unique(layer.values_at(kids)[:, 1])) == 4
    # The shipped land cover in the uniform Sahara: every res-6 descendant of a res-4 cell reads its row.
    lc = landcover_layer()
    g = global_grid(4)
    i = g.locate([23.0], [10.0])[0]
    fine, _ = children(g.cells[[i]], 6)
    assert np.allclose(lc.values_at(fine), lc.fractions[i])
    assert lc.classes[int(np.argmax(lc.fractions[i]))] == "barren"


class _Hemisphere(BatchExpert):
    """A batch expert for the BatchExpert contract: record k favours the north (k even) or the south."""

    name = "hemisphere"

    def __init__(self, present):
        self.present = np.asarray(present, dtype=bool)
        self.records = len(self.present)

    def record_log_density(self, cells, rows):
        sign = np.where(np.asarray(rows) % 2 == 0, 1.0, -1.0)
        return sign[:, None] * np.sign(cells.lat)[None, :]

    def record_log_density_bounds(self, cells, rows):
        v = self.record_log_density(cells, rows)
        return v - 1.0, v + 1.0


def test_batch_expert_gives_uniform_rows_to_records_without_output():
    cells = CellSet.from_cells(global_grid(0).cells)
    e = _Hemisphere([True, True, False])
    north = np.sign(cells.lat)
    out = e.batch_log_density(cells, np.array([0, 1, 2]))
    assert np.array_equal(out, np.stack([north, -north, np.zeros_like(north)]))
    lo, hi = e.log_density_bounds(cells)
    assert np.array_equal(lo[0], north - 1) and np.array_equal(hi[1], -north + 1)
    assert not lo[2].any() and not hi[2].any()
    with pytest.raises(TypeError, match="holds 3 records"):
        e.log_density(cells)
    assert np.array_equal(_Hemisphere([True]).log_density(cells), north)


def test_point_and_attribute_predictions_share_the_batch_contract():
    from geolocate.layers import scene_layer

    cells = CellSet.from_cells(global_grid(1).cells)
    pts = PointPredictions("m", np.array([[48.85, 2.35], [np.nan, np.nan]]))
    assert isinstance(pts, BatchExpert)
    out = pts.batch_log_density(cells, np.array([0, 1]))
    assert not out[1].any() and cells.lat[np.argmax(out[0])] == pytest.approx(48.85, abs=8)
    layer = scene_layer()
    probs = np.array([[0.1, 0.1, 0.8], [np.nan, np.nan, np.nan]])
    attr = AttributePredictions("scene", layer, probs, np.full(3, 1 / 3))
    assert isinstance(attr, BatchExpert)
    a = attr.batch_log_density(cells, np.array([0, 1]))
    assert not a[1].any()
    expect = attribute_log_likelihood(layer.values_at(cells), probs[:1], attr.class_prior)[0]
    assert np.allclose(a[0], expect)
    lo, hi = attr.log_density_bounds(cells)
    assert np.all(lo[0] <= a[0] + 1e-9) and np.all(a[0] <= hi[0] + 1e-9) and not lo[1].any()


def test_expert_label_does_not_repeat_the_kind():
    from geolocate.evidence import AnalystEvidence, analyst_experts

    experts, _ = analyst_experts(AnalystEvidence(attributes=("forest",)))
    assert experts_base.expert_label(experts[0]) == "analyst: forest"
    assert experts_base.expert_label(PointExpert(1.0, 2.0, 10.0, name="GeoCLIP", kind="image")) == "GeoCLIP · image"


def test_descriptions_name_the_kind_once_and_a_single_scale_once():
    """Labels of the report and the CLI: no "analyst: analyst: ...", no "sigma 150-150 km"."""
    from geolocate.experts.base import ExpertKind

    one = PointExpert(10.0, 20.0, 150.0, name="analyst guess")
    one.kind = ExpertKind.ANALYST
    assert one.describe() == "analyst guess at (10.0000, 20.0000), sigma 150 km"
    assert PointExpert(10.0, 20.0, [5.0, 100.0], name="m").describe() == "point: m at (10.0000, 20.0000), sigma 5-100 km"
