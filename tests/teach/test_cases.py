"""Cases: Flickr addresses, guess scoring (hand-solved distances and areas), one case's maps and areas,
the all-images table, case lists."""

from __future__ import annotations

import math

import numpy as np
import pytest

from geolocate.data import discover_benchmarks
from geolocate.teach import cases

R = 6371.0088


@pytest.fixture(scope="module")
def toy(toy_bench):
    book = cases.load_casebook(toy_bench.spec(), priors=["uniform land"])
    return book, toy_bench.ids, toy_bench.lat, toy_bench.lon


def test_toy_benchmark_files_are_what_its_generator_writes(toy_bench):
    for rel, text in toy_bench.data.files().items():
        assert (toy_bench.root / "toy" / rel).read_text() == text, f"run python tests/data/toy/data.py ({rel} differs)"


def test_flickr_address_from_file_name():
    p = cases.flickr_photo("1000269685_e60e9cdfb4_1125_78841376@N00.jpg")
    assert p.image_url == "https://live.staticflickr.com/1125/1000269685_e60e9cdfb4.jpg"
    assert p.page_url == "https://www.flickr.com/photos/78841376@N00/1000269685"
    assert cases.flickr_photo("1000269685_e60e9cdfb4_1125.jpg").page_url is None
    assert cases.flickr_photo("IMG_0001.jpg") is None
    assert cases.flickr_photo("../etc/passwd") is None


def test_guess_one_degree_along_the_equator():
    # d = R * pi / 180; area of the cap = 2 pi R^2 (1 - cos 1°) = 38,842.75 km² (a flat disc would be 38,843.6)
    s = cases.score_guess((0.0, 0.0), (0.0, 1.0))
    assert s.distance_km == pytest.approx(111.19508, abs=1e-4)
    assert s.area_km2 == pytest.approx(38842.75, abs=0.05)
    assert s.in_budget is None
    assert s.points == pytest.approx(100 * (math.log10(5.1e8) - math.log10(38842.75)) / math.log10(5.1e8), abs=1e-6)
    assert cases.score_guess((0.0, 0.0), (0.0, 1.0), budget_km2=4e4).in_budget is True
    assert cases.score_guess((0.0, 0.0), (0.0, 1.0), budget_km2=3.8e4).in_budget is False


def test_guess_at_the_antipode_needs_the_whole_earth():
    s = cases.score_guess((10.0, 20.0), (-10.0, -160.0), budget_km2=1e6)
    assert s.distance_km == pytest.approx(math.pi * R, rel=1e-7)  # 20,015.11 km (haversine loses digits near the antipode)
    assert s.area_km2 == pytest.approx(4 * math.pi * R**2, rel=1e-9)  # 5.1007e8 km²
    assert s.points == 0.0 and s.in_budget is False


def test_guess_on_the_truth_scores_full_points_and_bad_input_is_refused():
    assert cases.score_guess((48.85, 2.35), (48.85, 2.35)).points == 100.0
    with pytest.raises(ValueError, match="latitude"):
        cases.score_guess((91.0, 0.0), (0.0, 0.0))
    with pytest.raises(ValueError, match="budget"):
        cases.score_guess((0.0, 0.0), (0.0, 1.0), budget_km2=0)


def test_one_case_exact_model_finds_the_truth_first(toy):
    book, ids, lat, lon = toy
    c = cases.evaluate_case(book, ids[3])
    t = c.table.set_index("expert")
    assert c.truth == (lat[3], lon[3])
    assert list(t.index) == ["ensemble", "uniform land", "exact", "off", "scene (gt)"]
    # The exact model's densest cell holds the truth: rank 1 in the drawn map, the area of one res-6 cell (~36 km²).
    assert t.loc["exact", "rank"] == 1
    alone = dict.fromkeys(c.ensemble.names, 0.0) | {"exact": 1.0}
    assert 20 < cases.area_to_truth(c.ensemble, lat[3], lon[3], alone, cases.AreaMethod.MAP) < 60
    assert t.loc["exact", "distance_km"] == pytest.approx(0.0, abs=1e-6)
    # 5° of latitude south of the truth: 555.97 km, and a far larger area than the exact model's.
    assert t.loc["off", "distance_km"] == pytest.approx(5 * math.pi * R / 180, rel=1e-6)
    assert t.loc["off", "area_km2"] > 100 * t.loc["exact", "area_km2"]
    assert c.summary()["photo_url"] == "https://live.staticflickr.com/63/5003_0a1b2c0003.jpg"
    assert c.scene == dict(zip(("indoor", "natural", "urban"), (0.2, 0.3, 0.5)))  # SCENES[3 % 3]
    assert set(c.scene) == {"indoor", "natural", "urban"} and sum(c.scene.values()) == pytest.approx(1.0)
    with pytest.raises(KeyError, match="no image"):
        cases.evaluate_case(book, "nope.jpg")


