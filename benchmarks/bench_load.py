"""Load test: N concurrent real-browser sessions against one app process and against `scripts/serve.sh P`.

Each session (its own browser context, so its own cookies and Streamlit session) opens the Locate page,
types its own guess (distinct coordinates) into "Your guess (lat, lon)", waits for the map's run to finish
with the most likely cell at its guess, then moves the "Area budget" slider a few times. Printed per target:
tracebacks in the server log(s), sessions isolated (each sees its own guess and none of the others'),
server RSS before and after, p50/p90 guess-to-map and slider-to-map times, wall time.

Everything binds to 127.0.0.1. Bounded: at most --sessions sessions, --moves slider moves each, and
--duration seconds per target (sessions still running then are counted as unfinished).

By default the browsers do not run WebGL (``--disable-3d-apis``): 20 software-rendered deck.gl maps would
measure the client's 2 cores, not the server. ``--webgl`` turns it back on.

Usage:
    .venv/bin/python benchmarks/bench_load.py                       # 20 sessions, single then proxy (2 processes)
    .venv/bin/python benchmarks/bench_load.py --target single --sessions 10 --duration 120
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited (code {proc.returncode}) before answering {url}")
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not answer in {timeout_s:.0f} s")


def pids_on_ports(ports: list[int]) -> list[int]:
    """Process ids of the `streamlit run` processes started with ``--server.port`` in ``ports``."""
    want = {str(p) for p in ports}
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            argv = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in argv]
        if "streamlit" in " ".join(args) and "--server.port" in args:
            i = args.index("--server.port")
            if i + 1 < len(args) and args[i + 1] in want:
                out.append(int(d.name))
    return out


def rss_mb(pids: list[int]) -> float:
    """Summed resident set size of ``pids`` (MB)."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def cpu_s(pids: list[int]) -> float:
    """Summed user + system CPU time of ``pids`` so far (s); unlike wall times, barely changed by other load."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
        except (OSError, IndexError, ValueError):
            pass
    return total / tick


@dataclass
class Target:
    name: str
    url: str
    proc: subprocess.Popen
    logs: list[Path]
    ports: list[int]
    run_dir: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def start_single(run_dir: Path) -> Target:
    port = free_port()
    log = run_dir / f"app-{port}.log"
    env = dict(os.environ, GEOLOCATE_OFFLINE="1", HF_HUB_OFFLINE="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=REPO, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, proc)
    return Target("single process", url, proc, [log], [port], run_dir)


def start_proxy(run_dir: Path, processes: int) -> Target:
    if not Path(NGINX).exists():
        raise SystemExit("nginx is not installed (apt-get install nginx-light); skip with --target single")
    listen = free_port()
    port0 = free_port()
    while any(not _free(port0 + i) or port0 + i == listen for i in range(processes)):
        port0 = free_port()
    env = dict(
        os.environ, GEOLOCATE_LISTEN=f"127.0.0.1:{listen}", GEOLOCATE_BACKEND_PORT=str(port0), GEOLOCATE_RUN_DIR=str(run_dir),
        GEOLOCATE_NGINX=NGINX, PYTHON=sys.executable, GEOLOCATE_OFFLINE="1", HF_HUB_OFFLINE="1",
    )
    proc = subprocess.Popen(["bash", "scripts/serve.sh", str(processes)], cwd=REPO, env=env, stdout=open(run_dir / "serve.out", "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{listen}"
    wait_healthy(url, proc, timeout_s=180)
    ports = [port0 + i for i in range(processes)]
    return Target(f"{processes} processes behind nginx", url, proc, [run_dir / f"app-{p}.log" for p in ports], ports, run_dir)


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


CITIES = [
    (48.86, 2.35), (30.04, 31.24), (-1.29, 36.82), (55.76, 37.62), (28.61, 77.21), (39.9, 116.4), (35.68, 139.69),
    (-33.87, 151.21), (-31.95, 115.86), (-6.21, 106.85), (-12.05, -77.04), (-23.55, -46.63), (-34.6, -58.38),
    (19.43, -99.13), (40.71, -74.01), (41.88, -87.63), (39.74, -104.99), (49.28, -123.12), (6.52, 3.38),
    (-33.92, 18.42), (35.69, 51.39), (13.76, 100.5), (61.22, -149.9), (64.15, -21.94), (40.42, -3.7),
]
"""Guesses on land, at least ~1,000 km apart, so each session's most likely cell sits at its own guess."""


