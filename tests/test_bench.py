import json

import numpy as np
import pandas as pd
import pytest

from geolocate.bench import Fitted, normalise_author, run_benchmark, split_halves
from geolocate.data import BenchmarkSpec, DataError
from geolocate.ensemble import Ensemble
from geolocate.experts import PointExpert
from geolocate.experts.base import DESCENDANT_RADIUS, Expert
from geolocate.experts.point import PointPredictions
from geolocate.grid import EARTH_RADIUS_KM, global_grid
from geolocate.metrics import disc_area_km2


def test_split_is_stable_and_balanced():
    keys = np.array([f"author{i}" for i in range(2000)])
    a = split_halves(keys)
    assert np.array_equal(a, split_halves(keys[::-1])[::-1])
    assert 0.45 < a.mean() < 0.55


def test_author_keys_are_normalised_before_the_split():
    keys = normalise_author(pd.Series([" Alice", "alice", "ALICE ", "bob", None]))
    assert keys.tolist() == ["alice", "alice", "alice", "bob", ""]


def test_stacked_base_areas_match_the_app_distribution():
    """The benchmark's batched areas are the app's CellDistribution.area_to_contain, record by record."""
    truth = np.array([[48.0, 2.0], [-33.9, 151.2]])
    preds = np.array([[48.85, 2.35], [-37.8, 145.0]])
    batch = PointPredictions("m", preds, scales_km=[50.0, 1000.0])
    stack = Ensemble([batch]).stack(np.arange(2))
    areas = stack.base_areas(np.array([1.0]), global_grid(3).locate(truth[:, 0], truth[:, 1]))
    for k in range(2):
        d = Ensemble([PointExpert(*preds[k], scale_km=[50.0, 1000.0], weights=[0.5, 0.5], name="m")]).distribution()
        assert areas[k] == pytest.approx(d.area_to_contain(*truth[k]), rel=1e-4)
        # The record view of the stack is that same ensemble.
        assert stack.record(k).distribution().area_to_contain(*truth[k]) == pytest.approx(areas[k], rel=1e-4)


def test_missing_predictions_are_reported_not_dropped(tmp_path):
    gt = tmp_path / "gt.csv"
    gt.write_text("IMG_ID,LAT,LON\na,48.8,2.3\nb,40.7,-74.0\nc,35.7,139.7\nd,-33.9,151.2\n")
    pred = tmp_path / "m.csv"
    pred.write_text("img_id,predicted_lat,predicted_long\na,48.9,2.4\nc,35.6,139.8\n")
    r = run_benchmark(BenchmarkSpec("t", gt, [pred], []), priors=["uniform land"], n_boot=0, refine_to=5)
    assert any("2 of 4 images have no prediction" in line for line in r.report["read_reports"])
    assert r.report["split"]["fit"] + r.report["split"]["eval"] == 4


def test_prediction_file_truth_must_match_the_ground_truth(tmp_path):
    gt = tmp_path / "gt.csv"
    gt.write_text("IMG_ID,LAT,LON\na,48.8,2.3\nb,40.7,-74.0\n")
    pred = tmp_path / "m.csv"  # gt columns with latitude and longitude swapped
    pred.write_text("img_id,gt_lat,predicted_lat,gt_long,predicted_long\na,2.3,48.9,48.8,2.4\nb,-74.0,40.6,40.7,-74.1\n")
    with pytest.raises(DataError, match=r"m.csv: 2 of 2 rows .* disagrees with the ground truth \(its latitude and longitude look swapped\); first on line 2"):
        run_benchmark(BenchmarkSpec("t", gt, [pred], []), priors=[], n_boot=0, on_error="skip")


def test_a_huge_stack_is_refused_before_allocating():
    batch = PointPredictions("m", np.zeros((1_000_000, 2)))
    with pytest.raises(ValueError, match=r"1,000,000 records x 1 per-record experts x 41,162 cells need 153.3 GiB, over the limit of 8.0 GiB"):
        Ensemble([batch]).stack(np.arange(1_000_000))


