"""Shared by the workbench browser test and benchmarks/bench_browser.py: a Streamlit server and Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--use-gl=swiftshader", "--enable-unsafe-swiftshader"]


def free_port() -> int:
    """A free 127.0.0.1 port: $GEOLOCATE_E2E_PORT when set (machines where each user has a port range), else any."""
    if os.environ.get("GEOLOCATE_E2E_PORT"):
        return int(os.environ["GEOLOCATE_E2E_PORT"])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env_extra: dict | None = None, timeout_s: float = 60.0, app_dir: Path | None = None, port: int | None = None) -> tuple[subprocess.Popen, str, float]:
    """``streamlit run app.py`` on a free 127.0.0.1 port; returns (process, url, seconds until healthy).

    ``app_dir`` serves another checkout's app.py (e.g. an older worktree, for paired benchmarks).
    """
    port = port or free_port()
    env = dict(os.environ, GEOLOCATE_BACKBONE=os.environ.get("GEOLOCATE_BACKBONE", "tiny-random"), GEOLOCATE_OFFLINE="1", HF_HUB_OFFLINE="1")
    env.update(env_extra or {})
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.headless", "true", "--server.address", "127.0.0.1"],
        cwd=app_dir or REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                return proc, url, time.perf_counter() - t0
        except OSError:
            time.sleep(0.2)
    stop(proc)
    raise RuntimeError(f"streamlit did not start in {timeout_s:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


MAP = 'iframe[title="pages._deckmap.geolocate_map"]'
"""The workbench map: the deck.gl component's iframe (same origin, so its document is readable)."""


def metric_value(page, label: str) -> str:
    return page.locator('[data-testid="stMetric"]', has_text=label).locator('[data-testid="stMetricValue"]').inner_text()


def wait_idle(page, timeout_ms: int = 60_000) -> None:
    """Wait until Streamlit reports no script running (the status widget disappears)."""
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout_ms)


def map_drawn_js() -> str:
    """JS returning the seq of the last spec the map has drawn (a string), or null before its first frame."""
    return (
        "() => { const f = document.querySelector('iframe[title=\"pages._deckmap.geolocate_map\"]');"
        " const b = f && f.contentDocument && f.contentDocument.body; return (b && b.dataset.drawn) || null; }"
    )


def deck_ready_js() -> str:
    """JS that is true once the map has drawn a spec."""
    return f"() => !!({map_drawn_js()})()"


def project_js() -> str:
    """JS for ``frame_locator(MAP).locator("body").evaluate(js, [lon, lat])``: the point's pixel position
    in the map's iframe on the main deck, from its current camera."""
    return (
        "(body, ll) => { const v = window.geolocateMap.views().main; const c = document.querySelector('#main .map');"
        " return new deck.WebMercatorViewport(Object.assign({}, v, {width: c.clientWidth, height: c.clientHeight})).project(ll); }"
    )