def test_one_area_api_with_an_explicit_method(toy):
    book, ids, lat, lon = toy
    k = 4
    c = cases.evaluate_case(book, ids[k])
    ens = c.ensemble
    one = {n: np.eye(len(ens.names))[i] for i, n in enumerate(ens.names)}
    t = c.table.set_index("expert")
    assert c.table.attrs["area_method"] == "converged"
    for name in ("exact", "off", "uniform land"):
        conv = cases.area_to_truth(ens, lat[k], lon[k], one[name], cases.AreaMethod.CONVERGED)
        # The case's table holds the converged number, as the benchmark computes it.
        assert conv == ens.area_to_truth(lat[k], lon[k], one[name]).area_km2 == t.loc[name, "area_km2"]  # the benchmark's finest
        mapped = cases.area_to_truth(ens, lat[k], lon[k], one[name], "map")
        assert mapped == c.distribution(name).area_to_contain(lat[k], lon[k])  # the very map drawn
        base = cases.area_to_truth(ens, lat[k], lon[k], one[name], cases.AreaMethod.BASE_GRID)
        assert base == ens.expert_distribution(name).area_to_contain(lat[k], lon[k])
    # The exact model on its drawn map: the truth's res-6 cell (~36 km²); on the base grid a whole res-3
    # cell (~12,000 km²).
    _, mapped, base = (cases.area_to_truth(ens, lat[k], lon[k], one["exact"], m) for m in cases.AreaMethod)
    assert 20 < mapped < 60 and 5e3 < base < 2.5e4
    with pytest.raises(ValueError):
        cases.area_to_truth(ens, lat[k], lon[k], one["exact"], "nearest")


def test_converged_area_of_an_exact_model_is_about_zero(toy):
    book, ids, lat, lon = toy
    ens = book.ensemble(ids[4])
    alone = dict.fromkeys(ens.names, 0.0) | {"exact": 1.0}
    # The truth is the kernel's centre: no place is denser (the converged area is the super-level set).
    assert cases.area_to_truth(ens, lat[4], lon[4], alone, cases.AreaMethod.CONVERGED) < 10.0


def test_case_table_converged_method_matches_the_cases(toy, tmp_path, monkeypatch):
    monkeypatch.setenv("GEOLOCATE_CACHE_DIR", str(tmp_path))
    book, ids, lat, lon = toy
    table = cases.case_table(book, chunk=5, method=cases.AreaMethod.CONVERGED)
    assert table.attrs["area_method"] == "converged"
    for k in (0, 7):
        c = cases.evaluate_case(book, ids[k])
        for name, area in c.model_areas().items():
            assert table.loc[ids[k], name] == pytest.approx(area, rel=1e-9), name
    with pytest.raises(ValueError, match="drawing"):
        cases.case_table(book, method=cases.AreaMethod.MAP)
    assert len(list(tmp_path.glob("cases_toy_*.npz"))) == 1  # stored under its own key