@pytest.mark.parametrize("offset_km", [30.0, 300.0])
def test_converged_area_is_the_disc_through_the_truth(offset_km):
    """One kernel: the area denser than the truth is the cap of radius |truth - centre|, whatever the
    finest resolution; the open band bounds the distance to it and shrinks as cells get finer."""
    dlat = np.degrees(offset_km / EARTH_RADIUS_KM)
    ens = Ensemble([PointExpert(45.0, 7.0, [5.0, 100.0, 1000.0], name="k")], floor=0.0)
    disc = float(disc_area_km2(offset_km))
    bands = []
    for finest in (6, 7, 8):
        r = ens.area_to_truth(45.0 + dlat, 7.0, finest=finest, rel_tol=0.0)
        assert abs(r.area_km2 - disc) <= r.band_km2 + 0.05 * disc
        bands.append(r.band_km2)
    assert bands[0] > bands[1] > bands[2]
    # The base grid alone counts whole res-3 cells (~12,000 km² each).
    assert abs(ens.distribution().area_to_contain(45.0 + dlat, 7.0) - disc) > abs(r.area_km2 - disc)


@pytest.mark.parametrize("offset_km", [30.0, 300.0])
def test_vmf_area_to_truth_does_not_depend_on_the_finest_resolution(offset_km):
    """Issue 21's analytic case: one vMF kernel, truth at a known distance. The closed form is the cap
    through the truth; finest res 6 and res 10 give it, and each other, within 1 %."""
    dlat = np.degrees(offset_km / EARTH_RADIUS_KM)
    ens = Ensemble([PointExpert(45.0, 7.0, [5.0, 100.0, 1000.0], name="k")], floor=0.0)
    disc = float(disc_area_km2(offset_km))
    coarse = ens.area_to_truth(45.0 + dlat, 7.0, finest=6).area_km2
    fine = ens.area_to_truth(45.0 + dlat, 7.0, finest=10).area_km2
    assert coarse == pytest.approx(disc, rel=0.01)
    assert fine == pytest.approx(disc, rel=0.01)
    assert coarse == pytest.approx(fine, rel=0.01)


def test_converged_area_counts_a_constant_tie_half():
    """A field constant over land: every land cell ties with the truth, so the area is half the land."""
    from geolocate.experts import UniformLandPrior

    g = global_grid(4)
    land = UniformLandPrior().log_density(g) == 0.0
    i = int(np.flatnonzero(land & (np.abs(g.lat - 23.0) < 1) & (np.abs(g.lon - 10.0) < 1))[0])  # Sahara, all land
    r = Ensemble([UniformLandPrior()], floor=0.0).area_to_truth(g.lat[i], g.lon[i], finest=7)
    assert r.band_km2 <= 0.2 * r.area_km2  # coasts left unsettled count their sampled share
    assert r.area_km2 == pytest.approx(g.area_km2[land].sum() / 2, rel=0.01)


def test_transfer_reads_fitted_quantities_and_evaluates_every_image(tmp_path):
    gt = tmp_path / "gt.csv"
    gt.write_text("IMG_ID,AUTHOR,LAT,LON\n" + "\n".join(f"i{k},a{k % 5},{10 + k},{20 + k}" for k in range(12)) + "\n")
    pred = tmp_path / "m.csv"
    pred.write_text("img_id,predicted_lat,predicted_long\n" + "\n".join(f"i{k},{10.3 + k},{20 + k}" for k in range(12)) + "\n")
    spec = BenchmarkSpec("t", gt, [pred], [])
    first = run_benchmark(spec, priors=["uniform land"], n_boot=0, refine_to=4, weights={"m": 2.0})
    path = tmp_path / "r.json"
    first.to_json(path)
    fitted = Fitted.from_report(path)
    assert fitted.weights == {"uniform land": 1.0, "m": 2.0}
    again = run_benchmark(spec, priors=["uniform land"], n_boot=20, refine_to=4, fitted=fitted)
    rep = again.report
    assert rep["split"]["eval"] == 12 and rep["split"]["fit"] == 0
    assert rep["point_scale_mixtures"]["m"] == first.report["point_scale_mixtures"]["m"]
    assert rep["provenance"]["weights"].startswith("read from r.json (benchmark t)")
    assert rep["bootstrap"] == {"unit": "author", "resamples": 20}
    with pytest.raises(ValueError, match="no scale mixture for point expert 'm'"):
        run_benchmark(spec, priors=["uniform land"], n_boot=0, fitted=Fitted({"uniform land": 1.0, "m": 1.0}))


