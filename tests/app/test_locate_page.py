"""AppTest runs of the Locate page: sliders, budget, analyst evidence, exports, uploads, EXIF, URL."""

from __future__ import annotations

import io
import json
import re

import geopandas as gpd
import numpy as np
import pytest
from apphelpers import PAGES, jpeg_bytes, map_layers, shown_text
from streamlit.testing.v1 import AppTest

from geolocate import evidence, share
from geolocate.export import regions_to_geojson
from geolocate.maps import data as mapdata

PAGE = str(PAGES / "locate.py")


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _deck(at: AppTest) -> dict:
    assert not at.get("deck_gl_json_chart")  # the map is the deck.gl component, not st.pydeck_chart
    return map_layers(at)


def _layer(spec: dict, layer_id: str) -> dict:
    return next(layer for layer in spec["layers"] if layer["id"] == layer_id)


def _status(at: AppTest) -> tuple[list[str], list[str]]:
    """(the status lines under the title, the plain texts in its "Details" expander)."""
    lines = [c.value for c in at.main.caption if c.value.startswith("Analysed")]
    details = [e for e in at.expander if e.label.startswith("Details")]
    assert len(details) == 1, [e.label for e in at.expander]
    return lines, [t.value for t in details[0].text]


def _mode(at: AppTest) -> tuple[float, float]:
    lat, lon = (float(v) for v in _metrics(at)["Most likely region"].split(","))
    return lat, lon


@pytest.fixture
def at() -> AppTest:
    return _run(AppTest.from_file(PAGE, default_timeout=90))


def _with_guess(at: AppTest, text="48.85, 2.35", radius=100.0) -> AppTest:
    at.sidebar.text_input(key="guess").input(text)
    at.sidebar.number_input(key="radius").set_value(radius)
    return _run(at)


def test_defaults_show_priors_map_and_regions(at):
    labels = [s.label for s in at.main.slider]
    assert labels == ["uniform land · prior", "population · prior", "photo density · prior"]
    m = _metrics(at)
    assert int(m["Regions in budget"].replace(",", "")) > 0
    spec = _deck(at)
    assert [layer["id"] for layer in spec["layers"]] == ["context", "density", "borders", "budget_halo", "budget", "city_dots", "city_labels"]
    assert 0 < len(_layer(spec, "density")["data"]) <= mapdata.MAX_MAP_CELLS
    assert len(_layer(spec, "context")["data"]) == 842  # world view: the whole globe at res 1
    assert spec["tiles"] is None  # privacy mode (offline): no tiles for the browser to fetch
    labels = _layer(spec, "city_labels")["data"]
    assert len(_layer(spec, "borders")["data"]) > 100 and labels[0]["name"] == "Shanghai" and len(labels) >= 10  # (G2: labels carry min_zoom)
    # The budget outline encloses exactly the first "Regions in budget" cells of the ranking.
    import h3
    import shapely

    n = int(m["Regions in budget"].replace(",", ""))
    union = shapely.union_all([shapely.Polygon(d["path"]) for d in _layer(spec, "budget")["data"]])
    centres = [h3.cell_to_latlng(r["h3"]) for r in _layer(spec, "density")["data"]]
    inside = shapely.contains(union, shapely.points([c[1] for c in centres], [c[0] for c in centres]))
    assert inside[:n].all() and not inside[n:].any()
    assert not at.error


def test_priors_only_is_not_presented_as_an_answer(at):
    assert _metrics(at)["Most likely region"] == "n/a: priors only"
    lines, _ = _status(at)
    assert [shown_text(x) for x in lines] == ["Analysed: nothing yet: the map says where photos are usually taken (priors). Missing: a photo."]


