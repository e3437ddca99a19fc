"""The Layers page in a real headless Chromium against `streamlit run app.py` (offline): the layer is drawn
by the workbench's deck.gl component (the one map backend), and hovering a hexagon shows its class and
share as plain text."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))  # the shared server launcher

from serverproc import need_browser, streamlit_server  # noqa: E402
from workbench_helpers import MAP, map_drawn_js, project_js  # noqa: E402

pytestmark = pytest.mark.e2e

TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    need_browser()
    root = tmp_path_factory.mktemp("layers")
    with streamlit_server(env={"GEOLOCATE_CACHE_DIR": str(root / "cache")}, log=root / "server.log") as url:
        yield url


def test_first_visit_shows_progress_until_the_map_is_drawn(server, browser):
    """The first test of the module: the server is fresh, so this visit pays for loading the libraries,
    the layer and the basemap, and the page must say so instead of staying blank."""
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    try:
        page.goto(f"{server}/layers", wait_until="domcontentloaded")
        bar = page.locator('[data-testid="stProgress"]')
        bar.first.wait_for(state="visible", timeout=TIMEOUT_MS)
        assert re.search(r"Loading|Reading|Drawing", bar.first.inner_text()), bar.first.inner_text()
        assert not page.evaluate(map_drawn_js())  # the bar shows while the page works, before the map
        page.wait_for_function(map_drawn_js(), timeout=TIMEOUT_MS)
        bar.first.wait_for(state="detached", timeout=TIMEOUT_MS)  # and is gone once the map is there
        assert page.get_by_text("Hexagon resolution").is_visible()
    finally:
        page.close()


def test_layer_map_is_the_component_with_class_tooltips(server, browser):
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    try:
        page.goto(f"{server}/layers", wait_until="domcontentloaded")
        page.wait_for_function(map_drawn_js(), timeout=TIMEOUT_MS)
        frame = page.frame_locator(MAP)
        assert frame.locator("#err").evaluate("e => e.style.display") != "block"
        assert not page.locator('[data-testid="stDeckGlJsonChart"]').count()  # no pydeck chart
        page.locator(MAP).scroll_into_view_if_needed()
        box = page.locator(MAP).bounding_box()
        # The Congo basin (0.5°N, 23°E) on the land-cover layer: evergreen broadleaf forest.
        x, y = frame.locator("body").evaluate(project_js(), [23.0, 0.5])
        page.mouse.move(box["x"] + x, box["y"] + y)
        tip = frame.locator(".deck-tooltip")
        tip.wait_for(state="visible", timeout=30_000)
        assert re.fullmatch(r"evergreen broadleaf forest \(\d{1,3}% of the hexagon\)", tip.inner_text().strip()), tip.inner_text()
    finally:
        page.close()