def guess_for(i: int, n: int) -> tuple[float, float]:
    """Session i's guess (degrees): a city from :data:`CITIES`, nudged by 0.01° per round beyond 25 sessions."""
    lat, lon = CITIES[i % len(CITIES)]
    return round(lat + 0.01 * (i // len(CITIES)), 2), lon


def shows_guess(text: str, guess: tuple[float, float]) -> bool:
    """True if ``text`` holds ``guess`` as typed ("48.86, 2.35") or as in the view's link ("48.86%2C2.35")."""
    lat, lon = (re.escape(f"{v:g}") + r"(?:\.0+)?" for v in guess)
    return re.search(rf"(?<![\d.]){lat}(?:,\s*|%2C){lon}(?![\d])", text) is not None


def _gcd_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (*a, *b))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(h)))


@dataclass
class SessionResult:
    index: int
    guess: tuple[float, float]
    load_s: float | None = None
    guess_to_map_s: float | None = None
    slider_s: list[float] = field(default_factory=list)
    isolated: bool | None = None
    error: str = ""
    stage: str = "start"


MODE_LABEL = re.compile(r"Most likely (cell|region)")
RUN_DONE_JS = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"


async def _metric_value(page, label: str | re.Pattern) -> str:
    box = page.locator('[data-testid="stMetric"]', has_text=label)
    return (await box.locator('[data-testid="stMetricValue"]').inner_text()).strip()


async def one_session(browser, url: str, i: int, n: int, moves: int, deadline: float, timeout_ms: int, delay_s: float = 0.0) -> SessionResult:
    guess = guess_for(i, n)
    res = SessionResult(i, guess)
    await asyncio.sleep(delay_s)  # staggered arrivals (--ramp), not a wait for a state
    ctx = await browser.new_context(viewport={"width": 1200, "height": 900})
    try:
        page = await ctx.new_page()
        page.set_default_timeout(timeout_ms)
        res.stage = "page load"
        t0 = time.perf_counter()
        await page.goto(url, wait_until="domcontentloaded")
        await page.get_by_text("Locate a photo").first.wait_for()
        await page.locator('[data-testid="stMetric"]', has_text="Regions in budget").wait_for()
        await page.wait_for_function(RUN_DONE_JS)
        res.load_s = time.perf_counter() - t0

        res.stage = "guess"
        box = page.get_by_label("Your guess (lat, lon)")
        await box.fill(f"{guess[0]}, {guess[1]}")
        t0 = time.perf_counter()
        await box.press("Enter")
        # The map and the metrics come from one script run: the run is over and the mode sits at the guess.
        await page.wait_for_function(
            """([lat, lon]) => {
                if (document.querySelector('[data-testid="stStatusWidget"]')) return false;
                const m = [...document.querySelectorAll('[data-testid="stMetric"]')].find(e => /Most likely (cell|region)/.test(e.innerText));
                if (!m) return false;
                const v = m.querySelector('[data-testid="stMetricValue"]').innerText.split(',').map(Number);
                return Math.abs(v[0] - lat) < 1 && Math.abs(((v[1] - lon + 540) % 360) - 180) < 1.5;
            }""",
            arg=list(guess),
        )
        res.guess_to_map_s = time.perf_counter() - t0

        res.stage = "slider"
        slider = page.locator('[data-testid="stSlider"]', has_text="Area budget").get_by_role("slider")
        for k in range(moves):
            if time.monotonic() > deadline:
                break
            before = await _metric_value(page, "Regions in budget")
            await slider.focus()
            t0 = time.perf_counter()
            await slider.press("ArrowRight" if k % 2 == 0 else "ArrowLeft")
            await page.locator('[data-testid="stMetric"]', has_text="Regions in budget").locator('[data-testid="stMetricValue"]').filter(has_not_text=re.compile(f"^{re.escape(before)}$")).wait_for()
            await page.wait_for_function(RUN_DONE_JS)
            res.slider_s.append(time.perf_counter() - t0)

        res.stage = "isolation check"
        # Isolation: this page shows its own guess (input, most likely region) and none of the other sessions'
        # (page text, link, URL).
        text = await page.inner_text("body") + "\n" + page.url  # the URL carries the view, guess included
        own = await box.input_value()
        mode = tuple(float(v) for v in (await _metric_value(page, MODE_LABEL)).split(","))
        others = [guess_for(j, n) for j in range(n) if j != i]
        res.isolated = (
            own == f"{guess[0]}, {guess[1]}"
            and _gcd_km(mode, guess) < 150
            and not any(shows_guess(text, g) for g in others)
        )
    except Exception as err:  # noqa: BLE001 - one failing session is a result, not the end of the run
        res.error = f"at {res.stage}: {type(err).__name__}: {str(err).splitlines()[0][:160]}"
    finally:
        await ctx.close()
    return res