def test_status_is_one_line_with_plain_details_and_no_paths(monkeypatch):
    """One status line under the title; every other note is plain text in "Details", without server folders."""
    import pages._shared as shared

    monkeypatch.setattr(shared, "_weights_status", lambda backbone: [type("S", (), {"name": "GeoCLIP", "available": False, "detail": "missing /root/.cache/geolocate/weights/geoclip/img.pt", "fix": "python -m geolocate weights fetch geoclip"})()])
    at = AppTest.from_file(PAGE, default_timeout=90)
    at.query_params["radius"] = "99999"
    at.query_params["guess"] = "48.85,2.35"
    _run(at)
    lines, details = _status(at)
    assert len(lines) == 1
    line = shown_text(lines[0])
    assert line.startswith("Analysed: your evidence (analyst guess). Missing: a photo; image models GeoCLIP (weights not on this server)"), line
    assert any("radius 99999 km" in t for t in details) and any("GeoCLIP: missing …/img.pt" == t for t in details), details
    assert not any("/root" in t for t in details)
    details_box = next(e for e in at.expander if e.label.startswith("Details"))
    assert [c.value for c in details_box.code] == ["python -m geolocate weights fetch geoclip"]
    assert details_box.code[0].language in (None, "", "plaintext")  # no highlighting ("then" is not Python)
    assert not at.warning and not at.info and not at.error  # nothing stacks above the map
    # The status sits right under the title, above the map.
    top = [e for e in at.main if type(e).__name__ not in ("SpecialBlock", "UnknownElement")]  # (style, loading placeholder)
    assert type(top[0]).__name__ == "Title" and top[1].caption[0].value == lines[0], top[:2]


def test_legend_shows_real_values(at):
    legend = at.get("html")[0].proto.body
    assert "Probability per km² (log scale)" in legend
    assert legend.count("10<sup>") >= 4  # powers of ten along the ramp, plus near-zero and not-drawn
    assert "near zero" in legend and "not drawn" in legend and "area budget (10,000 km²)" in legend


def test_top_regions_list_names_places(at):
    at = _with_guess(at, "48.85, 2.35", 50.0)
    frames = [d.value for d in at.dataframe]
    i = next(i for i, d in enumerate(frames) if "near" in d.columns)
    df = frames[i]
    # The candidate areas (pages/_candidates.py) come first, above the table, when installed.
    assert "candidate area" not in frames[0].columns or i > 0
    assert list(df.columns) == ["#", "near", "lat, lon", "probability", "area", "cumulative probability", "cumulative area"]
    assert len(df) == 10
    assert all("France" in p and "Paris" in p for p in df["near"][:3]), df["near"].tolist()
    lat, lon = (float(v) for v in df["lat, lon"][0].split(","))
    assert abs(lat - 48.85) < 0.5 and abs(lon - 2.35) < 0.5
    assert not any(p == "0.0%" for p in df["probability"])


def test_terms_are_explained_and_labels_do_not_repeat(at):
    at.multiselect(key="attributes").select("forest")
    _run(at)
    labels = [s.label for s in at.main.slider]
    assert "analyst: forest" in labels and not any("analyst: analyst" in lbl for lbl in labels)
    details = next(e for e in at.expander if e.label.startswith("Details"))
    assert any("regions (H3 cells" in c.value for c in details.caption)


def test_map_shows_is_a_dropdown_beyond_five_experts(at):
    at = _with_guess(at)
    at.multiselect(key="attributes").select("forest")
    _run(at)
    assert len(at.main.slider) == 5 and at.get("button_group") and not [b for b in at.selectbox if b.label == "Map shows"]
    at.multiselect(key="attributes").select("urban")
    _run(at)
    assert len(at.main.slider) == 6 and not at.get("button_group")
    (box,) = [b for b in at.selectbox if b.label == "Map shows"]
    assert box.options[0] == "ensemble" and "analyst: urban" in box.options and len(box.options) == 7
    box.set_value("analyst guess")
    _run(at)
    assert at.session_state["_shown"] == "analyst guess"
    lat, lon = _mode(at)
    assert abs(lat - 48.85) < 1 and abs(lon - 2.35) < 1


def test_map_click_is_kept_for_the_panel_and_reruns_the_app(monkeypatch):
    """A click on the main map lands in session state (MAP_CLICK) and a full rerun lets the panel use it once."""
    import pages._deckmap as deckmap
    from pages import _state as K

    calls = []
    real = deckmap.deck_map

    def clicked(spec, key):
        calls.append(spec["click"])
        real(spec, key)
        return {"lat": 21.97, "lon": -159.37, "n": 1} if key == K.MAP else None

    monkeypatch.setattr(deckmap, "deck_map", clicked)
    at = _run(AppTest.from_file(PAGE, default_timeout=90))
    assert calls and all(calls)  # the map asks the component for clicks
    assert at.session_state[K.MAP_CLICK] == {"lat": 21.97, "lon": -159.37, "n": 1}
    assert at.session_state[K.CLICK_N] == 1
    # The rerun reached the sidebar's analyst panel: the click became the guess (its default use).
    assert at.sidebar.text_input(key="guess").value.startswith("21.97"), at.sidebar.text_input(key="guess").value
    assert "analyst guess" in [s.label for s in at.main.slider]
    n_runs = len(calls)
    _run(at)  # the same click again: no further full rerun
    assert len(calls) == n_runs + 1


