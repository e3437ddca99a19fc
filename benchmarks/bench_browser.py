"""Browser-side speed of the workbench: real headless Chromium against `streamlit run app.py`.

Prints median and p90 (ms) for: cold start to first map, first map for a new session on a warm server,
weight slider moved until the map has redrawn, budget slider, switching the shown expert, and upload to map
(tiny-random backbone). "Redrawn" = the metrics changed, the page received the new deck spec and then the
script's end over the websocket (the deck can arrive well after the metrics, and Streamlit's status widget
does not show for short reruns, so neither alone marks the end), and the browser has run two animation
frames since (it has processed and drawn the deck).

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


TWO_FRAMES = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))"


class Wire:
    """Times of the deck specs and script ends the page receives (parsed from its websocket messages).

    A deck Streamlit already sent arrives as a reference (``ref_hash``); in this app the deck is the only
    element big enough (>= 10 kB) to be cached that way, so a reference counts as a deck.
    """

    def __init__(self) -> None:
        self.decks: list[float] = []
        self.finished: list[float] = []

    def attach(self, page) -> None:
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))

    def _frame(self, frame) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        if isinstance(frame, str):
            return
        t = time.perf_counter()
        msg = ForwardMsg.FromString(frame)
        kind = msg.WhichOneof("type")
        if kind == "ref_hash" or (kind == "delta" and msg.delta.WhichOneof("type") == "new_element" and msg.delta.new_element.WhichOneof("type") == "deck_gl_json_chart"):
            self.decks.append(t)
        elif kind == "script_finished":
            self.finished.append(t)

    def wait(self, page, t0: float, timeout_ms: int) -> None:
        """Until a deck and then a script end arrived after ``t0`` (the browser keeps running meanwhile)."""
        deadline = time.perf_counter() + timeout_ms / 1000
        while not (any(t > t0 for t in self.decks) and any(t > max(self.decks) for t in self.finished)):
            if time.perf_counter() > deadline:
                raise TimeoutError("no new deck spec and script end arrived")
            page.wait_for_timeout(5)  # lets Playwright deliver the websocket events


def _changed_after(page, action, wire: Wire, timeout_ms: int = 60_000) -> float:
    """ms from the action until the metrics changed, the new deck and the script end arrived, and the
    browser has drawn two frames since."""
    before = page.evaluate(MAP_SIG)
    t0 = time.perf_counter()
    action()
    page.wait_for_function(f"(b) => ({MAP_SIG})() !== b", arg=before, timeout=timeout_ms)
    wire.wait(page, t0, timeout_ms)
    wait_idle(page, timeout_ms)
    page.wait_for_function(deck_ready_js(), timeout=timeout_ms)
    page.evaluate(TWO_FRAMES)
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
            wire = Wire()
            for _ in range(args.repeats):
                page = browser.new_page(viewport={"width": 1500, "height": 1100})
                wire.attach(page)
                t0 = time.perf_counter()
                page.goto(url + "/?guess=48.85,2.35&radius=200", wait_until="domcontentloaded")
                page.wait_for_function(deck_ready_js(), timeout=60_000)
                page.locator('[data-testid="stMetric"]', has_text="Most likely region").wait_for(timeout=60_000)
                wait_idle(page)
                page.evaluate(TWO_FRAMES)
                res["session"].append(1000 * (time.perf_counter() - t0))
                if _ is not args.repeats - 1:
                    page.close()
            slider = page.locator('[data-testid="stSlider"]', has_text="analyst guess").get_by_role("slider")
            budget = page.locator('[data-testid="stSlider"]', has_text="Area budget").get_by_role("slider")
            for i in range(args.repeats):
                slider.focus()
                key = "ArrowLeft" if i % 2 else "ArrowRight"
                res["weight"].append(_changed_after(page, lambda k=key: slider.press(k), wire))
                budget.focus()
                res["budget"].append(_changed_after(page, lambda k=key: budget.press(k), wire))
            for i in range(args.repeats):
                name = "population" if i % 2 == 0 else "ensemble"
                btn = page.locator('[data-testid="stButtonGroup"] button', has_text=name).first
                res["expert"].append(_changed_after(page, btn.click, wire))
            with tempfile.TemporaryDirectory() as d:
                for i in range(max(2, args.repeats // 2)):
                    f = Path(d) / f"p{i}.jpg"
                    buf = io.BytesIO()
                    Image.new("RGB", (320, 240), (20 * i % 255, 120, 200)).save(buf, "JPEG")
                    f.write_bytes(buf.getvalue())
                    try:
                        res["upload"].append(_changed_after(page, lambda f=f: page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(f)), wire, 60_000))
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
    _report("upload (tiny-random) -> map", res["upload"])


if __name__ == "__main__":
    main()
