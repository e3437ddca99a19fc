"""AppTest runs of the Locate page: sliders, budget, analyst evidence, exports, uploads, EXIF, URL."""

from __future__ import annotations

import io
import json

import geopandas as gpd
import pytest
from streamlit.testing.v1 import AppTest

from apphelpers import PAGES, jpeg_bytes
from geolocate import view
from geolocate.export import regions_to_geojson

PAGE = str(PAGES / "locate.py")


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _deck(at: AppTest) -> dict:
    charts = at.get("deck_gl_json_chart")
    assert len(charts) == 1
    return json.loads(charts[0].proto.json)


@pytest.fixture
def at() -> AppTest:
    return _run(AppTest.from_file(PAGE, default_timeout=90))


def _with_guess(at: AppTest, text="48.85, 2.35", radius=100.0) -> AppTest:
    at.sidebar.text_input(key="guess").input(text)
    at.sidebar.number_input(key="radius").set_value(radius)
    return _run(at)


def test_defaults_show_priors_map_and_regions(at):
    labels = [s.label.split("  ·  ")[0] for s in at.sidebar.slider]
    assert labels == ["uniform land", "population", "photo density"]
    m = _metrics(at)
    assert int(m["Regions in budget"].replace(",", "")) > 0
    spec = _deck(at)
    assert [layer["id"] for layer in spec["layers"]] == ["density", "budget"]
    assert 0 < len(spec["layers"][0]["data"]) <= view.MAX_MAP_CELLS
    # The budget overlay covers exactly the first "Regions in budget" cells of the ranking.
    import h3
    import shapely

    n = int(m["Regions in budget"].replace(",", ""))
    union = shapely.union_all([shapely.Polygon(d["polygon"]) for d in spec["layers"][1]["data"]])
    centres = [h3.cell_to_latlng(r["h3"]) for r in spec["layers"][0]["data"]]
    inside = shapely.contains(union, shapely.points([c[1] for c in centres], [c[0] for c in centres]))
    assert inside[:n].all() and not inside[n:].any()
    assert not at.error


def test_analyst_evidence_works_without_image_models(at):
    at = _with_guess(at, "-33.87, 151.21", 200.0)
    at.sidebar.multiselect(key="include").select("AUS")
    at.sidebar.multiselect(key="attributes").select("urban")
    _run(at)
    names = [s.label.split("  ·  ")[0] for s in at.sidebar.slider]
    assert names[-3:] == ["analyst guess", "analyst region", "analyst: urban"]
    lat, lon = (float(v) for v in _metrics(at)["Most likely cell"].split(","))
    assert abs(lat + 33.87) < 1.5 and abs(lon - 151.21) < 1.5
    assert float(_metrics(at)["Chance the photo is in them"].rstrip("%")) > 50


def test_weight_slider_changes_the_ensemble(at):
    at = _with_guess(at)
    before_mode = _metrics(at)["Most likely cell"]
    before = _deck(at)["layers"][0]["data"][:50]
    lat, lon = (float(v) for v in before_mode.split(","))
    assert abs(lat - 48.85) < 1 and abs(lon - 2.35) < 1
    at.sidebar.slider(key="w::analyst guess").set_value(0.0)
    _run(at)
    after_mode = _metrics(at)["Most likely cell"]
    lat2, lon2 = (float(v) for v in after_mode.split(","))
    assert abs(lat2 - 48.85) > 1 or abs(lon2 - 2.35) > 1  # the guess no longer drives the map
    assert _deck(at)["layers"][0]["data"][:50] != before
    # The map keeps its view: the initial view state does not move with a slider.
    assert at.session_state["_view"]["latitude"] == pytest.approx(lat, abs=1)


def test_view_state_is_stable_across_slider_moves(at):
    at = _with_guess(at)
    v1 = _deck(at)["initialViewState"]
    at.sidebar.slider(key="w::population").set_value(1.5)
    _run(at)
    assert _deck(at)["initialViewState"] == v1


def test_budget_changes_the_regions(at):
    at = _with_guess(at)
    small = _metrics(at)
    at.sidebar.select_slider(key="budget").set_value(1e5)
    _run(at)
    big = _metrics(at)
    n_small = int(small["Regions in budget"].replace(",", ""))
    n_big = int(big["Regions in budget"].replace(",", ""))
    assert n_big > n_small
    assert float(big["Chance the photo is in them"].rstrip("%")) >= float(small["Chance the photo is in them"].rstrip("%"))
    assert at.session_state["_regions"].total_area_km2 <= 1e5
    assert at.session_state["_regions"].total_area_km2 > 1e4


def test_exports_are_valid_geojson(at):
    at = _with_guess(at, "-17.8, 178.0", 300.0)  # Fiji: regions near the antimeridian
    at.sidebar.select_slider(key="budget").set_value(1e5)
    _run(at)
    regions = at.session_state["_regions"]
    fc = regions_to_geojson(regions)
    gdf = gpd.read_file(io.StringIO(json.dumps(fc)))
    assert len(gdf) == len(regions) > 0
    assert gdf.geometry.is_valid.all()
    assert (gdf.geometry.bounds["maxx"] - gdf.geometry.bounds["minx"] < 10).sum() >= len(gdf) - (gdf.geom_type == "MultiPolygon").sum()
    assert gdf["cum_area_km2"].iloc[-1] <= 1e5
    assert gdf["rank"].tolist() == list(range(1, len(gdf) + 1))
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["GeoJSON", "KML", "CSV"]