def test_all_weights_zero_gives_one_message(at):
    for s in at.main.slider:
        s.set_value(0.0)
    _run(at)
    assert [i.value for i in at.info] == ["All weights are 0: no expert has a say, so every place is equally likely. Raise a slider to rank regions."]
    assert not at.warning and not at.error
    assert _metrics(at)["Most likely region"] == "none (all equal)"


def test_natural_scene_alone_has_no_clear_peak(at):
    at.multiselect(key="attributes").select("natural scene")
    _run(at)
    at.get("button_group")[0].set_value("analyst: natural scene")
    _run(at)
    assert _metrics(at)["Most likely region"] == "no clear peak"


def test_single_expert_view_fits_its_own_camera_and_back(at):
    at = _with_guess(at, "-33.87, 151.21", 100.0)
    seg = at.get("button_group")[0]
    seg.set_value("population")
    _run(at)
    pop_view = _deck(at)["initialViewState"]
    assert len(_layer(_deck(at), "density")["data"]) > 0
    at.get("button_group")[0].set_value("analyst guess")
    _run(at)
    v = _deck(at)["initialViewState"]
    assert abs(v["latitude"] + 33.87) < 2 and abs(v["longitude"] - 151.21) < 2 and v != pop_view
    at.get("button_group")[0].set_value("ensemble")
    _run(at)
    spec = _deck(at)
    assert len(_layer(spec, "density")["data"]) > 0 and abs(spec["initialViewState"]["latitude"] + 33.87) < 3
    assert at.session_state["_shown"] == "ensemble"


def test_exports_follow_the_shown_view_and_say_so(at):
    at = _with_guess(at, "48.85, 2.35", 100.0)
    at.get("button_group")[0].set_value("population")
    _run(at)
    assert at.session_state["_shown"] == "population"
    exp = [e for e in at.expander if e.label.startswith("Export the")]
    assert exp and "(view: population · prior)" in exp[0].label
    names = {b.proto.label: b for b in at.get("download_button")}
    assert list(names) == ["GeoJSON", "KML", "CSV", "Report (HTML)", "Save investigation"]  # exports, then the investigation
    # The regions exported are the population prior's own, not the ensemble's (Paris guess).
    lat = float(np.average(at.session_state["_regions"].lat, weights=at.session_state["_regions"].prob))
    assert abs(lat - 48.85) > 1 or len(at.session_state["_regions"]) > 50


def test_small_multiples_one_map_per_expert(at):
    import h3

    at = _with_guess(at, "48.85, 2.35", 100.0)
    assert _deck(at)["multiples"] == []  # off by default: nothing extra is sent
    at.toggle(key="multiples").set_value(True)
    _run(at)
    multiples = _deck(at)["multiples"]
    titles = [m["title"] for m in multiples]
    assert titles[0] == "ensemble" and len(titles) == 5, titles  # ensemble + 3 priors + the guess
    # Each small map is that expert on its own: the guess's densest cell is at the guess, the ensemble's too.
    by_title = {m["title"].split(" (")[0]: m for m in multiples}
    for name in ("ensemble", "analyst guess"):
        lat, lon = h3.cell_to_latlng(by_title[name]["density"][0]["h3"])
        assert abs(lat - 48.85) < 1.5 and abs(lon - 2.35) < 1.5, (name, lat, lon)
    lat, lon = h3.cell_to_latlng(by_title["uniform land · prior"]["density"][0]["h3"])
    assert not (abs(lat - 48.85) < 1.5 and abs(lon - 2.35) < 1.5)
    assert not at.get("image")  # live linked maps in the component, not PNGs
    # A weight move recomputes the ensemble's small map but reuses each expert's (they do not depend on weights).
    kept = dict(at.session_state["_small_maps"])
    at.slider(key="w::analyst guess").set_value(1.5)
    _run(at)
    assert len(kept) == 4 and all(at.session_state["_small_maps"][k] is v for k, v in kept.items())
    assert _deck(at)["multiples"][0]["density"][0]["h3"] == _layer(_deck(at), "density")["data"][0]["h3"]  # the main map's ensemble


