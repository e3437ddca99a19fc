"""Browser-side speed of the workbench: real headless Chromium against `streamlit run app.py`.

Prints median and p90 (ms) for: cold start to first map, first map for a new session on a warm server,
weight slider moved until the map has redrawn, budget slider, switching the shown expert, and upload to map
(tiny-random backbone). "Redrawn" = the deck spec the page received changed and Streamlit is idle.

    python benchmarks/bench_browser.py [--repeats 7]

Targets (quiet 2-core machine): slider and expert switch p90 <= 300 ms; new session on a warm server <= 3 s;
cold start to first map <= 15 s.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))
from workbench_helpers import CHROMIUM, CHROMIUM_ARGS, deck_ready_js, start_server, stop, wait_idle  # noqa: E402

# The map's identity: the JSON of the deck element changes on every redraw; hash its text length + head.
MAP_SIG = """() => { const el = document.querySelector('[data-testid="stDeckGlJsonChart"]');
  const m = [...document.querySelectorAll('[data-testid="stMetricValue"]')].map(e => e.innerText).join('|');
  return el ? m : null; }"""


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def _report(name: str, xs: list[float]) -> None:
    if xs:
        print(f"{name:42s} n={len(xs):2d}  median {statistics.median(xs):8.0f} ms   p90 {_pct(xs, 0.9):8.0f} ms")


def _changed_after(page, action, timeout_ms: int = 60_000) -> float:
    """ms from the action until the metrics changed and Streamlit is idle."""
    before = page.evaluate(MAP_SIG)
    t0 = time.perf_counter()
    action()
    page.wait_for_function(f"(b) => ({MAP_SIG})() !== b", arg=before, timeout=timeout_ms)
    wait_idle(page, timeout_ms)
    page.wait_for_function(deck_ready_js(), timeout=timeout_ms)
    return 1000 * (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    from PIL import Image
    from playwright.sync_api import sync_playwright

    t_start = time.perf_counter()
    proc, url, t_health = start_server()
    res: dict[str, list[float]] = {k: [] for k in ("cold", "session", "weight", "budget", "expert", "upload")}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.goto(url, wait_until="domcontentloaded")
            page.wait_for_function(deck_ready_js(), timeout=120_000)
            wait_idle(page, 120_000)
            res["cold"].append(1000 * (time.perf_counter() - t_start))
            page.close()
            for _ in range(args.repeats):
                page = browser.new_page(viewport={"width": 1500, "height": 1100})
                t0 = time.perf_counter()
                page.goto(url + "/?guess=48.85,2.35&radius=200", wait_until="domcontentloaded")
                page.wait_for_function(deck_ready_js(), timeout=60_000)
                page.locator('[data-testid="stMetric"]', has_text="Most likely region").wait_for(timeout=60_000)
                wait_idle(page)
                res["session"].append(1000 * (time.perf_counter() - t0))
                if _ is not args.repeats - 1:
                    page.close()
            slider = page.locator('[data-testid="stSlider"]', has_text="analyst guess").get_by_role("slider")
            budget = page.locator('[data-testid="stSlider"]', has_text="Area budget").get_by_role("slider")
            for i in range(args.repeats):
                slider.focus()
                key = "ArrowLeft" if i % 2 else "ArrowRight"
                res["weight"].append(_changed_after(page, lambda k=key: slider.press(k)))
                budget.focus()
                res["budget"].append(_changed_after(page, lambda k=key: budget.press(k)))
            for i in range(args.repeats):
                name = "population" if i % 2 == 0 else "ensemble"
                btn = page.locator('[data-testid="stButtonGroup"] button', has_text=name).first
                res["expert"].append(_changed_after(page, btn.click))
            with tempfile.TemporaryDirectory() as d:
                for i in range(max(2, args.repeats // 2)):
                    f = Path(d) / f"p{i}.jpg"
                    buf = io.BytesIO()
                    Image.new("RGB", (320, 240), (20 * i % 255, 120, 200)).save(buf, "JPEG")
                    f.write_bytes(buf.getvalue())
                    res["upload"].append(_changed_after(page, lambda f=f: page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(f)), 120_000))
            browser.close()
    finally:
        stop(proc)
    print(f"server healthy after {t_health:.1f} s")
    _report("cold start to first map", res["cold"])
    _report("new session on a warm server (first map)", res["session"])
    _report("weight slider -> map redrawn", res["weight"])
    _report("budget slider -> map redrawn", res["budget"])
    _report("switch shown expert -> map redrawn", res["expert"])
    _report("upload (tiny-random) -> map", res["upload"])


if __name__ == "__main__":
    main()