@pytest.mark.shared
def test_im2gps3k_small_run_schema(shared_data, tmp_path):
    from geolocate.data import discover_benchmarks

    spec = next(s for s in discover_benchmarks(shared_data) if s.name == "im2gps3k")
    spec.predictions = [p for p in spec.predictions if p.stem == "ISNs_M-fstar-S3"]
    r = run_benchmark(spec, max_samples=160, n_boot=50, refine_to=5)
    rep = r.report
    assert set(rep["experts"]) == {"uniform land", "population", "photo density", "ISNs_M-fstar-S3", "scene (places365)"}
    isn = rep["experts"]["ISNs_M-fstar-S3"]
    assert set(isn["gcd_accuracy"]) == {"1", "25", "200", "750", "2500"}
    assert set(isn["rva"]["recall_at_area"]) == {"1e+02", "1e+03", "1e+04", "1e+05", "1e+06"}
    assert set(isn["rva"]["area_at_recall"]) == {"0.25", "0.5", "0.75"}
    assert rep["bootstrap"] == {"unit": "author", "resamples": 50}
    # The point expert finds far more truths in a small area than the uniform-land prior.
    assert isn["rva"]["auc"]["value"] > rep["experts"]["uniform land"]["rva"]["auc"]["value"] + 0.1
    p = tmp_path / "r.json"
    r.to_json(p)
    assert json.loads(p.read_text())["schema"] == "geolocate.bench/2"
    assert set(r.curves.expert) == set(rep["experts"]) | {"ensemble"}


class HemisphereExpert(Expert):
    """The worked example of docs/architecture.md: a toy expert that knows each photo's hemisphere.

    One class serves the app (one photo: ``north`` is a bool) and the benchmark (``north`` is one bool
    per record); the bounds are optional and only make converged areas cheaper to compute.
    """

    kind = "attribute"

    def __init__(self, north, name="hemisphere"):
        self.north = np.atleast_1d(np.asarray(north, dtype=bool))
        self.name = name
        self.records = None if np.ndim(north) == 0 else len(self.north)

    def log_density(self, cells):  # one photo (the app)
        return self.batch_log_density(cells, np.array([0]))[0]

    def batch_log_density(self, cells, rows):  # one row per record (the benchmark)
        inside = (cells.lat[None, :] >= 0) == self.north[np.asarray(rows)][:, None]
        return np.where(inside, 0.0, np.log(0.1))

    def log_density_bounds(self, cells, rows=None):  # optional: cells away from the equator are settled
        value = self.batch_log_density(cells, np.array([0]) if rows is None else rows)
        straddles = np.abs(np.radians(cells.lat)) * EARTH_RADIUS_KM < DESCENDANT_RADIUS * np.sqrt(cells.area_km2)
        lo, hi = np.where(straddles, np.log(0.1), value), np.where(straddles, 0.0, value)
        return (lo[0], hi[0]) if rows is None else (lo, hi)