async def warm_up(browser, url: str, timeout_ms: int) -> None:
    """One visit that loads the page to the end of its first run (builds the process-wide caches)."""
    ctx = await browser.new_context()
    try:
        page = await ctx.new_page()
        page.set_default_timeout(timeout_ms)
        await page.goto(url, wait_until="domcontentloaded")
        await page.locator('[data-testid="stMetric"]', has_text="Regions in budget").wait_for()
        await page.wait_for_function(RUN_DONE_JS)
    finally:
        await ctx.close()


async def drive(url: str, sessions: int, moves: int, duration_s: float, webgl: bool, timeout_ms: int, on_warm=None, ramp_s: float = 0.0) -> tuple[list[SessionResult], float]:
    from playwright.async_api import async_playwright

    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"]
    if not webgl:
        args.append("--disable-3d-apis")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=args)
        if on_warm is not None:
            await warm_up(browser, url, timeout_ms)
            on_warm()
        t0 = time.monotonic()
        deadline = t0 + duration_s
        tasks = [asyncio.create_task(one_session(browser, url, i, sessions, moves, deadline, timeout_ms, ramp_s * i / sessions)) for i in range(sessions)]
        done, pending = await asyncio.wait(tasks, timeout=duration_s + 30)  # sessions stop moving at the bound
        for t in pending:
            t.cancel()
        results = [t.result() for t in done]
        for i, t in enumerate(tasks):
            if t in pending:
                results.append(SessionResult(i, guess_for(i, sessions), error="unfinished at the time bound"))
        wall = time.monotonic() - t0
        await browser.close()
    return sorted(results, key=lambda r: r.index), wall


