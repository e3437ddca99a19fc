"""The map component in real Chromium, without Streamlit: geography, labels, lines and evidence shapes.

The component's folder (index.html, deck.js, h3.js and the basemap files, as pages/_deckmap.py assembles
it) is served by a local HTTP server; the test posts the same ``streamlit:render`` message Streamlit
sends, with a spec from geolocate.maps.spec, and reads pixels of the drawn canvas.
"""

from __future__ import annotations

import functools
import io
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image
from workbench_helpers import free_port, stop

from geolocate.ensemble import Ensemble
from geolocate.experts import PointExpert
from geolocate.maps import basemap, camera
from geolocate.maps import data as mapdata
from geolocate.maps import spec as mapspec


@pytest.fixture(scope="module")
def component_url():
    from pages import _deckmap

    folder = _deckmap.component_dir()
    if folder is None:
        pytest.skip("the map component cannot be assembled here")
    # A server process of its own: served from a thread of this process, a file could wait on the GIL for a minute.
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/index.html"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(url, timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        stop(proc)


def _open(browser, url: str, spec: dict, width: int = 820):
    page = browser.new_page(viewport={"width": width, "height": spec["height"] + 20 + 240 * bool(spec["multiples"])})
    page.goto(url)
    page.wait_for_function("() => typeof deck !== 'undefined' && !!document.body.dataset.loadedAt", timeout=240_000)
    _render(page, spec)
    return page


def _render(page, spec: dict) -> None:
    page.evaluate("(s) => window.postMessage({type: 'streamlit:render', args: {spec: s}}, '*')", spec)
    page.wait_for_function("(seq) => document.body.dataset.drawn === String(seq)", arg=spec["seq"], timeout=240_000)
    _settle(page)


def _settle(page) -> None:
    """Wait for deck.gl to have drawn every pending change (two animation frames, and any basemap fetch)."""
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => requestAnimationFrame(r))))")
    page.wait_for_function("() => !window.geolocateMap.pending || window.geolocateMap.pending() === 0", timeout=240_000)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def _pixels(page, index: int = 0) -> np.ndarray:
    assert page.locator("#err").evaluate("e => e.style.display") != "block", page.locator("#err").inner_text()
    return np.asarray(Image.open(io.BytesIO(page.locator(".map").nth(index).screenshot())).convert("RGB")).astype(int)


def _colour(img: np.ndarray, rgb: tuple[int, int, int], tol: int = 40) -> int:
    return int((np.abs(img - np.array(rgb)).max(axis=-1) <= tol).sum())


@functools.lru_cache(maxsize=1)
def _kauai_dist():
    return Ensemble([PointExpert(22.05, -159.5, scale_km=30.0, name="kauai")]).distribution(refine_to=5)


def _kauai_spec(seq: int = 1, **options) -> dict:
    cam = {"latitude": 22.05, "longitude": -159.5, "zoom": 9.0}
    data = mapdata.map_records(_kauai_dist(), 3_000.0, view=cam)
    return mapspec.map_spec(data, cam, "kauai", seq=seq, borders=mapspec.world_borders(), cities=basemap.zoom_city_labels(cam), **options)


COAST = (225, 235, 250)
"""The component's zoomed-in coastline and border colour (COAST in assets/deckmap/index.html)."""


def test_zoomed_coastal_view_shows_the_coastline(browser, component_url):
    """Kauai at zoom 9: the 1:10m coastline is drawn (over semi-transparent cells); without the detail
    files only the world level's faint triangle would be there."""
    page = _open(browser, component_url, _kauai_spec(seq=1))
    layers = page.evaluate("() => window.geolocateMap.layers()")
    assert "borders_coast_z7_bin" in layers, layers
    coast = _colour(_pixels(page), COAST, tol=30)
    # The spec without detail levels: the world's borders only, in their dimmer colour.
    spec = _kauai_spec(seq=2)
    spec["detail"] = []
    page2 = _open(browser, component_url, spec)
    assert "borders" in page2.evaluate("() => window.geolocateMap.layers()")
    world = _colour(_pixels(page2), COAST, tol=30)
    assert coast > 400 and coast > 5 * world, (coast, world)
    # Cells fade when zoomed in, so the geography shows through.
    assert page.evaluate("() => decks.main.props.layers.find(l => l.id === 'density').props.opacity") < 0.6
    # The scale bar: a round distance as plain text.
    assert page.locator("#main .scale").inner_text() in {"5 km", "10 km", "20 km"}
    page.close()
    page2.close()