def test_a_new_expert_is_one_class_and_one_line_to_benchmark(tmp_path):
    from geolocate.experts import UniformLandPrior

    # The app: pool it with the priors like any expert.
    d = Ensemble([HemisphereExpert(True), UniformLandPrior()]).distribution()
    assert d.prob[d.cells.lat >= 0].sum() > 0.85
    # The benchmark: one more line (extra_experts); records follow the ground truth's rows.
    lat = np.array([48.8, -33.9, 40.7, -23.5, 35.7, -1.3, 55.7, -41.3])
    lon = np.array([2.3, 151.2, -74.0, -46.6, 139.7, 36.8, 37.6, 174.8])
    gt = tmp_path / "gt.csv"
    gt.write_text("IMG_ID,LAT,LON\n" + "\n".join(f"i{k},{a},{b}" for k, (a, b) in enumerate(zip(lat, lon))) + "\n")
    r = run_benchmark(BenchmarkSpec("t", gt, [], []), priors=["uniform land"], n_boot=0, refine_to=4,
                      extra_experts=[HemisphereExpert(lat >= 0)])
    # Alone it ties the whole of the photo's hemisphere: half of it counts, a quarter of the Earth.
    assert r.areas["hemisphere"] == pytest.approx(np.full(len(r.areas["hemisphere"]), 510_065_621.7 / 4), rel=0.01)
    # With the land prior, the search shrinks to the photo's hemisphere's share of the land.
    assert np.all(r.areas["ensemble"] < 0.8 * r.areas["uniform land"])


# -- issue 21: the speed work changes no fitted quantity; closed forms equal refinement ---------------


def _toy_benchmark(folder, n=240, seed=7):
    """A generated benchmark: n photos by n / 4 photographers near ten cities; two point models, one
    sharp (a third of its errors under a km) and one rough. Returns (ground truth, prediction files)."""
    rng = np.random.default_rng(seed)
    cities = np.array([[48.85, 2.35], [40.71, -74.0], [35.68, 139.69], [-33.87, 151.21], [51.51, -0.13], [-22.91, -43.17], [55.75, 37.62], [19.43, -99.13], [1.35, 103.82], [-1.29, 36.82]])
    c = cities[rng.integers(0, len(cities), n)]
    lat = np.clip(c[:, 0] + rng.normal(0, 1.5, n), -89, 89)
    lon = (c[:, 1] + rng.normal(0, 1.5, n) + 180) % 360 - 180
    folder.mkdir(parents=True, exist_ok=True)
    gt = folder / "gt.csv"
    gt.write_text("\n".join(["IMG_ID,AUTHOR,LAT,LON"] + [f"img{k},author{k % (n // 4)},{lat[k]:.6f},{lon[k]:.6f}" for k in range(n)]) + "\n")
    preds = []
    for name, scales, probs in (("sharp", [0.5, 20.0, 400.0, 3000.0], [0.3, 0.3, 0.2, 0.2]), ("rough", [5.0, 100.0, 1500.0], [0.2, 0.4, 0.4])):
        s = np.asarray(scales)[rng.choice(len(scales), n, p=probs)]
        dist = np.abs(rng.normal(0, 1, (n, 2))) * s[:, None] / 111.2
        plat = np.clip(lat + dist[:, 0] * rng.choice([-1, 1], n), -89, 89)
        plon = (lon + dist[:, 1] * rng.choice([-1, 1], n) / np.maximum(np.cos(np.radians(lat)), 0.2) + 180) % 360 - 180
        p = folder / f"{name}.csv"
        p.write_text("img_id,predicted_lat,predicted_long\n" + "\n".join(f"img{k},{plat[k]:.6f},{plon[k]:.6f}" for k in range(n)) + "\n")
        preds.append(p)
    return gt, preds


# Produced by the code before the speed work (commit a40b66c, bench.run_benchmark(..., fit=True)) on the
# generated benchmark above. They depend on neither the mode nor sub-cell areas, so they must not move.
_GUARD_WEIGHTS = {"uniform land": 0.0, "population": 0.25, "sharp": 1.0, "rough": 1.0}
_GUARD_MIXTURES = {
    "sharp": {"1km": 0.376832, "5km": 0.0, "25km": 0.338607, "100km": 0.0, "300km": 0.121824, "750km": 0.034927, "2500km": 0.127809},
    "rough": {"1km": 0.001359, "5km": 0.248221, "25km": 0.015293, "100km": 0.438081, "300km": 0.0, "750km": 0.061983, "2500km": 0.235062},
}
_GUARD_PRED_ACC = {"sharp": [0.25, 0.477941, 0.617647, 0.779412, 0.838235], "rough": [0.0, 0.147059, 0.580882, 0.654412, 0.852941]}
_GUARD_PRIOR_AUC = {"uniform land": 0.076858, "population": 0.161962}  # moved by < 1e-5: the truth's cell counts half