def test_analyst_evidence_works_without_image_models(at):
    at = _with_guess(at, "-33.87, 151.21", 200.0)
    at.sidebar.multiselect(key="include").select("AUS")
    at.sidebar.multiselect(key="attributes").select("urban")
    _run(at)
    names = [s.label for s in at.main.slider]
    assert names[-3:] == ["analyst guess", "analyst region", "analyst: urban"]
    lat, lon = _mode(at)
    assert abs(lat + 33.87) < 1.5 and abs(lon - 151.21) < 1.5
    assert float(_metrics(at)["Chance the photo is in them"].rstrip("%")) > 50


def test_weight_slider_changes_the_ensemble(at):
    at = _with_guess(at)
    before = _layer(_deck(at), "density")["data"][:50]
    lat, lon = _mode(at)
    assert abs(lat - 48.85) < 1 and abs(lon - 2.35) < 1
    at.slider(key="w::analyst guess").set_value(0.0)
    _run(at)
    m = _metrics(at)["Most likely region"]
    # Exactly what the locate service says for these weights: the priors' peak, not the (switched off) guess.
    from geolocate import locate
    from geolocate.evidence import AnalystEvidence, EvidenceSet

    located = locate.build((), EvidenceSet.of(AnalystEvidence(point=(48.85, 2.35), radius_km=100.0)))
    d = located.distribution({"analyst guess": 0.0}, refine=at.select_slider(key="refine").value)
    if mapdata.peak_area_km2(d) > mapdata.CLEAR_PEAK_KM2:
        assert m == "no clear peak"
    else:
        lat0, lon0 = d.mode()
        assert m == f"{lat0:.2f}, {lon0:.2f}" and (abs(lat0 - 48.85) > 1 or abs(lon0 - 2.35) > 1)
    assert _layer(_deck(at), "density")["data"][:50] != before
    # The map keeps its view: the initial view state does not move with a slider.
    assert at.session_state["_view"]["latitude"] == pytest.approx(lat, abs=1)


def test_view_state_is_stable_across_slider_moves(at):
    at = _with_guess(at)
    v1 = _deck(at)["initialViewState"]
    at.slider(key="w::population").set_value(1.5)
    _run(at)
    assert _deck(at)["initialViewState"] == v1


def test_budget_changes_the_regions(at):
    at = _with_guess(at)
    small = _metrics(at)
    at.select_slider(key="budget").set_value(1e5)
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
    at.select_slider(key="budget").set_value(1e5)
    _run(at)
    regions = at.session_state["_regions"]
    fc = regions_to_geojson(regions)
    gdf = gpd.read_file(io.StringIO(json.dumps(fc)))
    assert len(gdf) == len(regions) > 0
    assert gdf.geometry.is_valid.all()
    assert (gdf.geometry.bounds["maxx"] - gdf.geometry.bounds["minx"] < 10).sum() >= len(gdf) - (gdf.geom_type == "MultiPolygon").sum()
    assert gdf["cum_area_km2"].iloc[-1] <= 1e5
    assert gdf["rank"].tolist() == list(range(1, len(gdf) + 1))
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["GeoJSON", "KML", "CSV", "Report (HTML)", "Save investigation"]


def test_refinement_changes_resolution(at):
    at = _with_guess(at)
    at.select_slider(key="budget").set_value(1e5)  # res-3 cells (~12,000 km²) must fit
    at.select_slider(key="refine").set_value(3)
    _run(at)
    coarse = at.session_state["_regions"]
    at.select_slider(key="refine").set_value(7)
    _run(at)
    fine = at.session_state["_regions"]
    assert len(fine) > len(coarse)
    assert fine.area_km2.min() < 10 < coarse.area_km2.min()


def test_expert_selector_shows_one_expert(at):
    at = _with_guess(at)
    seg = at.get("button_group")
    seg[0].set_value("analyst guess")
    _run(at)
    lat, lon = _mode(at)
    assert abs(lat - 48.85) < 1 and abs(lon - 2.35) < 1
    at.get("button_group")[0].set_value("population")
    _run(at)
    assert _mode(at) != (lat, lon)


