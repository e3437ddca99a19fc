"""AppTest runs of the entry point, the Benchmark page and the Layers page."""

from __future__ import annotations

import pytest
from apphelpers import PAGES, REPO
from streamlit.testing.v1 import AppTest


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_entry_point_opens_on_locate():
    at = _run(AppTest.from_file(str(REPO / "app.py"), default_timeout=180))
    assert at.title[0].value == "Locate a photo"
    assert [m.label for m in at.metric][:3] == ["Regions in budget", "Chance the photo is in them", "Their total area"]


@pytest.mark.shared
def test_benchmark_page_runs_rva(shared_data, monkeypatch):
    monkeypatch.setenv("GEOLOCATE_DATA_DIR", str(shared_data))
    at = _run(AppTest.from_file(str(PAGES / "benchmark.py"), default_timeout=180))
    assert at.selectbox[0].options[0].startswith("im2gps3k")
    at.number_input[0].set_value(60)
    at.multiselect[0].set_value(["photo density", "base_L-m"])
    _run(at)
    at.button[0].click()
    _run(at)
    assert not at.error, [e.value for e in at.error]
    summary = at.dataframe[0].value
    assert summary["expert"].tolist() == ["ensemble", "photo density", "base_L-m"]
    auc = summary["AUC [95% CI]"].str.split().str[0].astype(float)
    assert ((auc > 0) & (auc < 1)).all()
    recall, mode, raw = (at.dataframe[i].value for i in (1, 2, 3))
    assert recall.columns[1:].str.startswith("within ").all() and recall["expert"][0] == "ensemble"
    assert "25 km" in mode.columns and mode["expert"].tolist() == ["ensemble", "photo density", "base_L-m"]
    assert raw["expert"].tolist() == ["base_L-m"]  # raw coordinates: point models only
    charts = at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    assert len(charts) == 1


def test_benchmark_page_with_empty_folder_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOLOCATE_DATA_DIR", str(tmp_path))
    at = _run(AppTest.from_file(str(PAGES / "benchmark.py"), default_timeout=120))
    assert any("No benchmarks found" in w.value for w in at.warning)


@pytest.fixture
def data_dirs(toy_bench, tmp_path, monkeypatch):
    """Two allowed data folders (the first holds the toy benchmark) and an outside folder with a secret CSV."""
    import shutil

    allowed, other, outside = tmp_path / "allowed", tmp_path / "other", tmp_path / "outside"
    shutil.copytree(toy_bench.root / "toy", allowed / "toy")
    other.mkdir()
    (outside / "leak").mkdir(parents=True)
    (outside / "leak" / "gt.csv").write_text("IMG_ID,LAT,LON,SECRET_COLUMN\na.jpg,1,2,s3cr3t\n")
    monkeypatch.delenv("GEOLOCATE_DATA_DIR", raising=False)
    monkeypatch.delenv("GEOLOCATE_WORKSHOP", raising=False)
    monkeypatch.setenv("GEOLOCATE_DATA_DIRS", f"{allowed}:{other}")
    return allowed, other, outside


def _all_text(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "code", "text", "error", "warning", "info", "caption") for e in at.get(kind)]
    parts += [str(o) for s in at.selectbox for o in s.options]
    return "\n".join(map(str, parts))


def test_benchmark_page_refuses_folders_outside_the_data_dirs(data_dirs, tmp_path):
    allowed, other, outside = data_dirs
    (allowed / "escape").symlink_to(outside, target_is_directory=True)
    at = _run(AppTest.from_file(str(PAGES / "benchmark.py"), default_timeout=120))
    assert at.text_input[0].value == str(allowed)  # the first data folder is the default
    assert at.selectbox[0].options[0].startswith("toy")
    for typed in (str(outside), f"{allowed}/../outside", str(allowed / "escape"), "/etc", "", "not/a/dir\x00"):
        at.text_input[0].set_value(typed)
        _run(at)
        assert at.error and "only reads benchmarks inside its data folders" in at.error[0].value, typed
        assert not at.selectbox and not at.button, typed  # nothing of the folder is read or offered
        assert "SECRET_COLUMN" not in _all_text(at) and "leak" not in _all_text(at)
    # The typed text is shown verbatim in a code block, never as Markdown.
    at.text_input[0].set_value("![x](http://127.0.0.1:9/pixel.png)")
    _run(at)
    assert at.code[0].value == "![x](http://127.0.0.1:9/pixel.png)"
    assert all("pixel.png" not in m.value for m in at.markdown)
    at.text_input[0].set_value(str(other))  # the second allowed folder: read, and empty
    _run(at)
    assert not at.error and any("No benchmarks found" in w.value for w in at.warning)


def test_benchmark_page_runs_one_benchmark_at_a_time(data_dirs):
    from geolocate import settings

    at = _run(AppTest.from_file(str(PAGES / "benchmark.py"), default_timeout=120))
    at.multiselect[0].set_value(["off"])
    _run(at)
    with settings.HEAVY_RUN.take() as got:  # another session's run holds the server's slot
        assert got
        at.button[0].click()
        _run(at)
        assert any("A benchmark is running on this server" in w.value for w in at.warning)
        assert not at.dataframe and "bench_result" not in at.session_state
    assert not settings.HEAVY_RUN.busy()
    at.button[0].click()
    _run(at)
    assert not at.warning and not at.error, [e.value for e in at.error]
    assert at.dataframe[0].value["expert"].tolist() == ["ensemble", "off"]  # the ensemble first
    assert not settings.HEAVY_RUN.busy()  # released after the run


