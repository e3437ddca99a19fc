import json

import numpy as np
import pytest

from geolocate.bench import BenchExpert, BenchData, base_areas, build_fields, run_benchmark, split_halves
from geolocate.data import BenchmarkSpec
from geolocate.ensemble import Ensemble
from geolocate.experts import PointExpert
from geolocate.grid import latlon_to_xyz


def test_split_is_stable_and_balanced():
    keys = np.array([f"author{i}" for i in range(2000)])
    a = split_halves(keys)
    assert np.array_equal(a, split_halves(keys[::-1])[::-1])
    assert 0.45 < a.mean() < 0.55


def test_base_areas_match_the_ensemble_distribution():
    import pandas as pd

    truth = pd.DataFrame({"id": ["a", "b"], "lat": [48.0, -33.9], "lon": [2.0, 151.2], "line": [2, 3]})
    preds = np.array([[48.85, 2.35], [-37.8, 145.0]])
    e = BenchExpert("m", "point", centres=latlon_to_xyz(preds[:, 0], preds[:, 1]), pred_latlon=preds, present=np.array([True, True]),
                    scales=np.array([50.0, 1000.0]), mix=np.array([0.5, 0.5]))
    fs = build_fields(BenchData("t", truth, [e]), np.arange(2))
    areas, _ = base_areas(fs, np.array([1.0]))
    for k in range(2):
        ens = Ensemble([PointExpert(*preds[k], scale_km=[50.0, 1000.0], weights=[0.5, 0.5], name="m")])
        d = ens.distribution()
        assert areas[k] == pytest.approx(d.area_to_contain(*truth[["lat", "lon"]].to_numpy()[k]), rel=1e-4)


def test_missing_predictions_are_reported_not_dropped(tmp_path):
    gt = tmp_path / "gt.csv"
    gt.write_text("IMG_ID,LAT,LON\na,48.8,2.3\nb,40.7,-74.0\nc,35.7,139.7\nd,-33.9,151.2\n")
    pred = tmp_path / "m.csv"
    pred.write_text("img_id,predicted_lat,predicted_long\na,48.9,2.4\nc,35.6,139.8\n")
    r = run_benchmark(BenchmarkSpec("t", gt, [pred], []), priors=["uniform land"], n_boot=0)
    assert any("2 of 4 images have no prediction" in line for line in r.report["read_reports"])
    assert r.report["split"]["fit"] + r.report["split"]["eval"] == 4


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
    # The point expert finds far more truths in a small area than the uniform-land prior.
    assert isn["rva"]["auc"]["value"] > rep["experts"]["uniform land"]["rva"]["auc"]["value"] + 0.1
    p = tmp_path / "r.json"
    r.to_json(p)
    assert json.loads(p.read_text())["schema"] == "geolocate.bench/1"
    assert set(r.curves.expert) == set(rep["experts"]) | {"ensemble"}


@pytest.mark.parametrize("offset_km", [30.0, 60.0])
def test_refined_area_is_the_disc_through_the_truth(offset_km):
    """One sharp kernel: the area denser than the truth is the disc of radius |truth - centre|.

    Both the benchmark's refinement and the ensemble's level-by-level refinement must find it."""
    import pandas as pd

    from geolocate.bench import refined_areas
    from geolocate.grid import EARTH_RADIUS_KM

    centre = np.array([[45.0, 7.0]])
    dlat = np.degrees(offset_km / EARTH_RADIUS_KM)
    truth = pd.DataFrame({"id": ["a"], "lat": [45.0 + dlat], "lon": [7.0], "line": [2]})
    e = BenchExpert("k", "point", centres=latlon_to_xyz(centre[:, 0], centre[:, 1]), pred_latlon=centre, present=np.array([True]),
                    scales=np.array([20.0]), mix=np.array([1.0]))
    fs = build_fields(BenchData("t", truth, [e]), np.arange(1), floor=0.0)
    base, _ = base_areas(fs, np.array([1.0]))
    fine, _ = refined_areas(fs, np.array([1.0]), base, refine_to=7, refine_below_km2=1e6)
    disc = np.pi * offset_km**2
    assert fine[0] == pytest.approx(disc, rel=0.12)
    assert base[0] > 9000  # the base grid alone counts whole res-3 cells (~12,000 km² here)
    ens = Ensemble([PointExpert(45.0, 7.0, 20.0, name="k")], floor=0.0)
    d = ens.distribution(refine_to=7, refine_cells=400)
    assert d.area_to_contain(45.0 + dlat, 7.0) == pytest.approx(fine[0], rel=0.08)
