"""Fault injection on the workshop setup: 10 real Chromium sessions in one classroom round behind
`scripts/serve.sh 2`, while the script kills one backend with SIGKILL, locks the classroom database for
40 s, and restarts the whole server once.

Each session joins with its own name and guesses one photo per phase (the round has four):

0. warm-up: every session guesses photo 1;
1. SIGKILL of the backend that holds the most sessions: the sessions on the other backend guess photo 2
   at once (they must not notice); the sessions on the dead one must reconnect to a live process, be told
   their page was reset, still be the same name, and guess photo 2;
2. another program holds the database's write lock for 40 s while every session submits photo 3: each
   page must say the store is unavailable and keep the guess, and every guess must land once the lock goes;
3. SIGTERM of serve.sh and a fresh start on the same ports and database: every page must reconnect, be
   told it was reset, be the same name, and guess photo 4.

Prints sessions that kept working (through the kill, without a reset), sessions that reconnected, students
who kept their names, guesses lost (clicked and confirmed by the page, but missing from the database, or
missing anywhere: must be 0), and tracebacks in any log or page (must be 0).

    .venv/bin/python benchmarks/fault_inject.py [--sessions 10] [--lock-s 40] [--timeout 120]

Everything stays on 127.0.0.1 (offline, tiny backbone, a fresh database and run folder in a temporary
folder); every wait is bounded by --timeout seconds, and the whole run stops by itself.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from _common import REPO

from geolocate.teach.classroom import UNAVAILABLE, Classroom

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CASES = [{"image_id": f"case{k}.jpg", "lat": 10.0 * k, "lon": 5.0 * k, "photo_url": None, "scene": {"urban": 0.5}, "models": {"ensemble": 1e5}} for k in range(4)]
RESET = "This page was reset"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def healthy(url: str) -> bool:
    try:
        return urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok"
    except OSError:
        return False


def until(pred, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.25)
    raise TimeoutError(f"{what} within {timeout_s:.0f} s")


class Server:
    """`scripts/serve.sh 2` on fixed ports, started and stopped by this script."""

    def __init__(self, run_dir: Path, db: Path):
        self.run_dir, self.listen, self.port0 = run_dir, free_port(), free_port()
        while self.port0 + 1 == self.listen or listening(self.port0 + 1):
            self.port0 = free_port()
        self.env = dict(os.environ, GEOLOCATE_LISTEN=f"127.0.0.1:{self.listen}", GEOLOCATE_BACKEND_PORT=str(self.port0), GEOLOCATE_RUN_DIR=str(run_dir),
                        GEOLOCATE_NGINX=NGINX, GEOLOCATE_BACKBONE="tiny-random", GEOLOCATE_OFFLINE="1", HF_HUB_OFFLINE="1", GEOLOCATE_CLASSROOM_DB=str(db))
        self.url = f"http://127.0.0.1:{self.listen}"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self, timeout_s: float) -> None:
        self.starts += 1
        out = open(self.run_dir / f"serve-{self.starts}.out", "wb")
        self.proc = subprocess.Popen(["bash", "scripts/serve.sh", "2"], cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        until(lambda: healthy(self.url), timeout_s, "serve.sh answered")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def backend_pid(self, port: int) -> int:
        return int((self.run_dir / f"app-{port}.pid").read_text())


class Student:
    """One browser context on the round's student link."""

    def __init__(self, browser, url: str, name: str):
        self.name, self.ctx = name, browser.new_context()
        self.page = self.ctx.new_page()
        self.backend = self.page.goto(url, wait_until="domcontentloaded").headers.get("x-geolocate-backend", "")
        self.confirmed: set[int] = set()  # photos whose reveal this page showed
        self.reset_seen = 0

    def join(self, timeout_ms: int) -> None:
        self.page.get_by_label("Your name (shown on the leaderboard)").fill(self.name, timeout=timeout_ms)
        self.page.get_by_role("button", name="Join").click(timeout=timeout_ms)
        self.page.get_by_text(f"Joined as {self.name}", exact=True).wait_for(timeout=timeout_ms)

    def joined_as(self, timeout_ms: int) -> bool:
        try:
            self.page.get_by_text(f"Joined as {self.name}", exact=True).wait_for(timeout=timeout_ms)
            return True
        except Exception:
            return False

    def submit(self, k: int, timeout_ms: int) -> None:
        self.page.get_by_role("heading", name=f"Photo {k + 1} of {len(CASES)}").wait_for(timeout=timeout_ms)
        self.page.get_by_label("Your guess: latitude, longitude").fill(f"{10.0 * k}, {5.0 * k + 1.0}", timeout=timeout_ms)
        self.page.get_by_role("button", name="Submit guess").click(timeout=timeout_ms)

    def await_reveal(self, k: int, timeout_ms: int) -> None:
        self.page.locator('[data-testid="stMetric"]', has_text="Distance").wait_for(timeout=timeout_ms)
        self.confirmed.add(k)
        self.page.get_by_role("button", name="Next photo" if k + 1 < len(CASES) else "Finish").click(timeout=timeout_ms)
        if k + 1 < len(CASES):
            self.page.get_by_role("heading", name=f"Photo {k + 2} of {len(CASES)}").wait_for(timeout=timeout_ms)

    def guess(self, k: int, timeout_ms: int) -> None:
        self.submit(k, timeout_ms)
        self.await_reveal(k, timeout_ms)

    def await_reset(self, timeout_ms: int) -> bool:
        try:
            self.page.get_by_text(RESET).first.wait_for(timeout=timeout_ms)
            self.reset_seen += 1
            return True
        except Exception:
            return False

    def tracebacks(self) -> int:
        text = self.page.content()
        return text.count("Traceback") + self.page.locator('[data-testid="stException"]').count()


