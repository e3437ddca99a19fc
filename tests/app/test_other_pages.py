"""AppTest runs of the entry point, the Benchmark page and the Layers page."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from apphelpers import PAGES, REPO


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_entry_point_opens_on_locate():
    at = _run(AppTest.from_file(str(REPO / "app.py"), default_timeout=90))
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
    assert summary["expert"].tolist() == ["photo density", "base_L-m", "ensemble"]
    auc = summary["AUC [95% CI]"].str.split().str[0].astype(float)
    assert ((auc > 0) & (auc < 1)).all()
    gcd = at.dataframe[1].value
    assert "mode 25km" in gcd.columns and "raw prediction 25km" in gcd.columns
    charts = at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    assert len(charts) == 1


def test_benchmark_page_with_empty_folder_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOLOCATE_DATA_DIR", str(tmp_path))
    at = _run(AppTest.from_file(str(PAGES / "benchmark.py"), default_timeout=60))
    assert any("No benchmarks found" in w.value for w in at.warning)


@pytest.mark.parametrize("layer", ["Land cover (MODIS IGBP)", "Population density (GeoNames)", "Countries (Natural Earth)", "Scene: indoor / natural / urban"])
def test_layers_page_draws_each_layer(layer):
    at = _run(AppTest.from_file(str(PAGES / "layers.py"), default_timeout=90))
    at.radio[0].set_value(layer)
    _run(at)
    import json

    charts = at.get("deck_gl_json_chart")
    if not charts:  # a missing layer file must be a warning with its fix
        assert at.warning and "not available" in at.warning[0].value
        return
    spec = json.loads(charts[0].proto.json)
    data = spec["layers"][0]["data"]
    assert 500 < len(data) < 6000  # res 2, land cells only
    assert len({d["cls"] for d in data}) >= 2  # scene: "indoor" is never the dominant class of a hexagon