def test_labels_draw_above_the_cells_and_appear_with_zoom(browser, component_url):
    page = _open(browser, component_url, _kauai_spec(seq=1))
    layers = page.evaluate("() => window.geolocateMap.layers()")
    hexes = max(layers.index("context"), layers.index("density"))
    assert layers.index("city_labels") > hexes and layers.index("city_dots") > hexes, layers
    names = page.evaluate("() => decks.main.props.layers.find(l => l.id === 'city_labels').props.data.map(d => d[0])")
    assert {"Lihue", "Kapa‘a"} <= set(names), names
    # Zoomed out to 7, Kauai's small towns are not labelled (they come back when zooming in).
    page.evaluate("() => setView(Object.assign({}, viewState, {zoom: 7}))")
    _settle(page)
    names = page.evaluate("() => (decks.main.props.layers.find(l => l.id === 'city_labels') || {props: {data: []}}).props.data.map(d => d[0])")
    assert "Lihue" not in names, names
    page.close()


LINE, GREEN, RED, WHITE = (255, 170, 230), (40, 230, 90), (255, 60, 60), (255, 255, 255)


def test_lines_and_evidence_shapes_render(browser, component_url):
    cam = {"latitude": 21.7, "longitude": -158.6, "zoom": 7.5}
    ring = lambda w, s, e, n: [[w, s], [e, s], [e, n], [w, n], [w, s]]  # noqa: E731
    shapes = [
        {"kind": "include", "path": ring(-160.0, 21.6, -159.1, 22.4)},
        {"kind": "exclude", "path": ring(-158.4, 21.2, -157.6, 21.8)},
        {"kind": "guess", "path": ring(-159.0, 20.6, -158.5, 21.0)},
    ]
    lines = [(21.3, -157.86, 22.05, -159.5, "Alice: 180 km")]
    plain = mapspec.map_spec(mapdata.empty_map(), cam, "k", seq=1, graticule=False)
    drawn = mapspec.map_spec(mapdata.empty_map(), cam, "k", seq=2, graticule=False, lines=lines, shapes=shapes)
    page = _open(browser, component_url, plain)
    before = {c: _colour(_pixels(page), c, tol=25) for c in (LINE, GREEN, RED, WHITE)}
    _render(page, drawn)
    after = {c: _colour(_pixels(page), c, tol=25) for c in (LINE, GREEN, RED, WHITE)}
    # (White is also the scale bar's and the reset button's text: compare the gain.)
    assert all(after[c] - before[c] > 120 for c in (LINE, GREEN, RED, WHITE)), (before, after)
    layers = page.evaluate("() => window.geolocateMap.layers()")
    assert layers.index("line_labels") > layers.index("lines") > layers.index("shapes"), layers
    label = page.evaluate("() => decks.main.props.layers.find(l => l.id === 'line_labels').props.data.map(d => String(d.label))")
    assert label == ["Alice: 180 km"]
    page.close()


def test_small_multiples_are_framed_on_their_own_cells_with_a_reset(browser, component_url):
    paris = Ensemble([PointExpert(48.85, 2.35, scale_km=50.0, name="p")]).distribution(refine_to=4)
    tokyo = Ensemble([PointExpert(35.68, 139.69, scale_km=50.0, name="t")]).distribution(refine_to=4)
    cam = camera.WORLD_VIEW
    spec = mapspec.map_spec(
        mapdata.map_records(paris, 1e4, view=cam), cam, "k", seq=1, borders=mapspec.world_borders(),
        multiples=[("paris", mapdata.map_records(paris, 1e4, view=cam)), ("tokyo", mapdata.map_records(tokyo, 1e4, view=cam))],
    )
    page = _open(browser, component_url, spec, width=900)
    views = page.evaluate("() => window.geolocateMap.views()")
    assert abs(views["m0"]["longitude"] - 2.35) < 1.5 and abs(views["m1"]["longitude"] - 139.69) < 1.5, views
    assert views["m0"]["zoom"] > 3 and views["main"]["zoom"] < 2  # the main map stays on its own (world) camera
    # Panning one small map moves only it; its reset button frames its cells again.
    small = page.locator(".map").nth(1)
    box = small.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 60, box["y"] + box["height"] / 2 + 10, steps=4)
    page.mouse.up()
    moved = page.evaluate("() => window.geolocateMap.views()")
    assert moved["m0"]["longitude"] < views["m0"]["longitude"] - 0.01 and moved["m1"] == views["m1"] and moved["main"] == views["main"]
    small.locator(".reset").click()
    reset = page.evaluate("() => window.geolocateMap.views()")["m0"]
    assert reset["longitude"] == pytest.approx(views["m0"]["longitude"]) and reset["zoom"] == pytest.approx(views["m0"]["zoom"])
    page.close()