def test_speed_work_keeps_the_fitted_weights_and_table(tmp_path):
    gt, preds = _toy_benchmark(tmp_path / "toy")
    r = run_benchmark(BenchmarkSpec("toy", gt, preds, []), priors=["uniform land", "population"], fit=True, n_boot=0)
    rep = r.report
    assert rep["split"]["fit"] == 104 and rep["split"]["eval"] == 136
    assert rep["weights"] == _GUARD_WEIGHTS
    assert rep["point_scale_mixtures"] == _GUARD_MIXTURES
    rows = r.summary.set_index("expert")
    for name, acc in _GUARD_PRED_ACC.items():
        got = [rows.loc[name, f"pred_acc@{k}km"] for k in (1, 25, 200, 750, 2500)]
        assert got == pytest.approx(acc, abs=1e-6)
        # A point expert's mode is its prediction: the mode's accuracy is the prediction's.
        assert [rows.loc[name, f"acc@{k}km"] for k in (1, 25, 200, 750, 2500)] == pytest.approx(acc, abs=1e-6)
    for name, auc in _GUARD_PRIOR_AUC.items():
        assert rows.loc[name, "auc"] == pytest.approx(auc, abs=1e-5)


def test_closed_forms_equal_the_refined_areas_and_modes(tmp_path):
    """bench.closed_form (caps, plateaus) gives what Ensemble.area_to_truth / peak compute by refinement."""
    from geolocate.bench import closed_form, load_benchmark
    from geolocate.metrics import haversine_km

    gt, preds = _toy_benchmark(tmp_path / "toy", n=40)
    data = load_benchmark(BenchmarkSpec("toy", gt, preds, []), priors=["uniform land", "population"])
    for e in data.experts:
        if isinstance(e, PointPredictions):
            e.fit(np.arange(40), data.truth[["lat", "lon"]].to_numpy())
    ens = Ensemble(data.experts)
    rows = np.arange(0, 40, 5)
    stack = ens.stack(rows)
    t = data.truth[["lat", "lon"]].to_numpy()[rows]
    for i, name in enumerate(ens.names):
        w = np.eye(len(ens.names))[i]
        areas, modes, bands = closed_form(stack, w, t)
        for k in range(len(rows)):
            view = stack.record(k)
            ref = view.area_to_truth(t[k, 0], t[k, 1], w)
            assert areas[k] == pytest.approx(ref.area_km2, rel=0.01, abs=1.0), (name, k)  # rel_tol
            if isinstance(ens.soft_experts[i], PointPredictions):
                assert haversine_km(*view.mode(w), *modes[k]) < 1e-3
    assert closed_form(stack, np.ones(len(ens.names)), t) is None  # the ensemble is refined


def test_a_subclass_that_changes_the_density_gets_no_closed_form():
    """A model that mixes several answers (vlm.SampledPointPredictions overrides record_log_density) is
    not a single radial kernel: it must go through refinement, not the cap formula."""
    from geolocate.bench import closed_form

    class Doubled(PointPredictions):
        def record_log_density(self, cells, rows):
            return super().record_log_density(cells, rows) * 2.0

    preds = np.array([[48.85, 2.35], [40.7, -74.0]])
    for cls, expect_closed in ((PointPredictions, True), (Doubled, False)):
        stack = Ensemble([cls("m", preds)]).stack(np.arange(2))
        got = closed_form(stack, np.array([1.0]), np.array([[48.0, 2.0], [41.0, -73.0]]))
        assert (got is not None) == expect_closed