def test_bad_uploads_give_messages_not_tracebacks(at):
    at.file_uploader(key="photos").set_value([("notes.jpg", b"this is not an image", "image/jpeg"), ("empty.png", b"", "image/png")])
    _run(at)
    # File names are user text: shown Markdown-escaped (backslashes before punctuation), read back unescaped.
    errors = [re.sub(r"\\(.)", r"\1", e.value) for e in at.error]
    assert "notes.jpg: not an image file this tool can read (supported: JPEG, PNG, WebP, TIFF, BMP, GIF, HEIC/HEIF/AVIF)" in errors, errors
    assert "empty.png: the file is empty (0 bytes)" in errors, errors
    assert _metrics(at)["Regions in budget"]  # the page still works


def test_exif_gps_is_flagged_and_measured(at):
    at.file_uploader(key="photos").set_value([("sydney.jpg", jpeg_bytes(gps=(-33.8568, 151.2153)), "image/jpeg"), ("b.jpg", jpeg_bytes(gps=(35.0, 139.0)), "image/jpeg")])
    _run(at)
    lines, details = _status(at)
    assert "GPS position in the photo's EXIF: strip it before sharing the files" in shown_text(lines[0])
    assert any("2 of 2 photo(s) carry their own GPS position" in t for t in details)
    texts = " ".join(t.value for t in at.text)
    assert "sydney.jpg: -33.8568, 151.2153" in texts and "b.jpg: 35.0000, 139.0000" in texts  # every photo, not the first only
    m = _metrics(at)
    assert "Area to reach the EXIF position" in m
    spec = _deck(at)
    (truth,) = _layer(spec, "truth")["data"]
    assert (truth["lat"], truth["lon"]) == pytest.approx((-33.8568, 151.2153), abs=1e-4)
    # The component draws the marker in pixels (a fixed-size dot at every zoom; the e2e test measures it).
    page = (PAGES.parent / "assets" / "deckmap" / "index.html").read_text()
    assert 'radiusUnits: "pixels", getRadius: radius, lineWidthUnits: "pixels"' in page
    # The photo is shown (thumbnail) with its EXIF facts.
    assert at.get("image") and any("GPS" in str(df.value["fact"].tolist()) for df in at.dataframe if "fact" in df.value.columns)
    # Telling the ensemble "Sydney" shrinks the area needed to reach the truth.
    need_before = m["Area to reach the EXIF position"]
    _with_guess(at, "-33.9, 151.2", 50.0)
    need_after = _metrics(at)["Area to reach the EXIF position"]
    assert _km2(need_after) < _km2(need_before) / 100, (need_before, need_after)


def _km2(text: str) -> float:
    t = text.replace(",", "").replace("km²", "").strip()
    return float(t.replace("M", "").strip()) * 1e6 if "M" in t else float(t)


def test_url_query_parameters_restore_the_view():
    at = AppTest.from_file(PAGE, default_timeout=90)
    q = share.encode_query(
        share.ViewParams(weights={"population": 1.5, "analyst guess": 2.0}, budget_km2=1e5, refine=5, evidence=evidence.AnalystEvidence(point=(35.68, 139.69), radius_km=80.0, include=("JPN",)))
    )
    for k, v in q.items():
        at.query_params[k] = v
    _run(at)
    assert at.sidebar.text_input(key="guess").value == "35.68, 139.69"
    assert at.slider(key="w::population").value == 1.5
    assert at.slider(key="w::analyst guess").value == 2.0
    assert at.select_slider(key="budget").value == 1e5
    assert at.select_slider(key="refine").value == 5
    assert at.sidebar.multiselect(key="include").value == ["JPN"]
    lat, lon = _mode(at)
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
    lines, details = _status(at)
    assert "Missing: a photo; image models " in shown_text(lines[0]), lines
    assert any(t.startswith("Image experts unavailable") for t in details), details
    assert any(missing[0].fix == c.value for c in at.code if missing[0].fix)  # the command alone, no prose
    # Uploading a photo still works: the image experts are skipped, the status says the photo was not analysed.
    at.file_uploader(key="photos").set_value(("p.jpg", jpeg_bytes(), "image/jpeg"))
    _run(at)
    lines, details = _status(at)
    assert shown_text(lines[0]).startswith("Analysed: 1 photo, not by any image model."), lines
    assert [t for t in details if "not analysed" in t] == ["warning: Photo not analysed by any image model: priors and your evidence only."]
    assert _metrics(at)["Most likely region"] == "n/a: priors only"
    assert int(_metrics(at)["Regions in budget"].replace(",", "")) > 0


