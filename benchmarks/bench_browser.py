"""Browser-side speed of the workbench: real headless Chromium against `streamlit run app.py`.

Prints median and p90 (ms) for: cold start to first map, first map for a new session on a warm server,
weight slider moved until the map has redrawn, budget slider, switching the shown expert, and upload to map
(tiny-random backbone). "Redrawn" = the metrics changed and the map (the deck.gl component, assets/deckmap)
has drawn the spec of the new run: its iframe writes the spec's sequence number on its body after deck.gl's
next frame, with the time on the browser's clock (the same machine's wall clock as this script's).

    python benchmarks/bench_browser.py [--repeats 7] [--port 8650] [--app-dir /path/to/older/worktree]

Targets (quiet 2-core machine, issue 17 and 22): weight and budget slider p90 <= 150 ms, expert switch no
slower than before; new session on a warm server <= 1.5 s; an upload after the first <= 1.5 s; cold start to
first map <= 15 s. On a loaded machine compare paired runs (this checkout and ``--app-dir`` of the old one,
back to back) and the server's CPU per slider move, which load inflates far less than wall-clock times.
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
from workbench_helpers import CHROMIUM, CHROMIUM_ARGS, MAP, deck_ready_js, map_drawn_js, start_server, stop, wait_idle  # noqa: E402

METRICS = """() => [...document.querySelectorAll('[data-testid="stMetricValue"]')].map(e => e.innerText).join('|')"""
SPLIT = f"() => {{ const b = document.querySelector('{MAP}').contentDocument.body; return [+b.dataset.receivedAt, +b.dataset.drawnAt]; }}"


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def _report(name: str, xs: list[float]) -> None:
    if xs:
        print(f"{name:42s} n={len(xs):2d}  median {statistics.median(xs):8.0f} ms   p90 {_pct(xs, 0.9):8.0f} ms")


def _changed_after(page, action, split: list, timeout_ms: int = 60_000, metrics: bool = True) -> float:
    """ms from the action until the map has drawn the spec of the new run (and the metrics changed).

    The end is the map iframe's own clock (``Date.now()`` written when deck.gl has drawn the new spec's
    first frame: ``data-drawnAt``), not the time Playwright takes to notice it. Appends (ms until the
    iframe received the new spec, ms it took to build and draw it there) to ``split``.
    """
    before_metrics = page.evaluate(METRICS)
    before = page.evaluate(map_drawn_js())
    t0 = 1000 * time.time()
    action()
    if metrics:
        page.wait_for_function(f"(b) => ({METRICS})() !== b", arg=before_metrics, timeout=timeout_ms)
    page.wait_for_function(f"(b) => {{ const s = ({map_drawn_js()})(); return s !== null && s !== b; }}", arg=before, timeout=timeout_ms)
    received, drawn = page.evaluate(SPLIT)
    split.append((received - t0, drawn - received))
    return drawn - t0


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--app-dir", type=Path, default=None, help="serve this checkout's app.py (e.g. a worktree of an older commit, for a paired run)")
    ap.add_argument("--port", type=int, default=None, help="server port (default: $GEOLOCATE_E2E_PORT or any free one)")
    args = ap.parse_args()
    from PIL import Image
    from playwright.sync_api import sync_playwright

    t_start = time.perf_counter()
    proc, url, t_health = start_server(app_dir=args.app_dir, port=args.port)
    res: dict[str, list[float]] = {k: [] for k in ("cold", "session", "weight", "budget", "expert", "upload_first", "upload")}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.goto(url, wait_until="domcontentloaded")
            page.wait_for_function(deck_ready_js(), timeout=120_000)
            wait_idle(page, 120_000)
            res["cold"].append(1000 * (time.perf_counter() - t_start))
            page.close()
            splits: dict[str, list] = {k: [] for k in ("weight", "budget", "expert", "upload")}
            for _ in range(args.repeats):
                page = browser.new_page(viewport={"width": 1500, "height": 1100})
                t0 = 1000 * time.time()
                page.goto(url + "/?guess=48.85,2.35&radius=200", wait_until="domcontentloaded")
                page.wait_for_function(deck_ready_js(), timeout=60_000)
                page.locator('[data-testid="stMetric"]', has_text="Most likely region").wait_for(timeout=60_000)
                res["session"].append(page.evaluate(SPLIT)[1] - t0)
                if _ is not args.repeats - 1:
                    page.close()
            slider = page.locator('[data-testid="stSlider"]', has_text="analyst guess").get_by_role("slider")
            budget = page.locator('[data-testid="stSlider"]', has_text="Area budget").get_by_role("slider")
            cpu0 = _cpu_s(proc.pid)
            for i in range(args.repeats):
                slider.focus()
                key = "ArrowLeft" if i % 2 else "ArrowRight"
                res["weight"].append(_changed_after(page, lambda k=key: slider.press(k), splits["weight"]))
                budget.focus()
                res["budget"].append(_changed_after(page, lambda k=key: budget.press(k), splits["budget"]))
            server_cpu_ms = 1000 * (_cpu_s(proc.pid) - cpu0) / (2 * args.repeats)
            for i in range(args.repeats):
                name = "population" if i % 2 == 0 else "ensemble"
                btn = page.locator('[data-testid="stButtonGroup"] button', has_text=name).first
                res["expert"].append(_changed_after(page, btn.click, splits["expert"], metrics=False))
            with tempfile.TemporaryDirectory() as d:
                for i in range(max(3, args.repeats // 2 + 1)):
                    f = Path(d) / f"p{i}.jpg"
                    buf = io.BytesIO()
                    Image.new("RGB", (320, 240), (20 * i % 255, 120, 200)).save(buf, "JPEG")
                    f.write_bytes(buf.getvalue())
                    try:
                        res["upload_first" if i == 0 else "upload"].append(_changed_after(page, lambda f=f: page.locator('[data-testid="stFileUploaderDropzoneInput"][accept*=".jpg"]').set_input_files(str(f)), splits["upload"], 60_000, metrics=False))
                    except Exception as err:  # noqa: BLE001 - report the other steps' numbers all the same
                        print(f"upload {i + 1}: map did not change within 60 s ({type(err).__name__})")
                        break
            browser.close()
    finally:
        stop(proc)
    print(f"server healthy after {t_health:.1f} s")
    _report("cold start to first map", res["cold"])
    _report("new session on a warm server (first map)", res["session"])
    _report("weight slider -> map redrawn", res["weight"])
    _report("budget slider -> map redrawn", res["budget"])
    _report("switch shown expert -> map redrawn", res["expert"])
    _report("first upload (tiny-random; loads models)", res["upload_first"])
    _report("later uploads (tiny-random) -> map", res["upload"])
    if res["weight"]:
        print(f"server CPU per slider move (weight and budget): {server_cpu_ms:.0f} ms")
    print("split (median ms): until the map's iframe received the new spec / building and drawing it there")
    for k, xs in splits.items():
        if xs:
            print(f"  {k:8s} {statistics.median(x[0] for x in xs):7.0f} / {statistics.median(x[1] for x in xs):5.0f}")


if __name__ == "__main__":
    main()
