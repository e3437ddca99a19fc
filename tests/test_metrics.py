import numpy as np
import pytest

from geolocate import metrics as M
from geolocate.experts.point import haversine_km


def test_known_distances():
    r = 6371.0088
    assert haversine_km(0, 0, 0, 1) == pytest.approx(2 * np.pi * r / 360)  # 111.195 km
    assert haversine_km(0, 0, 90, 0) == pytest.approx(np.pi * r / 2)  # 10,007.5 km
    assert haversine_km(0, 179.5, 0, -179.5) == pytest.approx(2 * np.pi * r / 360)  # across the antimeridian
    assert haversine_km(48.8566, 2.3522, 51.5074, -0.1278) == pytest.approx(343.5, abs=1.0)  # Paris-London


def test_gcd_accuracy_thresholds_inclusive():
    acc = M.gcd_accuracy(np.array([0.5, 1.0, 30.0, 5000.0]))
    assert acc == {1: 0.5, 25: 0.5, 200: 0.75, 750: 0.75, 2500: 0.75}


def test_auc_closed_form():
    assert M.rva_auc(np.array([1.0, 0.5])) == 1.0
    assert M.rva_auc(np.array([5.1e8])) == 0.0
    top = np.log10(5.1e8)
    assert M.rva_auc(np.array([1e4])) == pytest.approx((top - 4) / top)
    # The closed form equals the integral of the recall curve over log10(area).
    areas = np.array([3.0, 2e3, 7e5, 4e8])
    x = np.linspace(0, top, 200001)
    rec = M.recall_at_area(areas, 10**x)
    assert M.rva_auc(areas) == pytest.approx(np.trapezoid(rec, x) / top, abs=1e-4)


def test_recall_and_area_quantiles():
    areas = np.array([10.0, 100.0, 1000.0, 10000.0])
    assert M.recall_at_area(areas, [5, 10, 999, 1e6]).tolist() == [0.0, 0.25, 0.5, 1.0]
    assert M.area_at_recall(areas, [0.25, 0.5, 0.51, 1.0]).tolist() == [10.0, 100.0, 1000.0, 10000.0]


def test_disc_areas():
    assert M.disc_area_km2(1.0) == pytest.approx(np.pi, rel=1e-6)
    hemisphere = M.disc_area_km2(np.pi * 6371.0088 / 2)
    assert hemisphere == pytest.approx(510_064_472 / 2, rel=1e-3)
    assert list(M.DISC_AREAS_KM2) == [1, 25, 200, 750, 2500]


def test_summary_schema_and_intervals():
    rng = np.random.default_rng(1)
    areas = 10 ** rng.uniform(0, 8, 500)
    s = M.rva_summary(areas, n_boot=200)
    assert set(s["recall_at_area"]) == {"1e+02", "1e+03", "1e+04", "1e+05", "1e+06"}
    assert set(s["area_at_recall"]) == {"0.25", "0.5", "0.75"}
    auc = s["auc"]
    assert auc["lo"] < auc["value"] < auc["hi"]
    # log-uniform areas over [1, 1e8]: recall at 1e4 is about one half
    assert s["recall_at_area"]["1e+04"]["value"] == pytest.approx(0.5, abs=0.06)
    g = M.gcd_summary(np.array([0.5, 10, 100, 1000, 3000.0]), n_boot=50)
    assert g["accuracy"]["25"]["value"] == 0.4


def test_paired_comparison_identity_and_direction():
    rng = np.random.default_rng(2)
    a = 10 ** rng.uniform(0, 8, 300)
    same = M.paired_comparison(a, a, n_boot=100)
    assert same["auc_difference"]["value"] == 0.0 and same["area_at_50pct_ratio"]["value"] == 1.0
    better = M.paired_comparison(a / 100, a, n_boot=100)
    assert better["auc_difference"]["lo"] > 0 and better["area_at_50pct_ratio"]["hi"] < 1
    assert better["area_at_50pct_ratio"]["value"] == pytest.approx(0.01)


def test_areas_below_a_square_km_count_as_one():
    """With the continuous density a truth at the mode has area near 0 (no floor at its cell's area):
    the AUC counts it as found within 1 km², and such areas never raise recall above 1."""
    assert M.rva_auc(np.array([0.0, 1e-6, 0.9])) == 1.0
    assert M.rva_auc(np.array([0.0, 5.1e8])) == pytest.approx(0.5)
    assert M.recall_at_area(np.array([0.0, 0.5, 1e4]), [1.0, 1e4]).tolist() == [pytest.approx(2 / 3), 1.0]
    assert M.area_at_recall(np.array([0.0, 3.0, 1e4]), [0.3, 1.0]).tolist() == [0.0, 1e4]
