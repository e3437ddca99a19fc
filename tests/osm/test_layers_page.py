"""The Layers page lists the imported OpenStreetMap extracts and draws their coverage."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "layers.py")


def test_layers_page_shows_the_helsinki_extract_and_its_coverage(store_dir, monkeypatch):
    monkeypatch.setenv("GEOLOCATE_OSM_STORE", str(store_dir))
    monkeypatch.chdir(Path(PAGE).parents[1])
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    table = next(df.value for df in at.dataframe if "extract" in df.value.columns)
    assert list(table["extract"]) == ["Helsinki"] and int(table["features"][0]) > 1000
    assert any("Covered area: 1.9 km²" in c.value for c in at.caption)


def test_layers_page_without_an_extract_says_how_to_import_one(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOLOCATE_OSM_STORE", str(tmp_path / "none"))
    monkeypatch.chdir(Path(PAGE).parents[1])
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    assert not at.exception
    assert any("python -m geolocate osm import" in c.value for c in at.caption)