def test_case_table_matches_each_case_on_the_base_grid(toy, tmp_path, monkeypatch):
    monkeypatch.setenv("GEOLOCATE_CACHE_DIR", str(tmp_path))
    book, ids, lat, lon = toy
    table = cases.case_table(book, chunk=5)
    assert list(table.index) == ids
    assert {"uniform land", "exact", "off", "scene (gt)", "ensemble", "gain"} <= set(table.columns)
    assert table.attrs["best_single"] == "exact" and table.attrs["area_method"] == "base grid"
    np.testing.assert_allclose(table["gain"], np.log10(table["ensemble"] / table["exact"]))
    # The same areas through Ensemble/CellDistribution, unrefined, for one image.
    k = 5
    ens = book.ensemble(ids[k])
    for name in ("exact", "off"):
        want = ens.expert_distribution(name).area_to_contain(lat[k], lon[k])
        assert table.loc[ids[k], name] == pytest.approx(want, rel=2e-3)
    want = ens.distribution({n: book.weights[n] for n in ens.names}).area_to_contain(lat[k], lon[k])
    assert table.loc[ids[k], "ensemble"] == pytest.approx(want, rel=2e-3)
    # Stored on disk and read back identically.
    assert len(list(tmp_path.glob("cases_toy_*.npz"))) == 1
    again = cases.case_table(book)
    np.testing.assert_array_equal(again["ensemble"], table["ensemble"])
    helps, hurts = cases.extremes(table, k=3)
    assert table.loc[helps, "gain"].max() <= table["gain"].drop(helps).min()
    assert table.loc[hurts, "gain"].min() >= table["gain"].drop(hurts).max()
    marks = cases.case_marks(table, ids[k], ["exact", "ensemble"])
    assert marks["area_km2"].tolist() == [table.loc[ids[k], "exact"], table.loc[ids[k], "ensemble"]]
    assert ((marks["recall"] > 0) & (marks["recall"] <= 1)).all()
    curves = cases.rva_curves(table, ["exact", "ensemble"])
    assert set(curves["expert"]) == {"exact", "ensemble"} and curves["recall"].max() == 1.0


@pytest.mark.parametrize(
    "text, title, ids",
    [
        ("a.jpg, b.jpg\nc.jpg a.jpg", None, ["a.jpg", "b.jpg", "c.jpg"]),
        ('["a.jpg", "b.jpg"]', None, ["a.jpg", "b.jpg"]),
        ('{"title": "Week 3", "cases": ["x.jpg"]}', "Week 3", ["x.jpg"]),
    ],
)
def test_case_lists(text, title, ids):
    assert cases.read_case_list(text) == (title, ids)


@pytest.mark.parametrize("text, msg", [("", "empty"), ("{bad", "not valid JSON"), ('{"cases": 3}', "expected"), (",".join(map(str, range(60))), "at most 50")])
def test_bad_case_lists_say_why(text, msg):
    with pytest.raises(ValueError, match=msg):
        cases.read_case_list(text)


@pytest.mark.shared
def test_im2gps3k_case(shared_data):
    spec = next(s for s in discover_benchmarks(shared_data) if s.name == "im2gps3k")
    book = cases.load_casebook(spec, max_samples=40)
    first = "1000269685_e60e9cdfb4_1125_78841376@N00.jpg"
    c = cases.evaluate_case(book, first)
    assert c.truth == (32.325436, -64.764404)
    assert c.photo.image_url == "https://live.staticflickr.com/1125/1000269685_e60e9cdfb4.jpg"
    t = c.table.set_index("expert")
    # ISNs predicted (26.193849, -77.825306): 1,437.19 km in the file's own distance column.
    assert t.loc["ISNs_M-fstar-S3", "distance_km"] == pytest.approx(1437.19, abs=1.0)
    assert c.scene["urban"] == pytest.approx(0.6806452318211216)


def test_casebook_mixtures_come_from_the_disk_cache_on_a_second_load(toy_bench, tmp_path, monkeypatch):
    """The fitted error mixtures are stored once; a new process's casebook reads them (no EM) and gets the
    same numbers; a changed prediction file is fitted again."""
    import shutil

    from geolocate.experts import point

    monkeypatch.setenv("GEOLOCATE_CACHE_DIR", str(tmp_path / "cache"))
    shutil.copytree(toy_bench.root / toy_bench.name, tmp_path / "data" / toy_bench.name)  # a copy: this test edits a file
    spec = next(s for s in discover_benchmarks(tmp_path / "data") if s.name == toy_bench.name)
    first = cases.load_casebook(spec)
    fitted = {e.name: e.weights.copy() for e in first.experts if isinstance(e, point.PointPredictions)}
    assert set(fitted) == {"exact", "off"} and list((tmp_path / "cache").glob("casebook_toy_*.npz"))

    def no_em(*a, **k):
        raise AssertionError("fitted again instead of read from the cache")

    monkeypatch.setattr(point, "fit_scale_mixture", no_em)
    again = cases.load_casebook(spec)
    for e in again.experts:
        if isinstance(e, point.PointPredictions):
            np.testing.assert_array_equal(e.weights, fitted[e.name])
    off = next(p for p in spec.predictions if p.name == "off.csv")
    off.write_text(off.read_text().replace("-5.0,", "-4.0,", 1))  # another prediction: another key
    with pytest.raises(AssertionError, match="fitted again"):
        cases.load_casebook(spec)