def test_photo_with_tiny_random_backbone_adds_labelled_image_experts(at):
    pytest.importorskip("geolocate.image.suite")
    at.file_uploader(key="photos").set_value([("a.jpg", jpeg_bytes(), "image/jpeg"), ("b.jpg", jpeg_bytes(colour=(200, 200, 220)), "image/jpeg")])
    _run(at)
    names = [s.label for s in at.main.slider]
    image_names = [n for n in names if "RANDOM" in n]
    assert image_names, names  # clearly labelled random experts
    assert any("random" in t.lower() for t in _status(at)[1])
    assert int(_metrics(at)["Regions in budget"].replace(",", "")) > 0


def test_link_values_are_never_rendered_as_markdown():
    at = AppTest.from_file(PAGE, default_timeout=90)
    at.query_params["attr"] = "![x](http://127.0.0.2/pixel.png)"
    at.query_params["w"] = ";".join(f"x{i}:bad" for i in range(1500))
    at.query_params["guess"] = "48.85,2.35"
    at.query_params["radius"] = "99999"
    _run(at)
    assert not at.warning and [t for t in _status(at)[1] if t.startswith("warning: The link had ")]
    detail = [t.value for t in at.text if "radius 99999 km" in t.value]
    assert detail and "using 5000 km" in detail[0] and "'![x](http://127.0.0…'" in detail[0]
    for el in list(at.markdown) + list(at.warning) + list(at.info) + list(at.caption):
        assert "127.0.0.2" not in el.value  # never as Markdown (an image there would be fetched)
    assert at.number_input(key="radius").value == 5000.0


def test_without_the_map_component_the_page_falls_back_to_pydeck(monkeypatch):
    """When the component folder cannot be assembled (read-only cache), the map is st.pydeck_chart."""
    import pages._deckmap as deckmap

    monkeypatch.setattr(deckmap, "available", lambda: False)
    at = _run(AppTest.from_file(PAGE, default_timeout=90))
    assert not at.get("component_instance")
    (chart,) = at.get("deck_gl_json_chart")
    spec = json.loads(chart.proto.json)
    assert [layer["id"] for layer in spec["layers"]][:2] == ["context", "density"]


def test_component_folder_is_assembled_once_and_read_only_afterwards(tmp_path, monkeypatch):
    import pages._deckmap as deckmap

    monkeypatch.setenv("GEOLOCATE_CACHE_DIR", str(tmp_path))
    deckmap.component_dir.cache_clear()
    try:
        folder = deckmap.component_dir()
        assert folder is not None and folder.parent == tmp_path
        assert (folder / "index.html").read_bytes() == deckmap.PAGE.read_bytes()
        assert (folder / "deck.js").stat().st_size > 1_000_000  # pydeck's deck.gl bundle
        assert [p.name for p in tmp_path.iterdir()] == [folder.name]  # no temporary folder left behind
        deckmap.component_dir.cache_clear()
        assert deckmap.component_dir() == folder
        # A cache folder that cannot be written: no component (the page falls back), no exception.
        blocked = tmp_path / "file"
        blocked.write_text("x")
        monkeypatch.setenv("GEOLOCATE_CACHE_DIR", str(blocked))
        deckmap.component_dir.cache_clear()
        assert deckmap.component_dir() is None
    finally:
        deckmap.component_dir.cache_clear()


def test_privacy_off_draws_tiles_under_the_shipped_borders(at):
    from geolocate.maps import basemap

    assert _deck(at)["tiles"] is None
    at.sidebar.toggle(key="privacy").set_value(False)
    _run(at)
    spec = _deck(at)
    assert spec["tiles"] == basemap.TILE_URL and "{z}/{x}/{y}" in spec["tiles"]
    assert len(_layer(spec, "borders")["data"]) > 100
