"""The Benchmark page in a real headless Chromium against `streamlit run app.py` (offline, the toy benchmark):
the ensemble's row is the first row and drawn inside the summary table's viewport at 1440x900, no table scrolls
sideways, and the four downloads open (report JSON, curves CSV, plot PNG and SVG)."""

from __future__ import annotations

import csv
import io
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))  # the shared server launcher

from serverproc import need_browser, streamlit_server  # noqa: E402
from workbench_helpers import wait_idle  # noqa: E402

pytestmark = pytest.mark.e2e

TIMEOUT_MS = 180_000
ROW_PX = 35
"""Streamlit's data grid: header and rows are 35 px high."""
REPORT_KEYS = {"schema", "benchmark", "n_images", "split", "weights", "bootstrap", "experts", "ensemble", "ensemble_vs_best"}
"""Top-level keys of the benchmark report (docs/benchmark.md) that a download must have."""


@pytest.fixture(scope="module")
def server(tmp_path_factory, toy_bench):
    need_browser()
    root = tmp_path_factory.mktemp("bench_browser")
    env = {"GEOLOCATE_CACHE_DIR": str(root / "cache"), "GEOLOCATE_DATA_DIR": str(toy_bench.root), "GEOLOCATE_DATA_DIRS": str(toy_bench.root)}
    with streamlit_server(env=env, log=root / "server.log") as url:
        yield url


@pytest.fixture(scope="module")
def ran(server, browser):
    """The page at 1440x900 after a run of the toy benchmark with every expert."""
    page = browser.new_page(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    page.goto(f"{server}/benchmark", wait_until="domcontentloaded")
    run = page.get_by_role("button", name="Run benchmark")
    run.wait_for(timeout=TIMEOUT_MS)
    wait_idle(page, TIMEOUT_MS)
    run.click()
    page.get_by_role("heading", name="How to cite").wait_for(timeout=TIMEOUT_MS)
    wait_idle(page, TIMEOUT_MS)
    yield page
    page.close()


GRID_JS = """(el) => {
    const s = el.querySelector('.dvn-scroller');
    const r = s.getBoundingClientRect();
    const rows = [...el.querySelectorAll('table[role=grid] tr')].map(tr => [+tr.getAttribute('aria-rowindex'), tr.querySelector('td') ? tr.querySelector('td').textContent.trim() : '']);
    return {top: r.top, left: r.left, width: r.width, clientHeight: s.clientHeight, clientWidth: s.clientWidth,
            scrollTop: s.scrollTop, scrollHeight: s.scrollHeight, scrollWidth: s.scrollWidth, rows: rows, innerHeight: window.innerHeight};
}"""


def test_ensemble_row_is_first_and_inside_the_summary_viewport(ran):
    page = ran
    table = page.locator('[data-testid="stDataFrame"]').first
    table.scroll_into_view_if_needed()
    table.locator("td", has_text="ensemble").first.wait_for(state="attached", timeout=TIMEOUT_MS)  # the grid's rows are in
    g = table.evaluate(GRID_JS)
    index = next(i for i, first in g["rows"] if first == "ensemble")
    assert index == 2  # aria-rowindex 1 is the header: the ensemble is the first data row
    # Its box in the grid: under the header, and inside both the table's viewport and the window, unscrolled.
    top = g["top"] + ROW_PX * (index - 1)
    bottom = top + ROW_PX
    assert g["scrollTop"] == 0 and g["scrollHeight"] <= g["clientHeight"] + 1, g  # every row shows: nothing to scroll
    assert g["top"] <= top and bottom <= g["top"] + g["clientHeight"] and 0 <= top and bottom <= g["innerHeight"], g
    # And it is drawn there, highlighted: the canvas row under that box is tinted orange, the next row is not.
    shot = np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("RGB")).astype(int)
    x0, x1 = int(g["left"]) + 2, int(g["left"] + min(g["width"], g["clientWidth"])) - 2

    def band(y: float) -> np.ndarray:
        return np.median(shot[int(y) + 4 : int(y) + ROW_PX - 4, x0:x1].reshape(-1, 3), axis=0)

    ensemble, other = band(top), band(bottom)
    assert ensemble[0] - ensemble[2] > 20 and abs(other[0] - other[2]) < 12, (ensemble, other)


def test_no_table_scrolls_sideways(ran):
    tables = ran.locator('[data-testid="stDataFrame"]')
    assert tables.count() >= 5  # summary, recall, accuracy of modes and of raw predictions, weights
    for i in range(tables.count()):
        tables.nth(i).scroll_into_view_if_needed()
        g = tables.nth(i).evaluate(GRID_JS)
        assert g["scrollWidth"] <= g["clientWidth"] + 1, (i, g["rows"][:1], g)


def _download(page, label: str) -> tuple[str, bytes]:
    button = page.get_by_role("button", name=label)
    button.scroll_into_view_if_needed()
    with page.expect_download(timeout=TIMEOUT_MS) as info:
        button.click()
    download = info.value
    return download.suggested_filename, Path(download.path()).read_bytes()


def test_downloads_open(ran):
    name, body = _download(ran, "Report (JSON)")
    report = json.loads(body)
    assert name.endswith(".json") and REPORT_KEYS <= set(report), sorted(report)
    assert report["schema"] == "geolocate.bench/2" and report["benchmark"] == "toy" and report["split"]["eval"] >= 1
    name, body = _download(ran, "Curves (CSV)")
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert name.endswith(".csv") and list(rows[0]) == ["expert", "area_km2", "recall"]
    assert {"ensemble", "exact", "off"} <= {r["expert"] for r in rows} and all(0 <= float(r["recall"]) <= 1 for r in rows)
    name, body = _download(ran, "Plot (PNG)")
    assert name.endswith(".png") and body[:8] == b"\x89PNG\r\n\x1a\n"
    assert Image.open(io.BytesIO(body)).size[0] >= 760
    name, body = _download(ran, "Plot (SVG)")
    root = ET.fromstring(body)
    assert name.endswith(".svg") and root.tag == "{http://www.w3.org/2000/svg}svg" and b"ensemble" in body
