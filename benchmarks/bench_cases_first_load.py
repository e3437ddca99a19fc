"""First load of the Cases page on a fresh server: seconds until the title and the guess box show, server CPU.

Starts ``streamlit run app.py`` (this checkout, or ``--app-dir`` another one, e.g. the worktree of an older
commit) on 127.0.0.1, offline, opens ``/cases?bench=<benchmark>&case=<id>&mode=guess`` in headless Chromium
and waits until the guess box is visible. Prints the wall time, the server process's CPU seconds
(user + system, from /proc) for the whole start and first load, and the load average, per run. Each run
is a new server process (the first visit pays the imports, priors, benchmark and maps; the user cache
folder's files stay as they are, as on a restarted server).

    .venv/bin/python benchmarks/bench_cases_first_load.py --runs 2 --port 8622
    .venv/bin/python benchmarks/bench_cases_first_load.py --runs 2 --port 8622 --app-dir /tmp/before   # the old code
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its reaped children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / tick


def one_run(app_dir: Path, port: int, data_dir: str, bench: str, case: str) -> tuple[float, float, float]:
    from playwright.sync_api import expect, sync_playwright

    sys.path.insert(0, str(REPO / "tests" / "e2e"))
    from workbench_helpers import CHROMIUM, CHROMIUM_ARGS

    env = dict(os.environ, GEOLOCATE_OFFLINE="1", HF_HUB_OFFLINE="1", GEOLOCATE_BACKBONE="tiny-random", GEOLOCATE_DATA_DIR=data_dir)
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.headless", "true",
                             "--server.address", "127.0.0.1"], cwd=app_dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = b.new_page()
            t0 = time.perf_counter()
            page.goto(f"{url}/cases?bench={bench}&case={case}&mode=guess", wait_until="domcontentloaded")
            expect(page.get_by_role("heading", name="Cases: one photo at a time")).to_be_visible(timeout=600_000)
            first = time.perf_counter() - t0  # the page's first sign of life (title; the progress box now comes with it)
            expect(page.get_by_label("Latitude, longitude")).to_be_visible(timeout=600_000)
            wall = time.perf_counter() - t0
            cpu = cpu_s(proc.pid)
            b.close()
        return first, wall, cpu
    finally:
        proc.terminate()
        proc.wait(20)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--app-dir", type=Path, default=REPO)
    ap.add_argument("--port", type=int, default=8622)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--benchmark", default="im2gps3k")
    ap.add_argument("--case", default="1000269685_e60e9cdfb4_1125_78841376@N00.jpg")
    args = ap.parse_args()
    for k in range(args.runs):
        load = Path("/proc/loadavg").read_text().split()[0]
        first, wall, cpu = one_run(args.app_dir, args.port, args.data_dir, args.benchmark, args.case)
        print(f"{args.app_dir} run {k + 1}: title after {first:.1f} s, guess box after {wall:.1f} s wall; server CPU {cpu:.1f} s (start + first load); load average {load}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
