"""AppTest of the Cases page (on the toy benchmark, tests/data/toy): browsing a case (maps, table, curve after ranking), the guided first visit,
deep links, bad ids, and guess-then-reveal scoring on two cases with hand-solved distances and areas."""

from __future__ import annotations

import math

import numpy as np
import pytest
from apphelpers import PAGES, map_layers, map_spec
from streamlit.testing.v1 import AppTest

R = 6371.0088


@pytest.fixture
def toy_env(toy_bench, monkeypatch):
    """The toy benchmark (tests/data/toy: case 0 at (0, 10), case 1 at (45, 7), "off" 5° south) as the
    server's data folder; one cache folder for the module, so the page's process-wide caches are shared."""
    monkeypatch.setenv("GEOLOCATE_DATA_DIR", str(toy_bench.root))
    monkeypatch.setenv("GEOLOCATE_CACHE_DIR", str(toy_bench.root.parent / "cases_page_cache"))
    monkeypatch.setenv("GEOLOCATE_OFFLINE", "1")
    return toy_bench


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _page(**query) -> AppTest:
    at = AppTest.from_file(str(PAGES / "cases.py"), default_timeout=120)
    for k, v in query.items():
        at.query_params[k] = v
    return _run(at)


def test_browse_a_case_deep_link_and_curve(toy_env):
    IDS, LAT, LON = toy_env.ids, toy_env.lat, toy_env.lon
    at = _page(case=IDS[1])
    assert at.text_input(key="case_id").value == IDS[1]
    assert at.query_params["case"] == [IDS[1]] or at.query_params["case"] == IDS[1]
    assert any("offline" in i.value for i in at.info)  # no photo offline, and it says why
    # One linked small map per expert (3 priors, 2 models, scene) and the ensemble, as on Locate; truth marked.
    spec = map_layers(at)
    assert len(spec["multiples"]) == 7 and spec["multiples"][0]["title"].startswith("ensemble · area to truth")
    truth = next(layer["data"] for layer in spec["layers"] if layer["id"] == "truth")
    assert truth == [{"lat": LAT[1], "lon": LON[1]}]
    assert not at.get("deck_gl_json_chart") and not at.get("image")
    table = at.dataframe[1].value.set_index("expert")
    # One area per expert, the converged one (as the benchmark computes it): no second, res-3 column.
    assert list(table.columns) == ["kind", "area to truth, km²", "rank of the truth's hexagon", "distance, km", "points (0-100)"]
    from geolocate.teach import cases

    book = cases.load_casebook(toy_env.spec())
    ens = book.ensemble(IDS[1])
    for name in ("ensemble", "off", "population"):
        w = book.weights if name == "ensemble" else dict.fromkeys(ens.names, 0.0) | {name: 1.0}
        want = cases.area_to_truth(ens, LAT[1], LON[1], w, cases.AreaMethod.CONVERGED)
        assert table.loc[name, "area to truth, km²"] == pytest.approx(want, rel=1e-9), name
    assert table.loc["exact", "rank of the truth's hexagon"] == 1
    assert table.loc["off", "distance, km"] == pytest.approx(5 * math.pi * R / 180, rel=1e-6)  # 556.0 km
    assert table.loc["off", "area to truth, km²"] > table.loc["exact", "area to truth, km²"]
    # The curve needs every photo ranked: one button, then the chart with this case marked.
    assert not (at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart"))
    next(b for b in at.button if b.label.startswith("Rank all photos")).click()
    _run(at)
    charts = at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    assert len(charts) == 1
    pick = at.selectbox(key="pick_list")
    assert len(pick.options) == 1 + 2 * len(IDS)  # every photo is in both lists when there are fewer than 15
    pick.set_value(pick.options[1])
    _run(at)
    assert at.text_input(key="case_id").value == pick.options[1].split(": ", 1)[1]


def test_unknown_id_is_a_message_not_a_traceback(toy_env):
    at = _page(case="**nope**.jpg")
    assert at.error and "No image" in at.error[0].value
    assert at.code[0].value == "**nope**.jpg"  # the typed id verbatim, not as Markdown


def _tour_blocks(at: AppTest) -> list:
    """The page's blocks keyed "tour" (Streamlit ends a keyed block's id with its key)."""
    return [b for b in at.main.children.values() if type(b).__name__ == "Block" and b.proto.id.endswith("-tour")]


def test_tour_shows_once_then_stays_hidden(toy_env):
    at = _page()
    (tour,) = _tour_blocks(at)
    assert tour.proto.flex_container.border  # a bordered box at the top of the page...
    texts = [c.value for c in tour.children.values() if type(c).__name__ == "Markdown"]
    assert texts[0] == "#### New here? Try this (one minute)" and "**area to truth**" in texts[1]  # ...with the steps
    assert [c.label for c in tour.children.values() if type(c).__name__ == "Button"] == ["Got it — hide this"]
    at.button(key="tour_hide").click()
    _run(at)
    assert not _tour_blocks(at)
    assert not any("New here?" in m.value for m in at.markdown)
    at.text_input(key="case_id").set_value(toy_env.ids[2])
    _run(at)
    assert not any("New here?" in m.value for m in at.markdown)


@pytest.mark.parametrize(
    "case, guess, budget, distance_km, area_km2",
    [
        # 1° of longitude on the equator: d = pi R / 180 = 111.195 km; cap 2 pi R² (1 - cos 1°) = 38,842.75 km²
        (0, "0, 11", 5.6e4, 111.195, 38842.75),
        # 2° of latitude due south: 222.390 km; cap 2 pi R² (1 - cos 2°) = 155,359.2 km², outside a 1e5 budget
        (1, "43N 7E", 1e5, 222.390, 155359.2),
    ],
)
def test_guess_then_reveal_scores_by_hand(toy_env, case, guess, budget, distance_km, area_km2):
    IDS, LAT, LON = toy_env.ids, toy_env.lat, toy_env.lon
    at = _page(case=IDS[case], mode="guess")
    assert at.segmented_control(key="mode").value == "Guess then reveal"

    assert not any("True location" in m.label for m in at.metric)  # truth hidden
    pick = map_spec(at)  # only the neutral map to click a guess on: no cells, no truth
    assert pick["click"] and pick["marker"] is None and pick["density"]["h3"] == "" and pick["context"]["h3"] == ""
    at.text_input(key=f"guess::{IDS[case]}").input(guess)
    at.checkbox(key="use_budget").check()
    _run(at)  # the budget slider is enabled by the checkbox
    at.select_slider(key="guess_budget").set_value(budget)
    at.button(key="reveal").click()
    _run(at)
    metrics = {m.label: m for m in at.metric}
    assert metrics["Distance"].value == f"{distance_km:,.0f} km"
    assert metrics["Your area to truth"].value == f"{area_km2:,.0f} km²"
    inside = area_km2 <= budget
    assert metrics["Your budget"].delta == ("contained the truth" if inside else "missed the truth")
    table = at.dataframe[1].value.set_index("expert")
    assert table.loc["you", "distance, km"] == pytest.approx(distance_km, abs=1e-3)
    assert table.loc["you", "area to truth, km²"] == pytest.approx(area_km2, rel=1e-6)
    ens = table.loc["ensemble", "area to truth, km²"]
    said = next(t.value for t in at.text if "less area than" in t.value)  # a sentence, not a red badge with an arrow
    assert said.endswith("you beat it.") if area_km2 < ens else said.endswith("it beat you this time.")
    a, e = max(area_km2, 1.0), max(ens, 1.0)  # areas under 1 km² count as 1 km² (the points' scale)
    assert f"{max(a, e) / min(a, e):,.1f}x" in said
    pts = 100 * (math.log10(5.1e8) - math.log10(area_km2)) / math.log10(5.1e8)
    assert metrics["Session score"].value == f"{pts:.0f} / 100"
    layers = {layer["id"]: layer for layer in map_layers(at)["layers"]}  # the reveal map, truth and guess
    assert (layers["truth"]["data"][0]["lat"], layers["truth"]["data"][0]["lon"]) == (LAT[case], LON[case])
    assert len(layers["guess"]["data"]) == 1 and len(layers["density"]["data"]) > 0
    spec = map_spec(at)
    if "lines" in spec:  # the map component draws lines (geolocate.maps.spec): guess -> truth, with the distance
        from geolocate import evidence

        glat, glon = evidence.parse_latlon(guess)
        assert spec["lines"] == [[round(glat, 5), round(glon, 5), LAT[case], LON[case], f"you: {distance_km:,.0f} km"]]


def test_session_score_over_two_cases(toy_env):
    IDS = toy_env.ids
    at = _page(case=IDS[0], mode="guess")
    at.text_input(key=f"guess::{IDS[0]}").input("0, 11")
    at.button(key="reveal").click()
    _run(at)
    at.text_input(key="case_id").set_value(IDS[1])
    _run(at)
    at.text_input(key=f"guess::{IDS[1]}").input("this is not a place")
    at.button(key="reveal").click()
    _run(at)
    assert at.error and "Guess not understood" in at.error[0].value
    at.text_input(key=f"guess::{IDS[1]}").input("43, 7")
    at.button(key="reveal").click()
    _run(at)
    m = {x.label: x.value for x in at.metric}
    assert m["Photos"] == "2"
    L = math.log10(5.1e8)
    want = np.mean([100 * (L - math.log10(a)) / L for a in (38842.75, 155359.2)])
    assert m["Session score"] == f"{want:.0f} / 100"


def test_without_the_component_cases_falls_back_to_pydeck_in_draw(toy_env, monkeypatch):
    """The fallback lives in _deckmap.draw: the same map as st.pydeck_chart, the small maps as small decks."""
    import json

    import pages._deckmap as deckmap

    monkeypatch.setattr(deckmap, "available", lambda: False)
    at = _page(case=toy_env.ids[1])
    assert not at.get("component_instance") and not at.warning
    charts = [json.loads(c.proto.json) for c in at.get("deck_gl_json_chart")]
    assert len(charts) == 1 + 7  # the ensemble's map and one small deck per expert and the ensemble
    main = {layer["id"]: layer for layer in charts[0]["layers"]}
    assert list(main)[:2] == ["context", "density"] and main["truth"]["data"][0]["lat"] == toy_env.lat[1]
    assert charts[0]["mapStyle"] == "__MAP_STYLE__"  # offline: no tiles
    titles = [t.value for t in at.text if t.value.startswith(("ensemble · area to truth", "exact · area to truth"))]
    assert len(titles) == 2  # the small decks' titles, as plain text


def test_photos_from_the_servers_folder_are_served_without_gps(toy_env, tmp_path, monkeypatch, served_media):
    import io

    from PIL import Image

    from geolocate.teach import photos
    from tests.teach.test_photos import gps_jpeg

    IDS = toy_env.ids
    folder = tmp_path / "case_photos"
    folder.mkdir()
    original = gps_jpeg(45.0, 7.0, size=(2400, 1800))  # the truth of case 1, in the file's EXIF
    (folder / IDS[1]).write_bytes(original)
    assert photos.has_metadata(original)["gps"]
    monkeypatch.setenv("GEOLOCATE_CASE_PHOTOS", str(folder))
    at = _page(case=IDS[1], mode="guess")
    img = at.get("image")
    assert len(img) == 1 and "metadata removed" in img[0].captions[0]
    sent = served_media[img[0].value[0].rsplit("/", 1)[-1].split(".")[0]]
    assert photos.has_metadata(sent) == {"exif": False, "gps": False, "icc": False, "xmp": False}
    assert photos.exif_gps(sent) is None and max(Image.open(io.BytesIO(sent)).size) == 1024
    # A photo the folder lacks: the page says how to provide the photos.
    at = _page(case=IDS[2], mode="guess")
    assert not at.get("image")
    assert any("GEOLOCATE_CASE_PHOTOS" in c.value for c in at.caption)