def test_benchmark_page_results_ensemble_first_figures_n_downloads_citation(data_dirs):
    import re

    from geolocate import __version__

    at = _run(AppTest.from_file(str(PAGES / "benchmark.py"), default_timeout=120))
    at.multiselect[0].set_value(["photo density", "exact", "off"])
    _run(at)
    # Before the run the form says how many of the photos will be evaluated (the toy's 12 split by photographer).
    assert any(re.fullmatch(r"12 photos: \*\*\d+ are evaluated\*\* \(the eval half, split by photographer\); the other \d+ fit .*", c.value) for c in at.caption), [c.value for c in at.caption]
    at.button[0].click()
    _run(at)
    assert not at.error, [e.value for e in at.error]
    cfg, result = at.session_state["bench_result"]
    summary = at.dataframe[0].value
    assert summary["expert"].tolist() == ["ensemble", "photo density", "exact", "off"]
    assert summary["AUC [95% CI]"].tolist()[0] == "1.00 [1.00-1.00]"  # the ensemble holds the exact model: 3 figures, not 1.0000
    assert all(re.fullmatch(r"0\.\d{3} \[0\.\d{3}-0\.\d{3}\]", v) for v in summary["AUC [95% CI]"].tolist()[-1:]), summary["AUC [95% CI]"].tolist()
    area = summary["area for 50% recall [95% CI]"]
    assert all(re.fullmatch(r"[\d.,]+( [kM])? km² \[[\d.,]+-[\d.,]+( [kM])?\]", v) for v in area), area.tolist()
    n = result.report["split"]["eval"]
    assert any(m.value == f"**n = {n} evaluated photos \\(eval half of 12, split by photographer\\)** of the toy benchmark." for m in at.markdown), [m.value for m in at.markdown]
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Report (JSON)", "Curves (CSV)", "Plot (PNG)", "Plot (SVG)"]
    text, bibtex = (c.value for c in at.code[-2:])
    assert "Bianco" in text and f"geolocate {__version__} on toy" in text and re.search(r"SHA-256 of its 3 data files: [0-9a-f]{64}\)", text)
    assert bibtex.startswith("@inproceedings{")


def test_benchmark_page_second_session_with_the_same_settings_runs(data_dirs):
    # A cached run used to replay the first session's progress bar into the second: an error instead of results.
    for _ in range(2):
        at = _run(AppTest.from_file(str(PAGES / "benchmark.py"), default_timeout=120))
        at.multiselect[0].set_value(["off"])
        _run(at)
        at.button[0].click()
        _run(at)
        assert not at.error, [e.value for e in at.error]
        assert at.dataframe[0].value["expert"].tolist() == ["ensemble", "off"]


def test_benchmark_page_workshop_mode_caps_runs(data_dirs, monkeypatch):
    monkeypatch.setenv("GEOLOCATE_WORKSHOP", "1")
    monkeypatch.setenv("GEOLOCATE_WORKSHOP_MAX_SAMPLES", "10")
    at = _run(AppTest.from_file(str(PAGES / "benchmark.py"), default_timeout=120))
    assert any("Workshop mode" in i.value for i in at.info)
    assert at.toggle[0].proto.disabled  # no weight fitting
    photos = at.number_input[0]
    assert photos.label == "Photos to use" and photos.max == 10 and photos.value == 10
    at.multiselect[0].set_value(["off"])
    _run(at)
    at.button[0].click()
    _run(at)
    assert not at.error, [e.value for e in at.error]
    cfg, result = at.session_state["bench_result"]
    assert cfg[4] is False and cfg[5] == 10
    assert result.report["n_images"] == 10


@pytest.mark.parametrize("layer", ["Land cover (MODIS IGBP)", "Population density (GeoNames)", "Countries (Natural Earth)", "Scene: indoor / natural / urban"])
def test_layers_page_draws_each_layer(layer):
    at = _run(AppTest.from_file(str(PAGES / "layers.py"), default_timeout=180))
    at.radio[0].set_value(layer)
    _run(at)
    from apphelpers import map_layers, map_spec

    assert not at.warning, [w.value for w in at.warning]  # the shipped layers are in the repository: each must draw
    assert not at.get("deck_gl_json_chart")  # one map backend: the deck.gl component
    assert not at.json and not at.get("json")  # nothing printed by Streamlit's magic (the basemap once was)
    spec = map_spec(at)
    layers = {layer["id"]: layer["data"] for layer in map_layers(at)["layers"]}
    data = layers["density"]
    assert 500 < len(data) < 6000  # res 2, land cells only
    assert len(layers["borders"]) > 100 and layers["city_labels"]  # the offline basemap under the layer
    classes = {d["label"].rsplit(" (", 1)[0] for d in data}
    assert len(classes) >= 2  # scene: "indoor" is never the dominant class of a hexagon
    assert all(d["label"].endswith("% of the hexagon)") for d in data)
    assert "prob" not in spec["density"]  # a category map: labels on hover, no probabilities


def test_layers_page_without_the_component_draws_the_same_map_with_pydeck(monkeypatch):
    import json

    import pages._deckmap as deckmap

    monkeypatch.setattr(deckmap, "available", lambda: False)
    at = _run(AppTest.from_file(str(PAGES / "layers.py"), default_timeout=180))
    (chart,) = at.get("deck_gl_json_chart")
    spec = json.loads(chart.proto.json)
    density = next(layer for layer in spec["layers"] if layer["id"] == "density")
    assert 500 < len(density["data"]) < 6000 and all(d["label"].endswith("% of the hexagon)") for d in density["data"])
    assert spec["mapStyle"] == "__MAP_STYLE__" and "html" not in chart.proto.tooltip  # labels are plain text