def test_refinement_changes_resolution(at):
    at = _with_guess(at)
    at.sidebar.select_slider(key="budget").set_value(1e5)  # res-3 cells (~12,000 km²) must fit
    at.sidebar.select_slider(key="refine").set_value(3)
    _run(at)
    coarse = at.session_state["_regions"]
    at.sidebar.select_slider(key="refine").set_value(7)
    _run(at)
    fine = at.session_state["_regions"]
    assert len(fine) > len(coarse)
    assert fine.area_km2.min() < 10 < coarse.area_km2.min()


def test_expert_selector_shows_one_expert(at):
    at = _with_guess(at)
    at.button_group(key="show").set_value("uniform land") if hasattr(at, "button_group") else None
    _run(at)
    seg = at.get("button_group")
    seg[0].set_value("analyst guess")
    _run(at)
    m = _metrics(at)
    lat, lon = (float(v) for v in m["Most likely cell"].split(","))
    assert abs(lat - 48.85) < 1 and abs(lon - 2.35) < 1
    seg = at.get("button_group")
    seg[0].set_value("population")
    _run(at)
    assert _metrics(at)["Most likely cell"] != m["Most likely cell"]


def test_bad_uploads_give_messages_not_tracebacks(at):
    at.file_uploader(key="photos").set_value([("notes.jpg", b"this is not an image", "image/jpeg"), ("empty.png", b"", "image/png")])
    _run(at)
    errors = [e.value for e in at.error]
    assert "notes.jpg: not an image file this tool can read (supported: JPEG, PNG, WebP, TIFF, BMP, GIF, HEIC/HEIF/AVIF)" in errors, errors
    assert "empty.png: the file is empty (0 bytes)" in errors, errors
    assert _metrics(at)["Regions in budget"]  # the page still works


def test_exif_gps_is_flagged_and_measured(at):
    at.file_uploader(key="photos").set_value(("sydney.jpg", jpeg_bytes(gps=(-33.8568, 151.2153)), "image/jpeg"))
    _run(at)
    warnings = " ".join(w.value for w in at.warning)
    assert "carries its own GPS position" in warnings and "-33.8568" in warnings
    m = _metrics(at)
    assert "Area needed to reach the EXIF position" in m
    spec = _deck(at)
    assert spec["layers"][-1]["id"] == "truth"
    # Telling the ensemble "Sydney" shrinks the area needed to reach the truth.
    need_before = m["Area needed to reach the EXIF position"]
    _with_guess(at, "-33.9, 151.2", 50.0)
    need_after = _metrics(at)["Area needed to reach the EXIF position"]
    assert _km2(need_after) < _km2(need_before) / 100, (need_before, need_after)


def _km2(text: str) -> float:
    t = text.replace(",", "").replace("km²", "").strip()
    return float(t.replace("M", "").strip()) * 1e6 if "M" in t else float(t)


def test_url_query_parameters_restore_the_view():
    at = AppTest.from_file(PAGE, default_timeout=90)
    q = view.encode_query(
        view.ViewParams(weights={"population": 1.5, "analyst guess": 2.0}, budget_km2=1e5, refine=5, evidence=view.AnalystEvidence(point=(35.68, 139.69), radius_km=80.0, include=("JPN",)))
    )
    for k, v in q.items():
        at.query_params[k] = v
    _run(at)
    assert at.sidebar.text_input(key="guess").value == "35.68, 139.69"
    assert at.sidebar.slider(key="w::population").value == 1.5
    assert at.sidebar.slider(key="w::analyst guess").value == 2.0
    assert at.sidebar.select_slider(key="budget").value == 1e5
    assert at.sidebar.select_slider(key="refine").value == 5
    assert at.sidebar.multiselect(key="include").value == ["JPN"]
    lat, lon = (float(v) for v in _metrics(at)["Most likely cell"].split(","))
    assert abs(lat - 35.68) < 1 and abs(lon - 139.69) < 1
    # and the page writes the current view back to the URL
    assert at.query_params["budget"] == ["100000"] or at.query_params["budget"] == "100000"


def test_missing_weights_are_explained_with_the_fix(monkeypatch):
    # The real default backbone (ViT-L-14/openai) is not in this sandbox and hubs are offline.
    monkeypatch.delenv("GEOLOCATE_BACKBONE", raising=False)
    pytest.importorskip("geolocate.image.suite")
    from geolocate.image.suite import weights_status

    missing = [s for s in weights_status() if not s.available]
    if not missing:
        pytest.skip("the image model weights are installed here")
    at = _run(AppTest.from_file(PAGE, default_timeout=90))
    labels = [e.label for e in at.expander]
    assert any(lbl.startswith("Image experts unavailable") for lbl in labels), labels
    assert any(missing[0].fix in c.value for c in at.code if missing[0].fix)
    # Uploading a photo still works: the image experts are skipped with a message, priors carry the map.
    at.file_uploader(key="photos").set_value(("p.jpg", jpeg_bytes(), "image/jpeg"))
    _run(at)
    assert any("unavailable" in i.value for i in at.info)
    assert int(_metrics(at)["Regions in budget"].replace(",", "")) > 0


def test_photo_with_tiny_random_backbone_adds_labelled_image_experts(at):
    pytest.importorskip("geolocate.image.suite")
    at.file_uploader(key="photos").set_value([("a.jpg", jpeg_bytes(), "image/jpeg"), ("b.jpg", jpeg_bytes(colour=(200, 200, 220)), "image/jpeg")])
    _run(at)
    names = [s.label.split("  ·  ")[0] for s in at.sidebar.slider]
    image_names = [n for n in names if "RANDOM" in n]
    assert image_names, names  # clearly labelled random experts
    assert any("random" in w.value.lower() for w in at.warning)
    assert int(_metrics(at)["Regions in budget"].replace(",", "")) > 0
