"""End to end in a real headless Chromium: start `streamlit run app.py`, upload a photo, move a slider,
check the page updated, save a screenshot (tmp dir, copied to artifacts/e2e.png)."""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (apt-get install chromium); scripts/test.sh installs it when run as root")
    pytest.importorskip("playwright.sync_api")
    port = _free_port()
    env = dict(os.environ, GEOLOCATE_BACKBONE=os.environ.get("GEOLOCATE_BACKBONE", "tiny-random"), GEOLOCATE_OFFLINE="1", HF_HUB_OFFLINE="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.headless", "true", "--server.address", "127.0.0.1"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("streamlit did not start in 30 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _metric(page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]', has_text=label)
    return box.locator('[data-testid="stMetricValue"]').inner_text()


def test_first_visit_to_a_page_url_uses_the_app_navigation(server):
    """Runs first on a fresh server: Streamlit would otherwise treat pages/ as an old-style multipage app."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.goto(server + "/layers", wait_until="domcontentloaded")
            expect(page.get_by_role("heading", name="Layers")).to_be_visible(timeout=30_000)
            nav = page.locator('[data-testid="stSidebarNav"]')
            expect(nav).to_contain_text("Locate", timeout=30_000)
            labels = nav.inner_text().split()
            assert "shared" not in labels and "app" not in labels
        finally:
            browser.close()


def test_upload_move_slider_screenshot(server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    photo = tmp_path / "street.jpg"  # the test's own file, for the browser's file chooser
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), (120, 160, 200)).save(buf, "JPEG")
    photo.write_bytes(buf.getvalue())

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--use-gl=swiftshader", "--enable-unsafe-swiftshader"])
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.goto(server, wait_until="domcontentloaded")
            expect(page.get_by_text("Locate a photo")).to_be_visible(timeout=30_000)
            expect(page.locator('[data-testid="stMetric"]', has_text="Regions in budget")).to_be_visible(timeout=30_000)

            # Analyst evidence first (works without any model): a guess in Paris.
            guess = page.get_by_label("Your guess (lat, lon)")
            guess.fill("48.85, 2.35")
            guess.press("Enter")
            expect(page.locator('[data-testid="stSlider"]', has_text="analyst guess")).to_be_visible(timeout=30_000)
            expect(page.locator('[data-testid="stMetric"]', has_text="Most likely region")).to_contain_text("48.", timeout=30_000)

            # Upload a photo, once the guess's run has finished (a rerun replaces the uploader's input).
            page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
            page.locator('[data-testid="stFileUploaderDropzoneInput"][accept*=".jpg"]').set_input_files(str(photo), timeout=90_000)  # not "Open investigation"
            expect(page.get_by_text("street.jpg").first).to_be_visible(timeout=30_000)
            # The tiny-random image experts join the ensemble (their sliders appear), then the page is idle.
            expect(page.locator('[data-testid="stSlider"]', has_text="RANDOM").first).to_be_visible(timeout=120_000)
            page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)

            # Move the area-budget slider with the keyboard and check the regions change.
            before = _metric(page, "Regions in budget")
            slider = page.locator('[data-testid="stSlider"]', has_text="Area budget").get_by_role("slider")
            slider.focus()
            for _ in range(4):
                slider.press("ArrowRight")
            expect(page.locator('[data-testid="stMetric"]', has_text="Regions in budget").locator('[data-testid="stMetricValue"]')).not_to_have_text(before, timeout=30_000)
            after = _metric(page, "Regions in budget")
            assert int(after.replace(",", "")) > int(before.replace(",", ""))
            page.wait_for_function("() => location.search.includes('budget=')", timeout=15_000)  # the URL follows the view

            page.wait_for_timeout(1500)  # let deck.gl draw
            shot = tmp_path / "e2e.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            (REPO / "artifacts").mkdir(exist_ok=True)
            shutil.copy(shot, REPO / "artifacts" / "e2e.png")
        finally:
            browser.close()