def count_tracebacks(logs: list[Path]) -> tuple[int, list[str]]:
    n, firsts = 0, []
    for log in logs:
        lines = log.read_text(errors="replace").splitlines() if log.exists() else []
        for k, line in enumerate(lines):
            if line.startswith("Traceback"):
                n += 1
                tail = next((x for x in lines[k + 1 : k + 80] if x and not x.startswith(" ")), "")
                firsts.append(f"{log.name}: {tail[:160]}")
    return n, firsts


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def report(target: Target, results: list[SessionResult], wall: float, rss_before: float, rss_after: float, sessions: int) -> None:
    g = [r.guess_to_map_s for r in results if r.guess_to_map_s is not None]
    ld = [r.load_s for r in results if r.load_s is not None]
    s = [x for r in results for x in r.slider_s]
    tb, firsts = count_tracebacks(target.logs)
    print(f"\n== {target.name} ({target.url}) ==")
    print(f"sessions                 {sessions}   finished without error: {sum(not r.error for r in results)}")
    print(f"sessions isolated        {sum(bool(r.isolated) for r in results)} of {sessions}")
    print(f"tracebacks in server log {tb}")
    for f in firsts[:5]:
        print(f"   {f}")
    print(f"server RSS               before (warm) {rss_before:,.0f} MB   after {rss_after:,.0f} MB   (+{rss_after - rss_before:,.0f} MB)")
    print(f"page load to first map   n={len(ld)}  p50 {pct(ld, 50):.2f} s  p90 {pct(ld, 90):.2f} s")
    print(f"guess-to-map             n={len(g)}  p50 {pct(g, 50):.2f} s  p90 {pct(g, 90):.2f} s  max {max(g, default=float('nan')):.2f} s")
    print(f"slider-to-map            n={len(s)}  p50 {pct(s, 50):.2f} s  p90 {pct(s, 90):.2f} s")
    print(f"wall                     {wall:.1f} s")
    for r in results:
        if r.error or not r.isolated:
            print(f"   session {r.index} guess {r.guess}: isolated={r.isolated} {r.error}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=20, help="concurrent browser sessions (default 20)")
    ap.add_argument("--moves", type=int, default=3, help="slider moves per session (default 3)")
    ap.add_argument("--duration", type=float, default=240.0, help="time bound per target, seconds (default 240)")
    ap.add_argument("--target", choices=["single", "proxy", "both"], default="both")
    ap.add_argument("--processes", type=int, default=2, help="app processes behind nginx (default 2)")
    ap.add_argument("--timeout", type=float, default=120.0, help="per-step browser timeout, seconds (default 120)")
    ap.add_argument("--ramp", type=float, default=0.0, help="spread the session starts over this many seconds (default 0: all at once)")
    ap.add_argument("--webgl", action="store_true", help="let the browsers render the deck.gl maps (software GL)")
    a = ap.parse_args(argv)
    if not (1 <= a.sessions <= 100 and 0 <= a.moves <= 50 and 0 < a.duration <= 3600):
        ap.error("need 1 <= --sessions <= 100, 0 <= --moves <= 50, 0 < --duration <= 3600")
    if not Path(CHROMIUM).exists():
        raise SystemExit("Debian chromium is not installed (apt-get install chromium)")
    print(f"{a.sessions} sessions (starts spread over {a.ramp:.0f} s), {a.moves} slider moves each, bound {a.duration:.0f} s per target, {os.cpu_count()} CPU cores, "
          f"load average at start {os.getloadavg()[0]:.1f}, WebGL {'on' if a.webgl else 'off'}")
    for kind in (["single", "proxy"] if a.target == "both" else [a.target]):
        run_dir = Path(tempfile.mkdtemp(prefix=f"geolocate-load-{kind}-"))
        target = start_single(run_dir) if kind == "single" else start_proxy(run_dir, a.processes)
        try:
            pids = pids_on_ports(target.ports)
            fresh, cpu0 = rss_mb(pids), cpu_s(pids)
            warm = []
            results, wall = asyncio.run(drive(target.url, a.sessions, a.moves, a.duration, a.webgl, int(a.timeout * 1000), ramp_s=a.ramp, on_warm=lambda warm=warm, pids=pids: warm.append((rss_mb(pids), cpu_s(pids)))))
            after, cpu2 = rss_mb(pids), cpu_s(pids)
            print(f"\nserver RSS fresh {fresh:,.0f} MB; after one warm-up visit (process-wide caches built) {warm[0][0]:,.0f} MB")
            report(target, results, wall, warm[0][0], after, a.sessions)
            print(f"server CPU               warm-up visit {warm[0][1] - cpu0:.1f} s; the {a.sessions} sessions {cpu2 - warm[0][1]:.1f} s "
                  f"({(cpu2 - warm[0][1]) / max(a.sessions, 1):.2f} s per session: page load, guess, {a.moves} slider moves)")
            print(f"logs in {run_dir}; load average now {os.getloadavg()[0]:.1f}")
        finally:
            target.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