def _safe_tracebacks(s: Student) -> int:
    try:
        return s.tracebacks()
    except Exception:  # noqa: BLE001 - a closed page
        return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--lock-s", type=float, default=40.0)
    ap.add_argument("--timeout", type=float, default=120.0, help="bound on every wait, seconds")
    args = ap.parse_args()
    if not Path(CHROMIUM).exists() or not Path(NGINX).exists():
        print("needs Debian chromium and nginx (apt-get install chromium nginx-light)")
        return 2
    from playwright.sync_api import sync_playwright

    t_ms = int(args.timeout * 1000)
    tmp = Path(tempfile.mkdtemp(prefix="geolocate-fault-"))
    db = tmp / "classroom.sqlite3"
    code, _key = Classroom(db).create_round(CASES, title="fault injection")
    server = Server(tmp / "run", db)
    server.run_dir.mkdir()
    notes: list[str] = []
    students: list[Student] = []
    t0 = time.monotonic()
    kept_working = reconnected_after_kill = reconnected_after_restart = 0
    page_tracebacks = 0
    try:
        server.start(args.timeout * 2)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                link = f"{server.url}/classroom?round={code}"
                for i in range(args.sessions):
                    students.append(Student(browser, link, f"s{i:02d}"))
                for s in students:
                    s.join(t_ms)
                for s in students:
                    s.guess(0, t_ms)
                print(f"phase 0: {len(students)} sessions joined and guessed photo 1 ({time.monotonic() - t0:.0f} s); backends: "
                      + ", ".join(f"{b}: {sum(s.backend == b for s in students)}" for b in sorted({s.backend for s in students})))

                # 1. SIGKILL of the backend with the most sessions.
                victim_addr = max(sorted({s.backend for s in students}), key=lambda b: sum(s.backend == b for s in students))
                victim = int(victim_addr.rsplit(":", 1)[1])
                old_pid = server.backend_pid(victim)
                os.kill(old_pid, signal.SIGKILL)
                until(lambda: not listening(victim), args.timeout, "the killed backend stopped listening")
                on_dead = [s for s in students if s.backend == victim_addr]
                on_live = [s for s in students if s.backend != victim_addr]
                for s in on_live:
                    s.guess(1, t_ms)
                    if s.page.get_by_text(RESET).count() == 0:
                        kept_working += 1
                for s in on_dead:
                    if s.await_reset(t_ms) and s.joined_as(t_ms):
                        reconnected_after_kill += 1
                    s.guess(1, t_ms)
                until(lambda: (server.run_dir / f"app-{victim}.pid").exists() and server.backend_pid(victim) != old_pid and healthy(f"http://127.0.0.1:{victim}"),
                      args.timeout, "the killed backend was started again")
                print(f"phase 1: killed {victim_addr} (pid {old_pid}); {kept_working} of {len(on_live)} sessions on the live backend kept working, "
                      f"{reconnected_after_kill} of {len(on_dead)} on the dead one reconnected, were told and kept their name; restarted ({time.monotonic() - t0:.0f} s)")

                # 2. The database's write lock held by another program for --lock-s seconds.
                locker = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
                locker.execute("BEGIN EXCLUSIVE")
                released = threading.Event()
                timer = threading.Timer(args.lock_s, lambda: (locker.execute("ROLLBACK"), released.set()))
                t_lock = time.monotonic()
                timer.start()
                told = 0
                try:
                    for s in students:
                        s.submit(2, t_ms)
                    for s in students:
                        try:
                            s.page.get_by_text(UNAVAILABLE).first.wait_for(timeout=t_ms)
                            told += 1
                        except Exception:
                            pass
                finally:
                    released.wait(args.lock_s + 5)
                locker.close()
                for s in students:
                    s.await_reveal(2, t_ms)
                print(f"phase 2: database locked for {args.lock_s:.0f} s; {told} of {len(students)} pages said '{UNAVAILABLE}' and kept the guess; "
                      f"all reveals {time.monotonic() - t_lock:.0f} s after the lock began")

                # 3. The whole server restarted on the same ports and database.
                server.stop()
                for port in (server.listen, server.port0, server.port0 + 1):
                    if listening(port):
                        notes.append(f"port {port} still listening after SIGTERM")
                server.start(args.timeout * 2)
                for s in students:
                    if s.await_reset(t_ms) and s.joined_as(t_ms):
                        reconnected_after_restart += 1
                    s.guess(3, t_ms)
                print(f"phase 3: whole server restarted; {reconnected_after_restart} of {len(students)} pages reconnected, were told and kept their name ({time.monotonic() - t0:.0f} s)")
                page_tracebacks = sum(s.tracebacks() for s in students)
            except Exception:
                for s in students:  # what each page showed when a wait ran out (kept with the logs)
                    try:
                        (tmp / f"page-{s.name}.txt").write_text(s.page.inner_text("body", timeout=5000))
                    except Exception:  # noqa: BLE001 - a closed page: nothing to keep
                        pass
                raise
            finally:
                page_tracebacks = page_tracebacks or sum(_safe_tracebacks(s) for s in students)
                browser.close()
    except Exception as err:  # a bounded wait ran out: report what was reached
        notes.append(f"stopped early: {type(err).__name__}: {str(err).splitlines()[0][:300]}")
    finally:
        server.stop()

    room = Classroom(db)
    stored = {(r[0], r[1]) for r in room._run(lambda con: con.execute("SELECT name, case_no FROM guesses WHERE code = ?", (code,)).fetchall())}
    confirmed = {(s.name, k) for s in students for k in s.confirmed}
    names_kept = sum(1 for s in students if all((s.name, k) in stored for k in range(len(CASES))) and room.students(code).count(s.name) == 1)
    expected = {(s.name, k) for s in students for k in range(len(CASES))}
    lost = len(confirmed - stored) + len(expected - stored)
    log_tracebacks = sum(f.read_text(errors="replace").count("Traceback") for f in server.run_dir.glob("*") if f.is_file() and f.suffix in (".log", ".out"))
    print(f"sessions: {len(students)}, run time {time.monotonic() - t0:.0f} s")
    print(f"sessions that kept working: {kept_working}")
    print(f"sessions that reconnected: {reconnected_after_kill} after the kill, {reconnected_after_restart} after the restart")
    print(f"students who kept their names: {names_kept} of {len(students)} (all four guesses under one name, one row each)")
    print(f"guesses lost: {lost} (stored {len(stored)} of {len(expected)}; confirmed by pages {len(confirmed)})")
    print(f"tracebacks in any log or page: {log_tracebacks + page_tracebacks} (logs {log_tracebacks}, pages {page_tracebacks})")
    for n in notes:
        print("note:", n)
    ok = lost == 0 and log_tracebacks + page_tracebacks == 0 and not notes and names_kept == len(students)
    if ok:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"logs kept in {tmp}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
