"""`scripts/serve.sh 2` survives a dead process: a backend killed with SIGKILL is routed around at once
(the same browser's next requests reach the live one, with its affinity cookie), started again by the
script's restart loop, and only SIGTERM stops everything (nothing listens after it)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from serverproc import REPO, free_port, wait_healthy

pytestmark = pytest.mark.e2e

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _get(url: str, cookie: str | None = None) -> tuple[int, str, str]:
    """(status, backend, Set-Cookie affinity value) of a GET through the proxy."""
    req = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, headers = r.status, r.headers
    except urllib.error.HTTPError as err:
        status, headers = err.code, err.headers
    set_cookie = next((c.split(";")[0] for c in headers.get_all("Set-Cookie") or [] if c.startswith("geolocate_affinity=")), "")
    return status, headers.get("X-Geolocate-Backend", ""), set_cookie


def _until(pred, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"{what} within {timeout_s:.0f} s")


def test_a_killed_backend_is_routed_around_and_restarted(tmp_path):
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    listen = free_port()
    port0 = free_port()
    while port0 + 1 == listen or _listening(port0 + 1):
        port0 = free_port()
    env = dict(os.environ, GEOLOCATE_LISTEN=f"127.0.0.1:{listen}", GEOLOCATE_BACKEND_PORT=str(port0), GEOLOCATE_RUN_DIR=str(tmp_path),
               GEOLOCATE_NGINX=NGINX, GEOLOCATE_BACKBONE="tiny-random", GEOLOCATE_OFFLINE="1", HF_HUB_OFFLINE="1", GEOLOCATE_CLASSROOM_DB=str(tmp_path / "c.sqlite3"))
    out = open(tmp_path / "serve.out", "wb")
    proc = subprocess.Popen(["bash", "scripts/serve.sh", "2"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{listen}"
    try:
        wait_healthy(url, timeout_s=180, proc=proc)
        # A browser pinned to one backend by its cookie.
        status, backend, cookie = _get(url + "/_stcore/health")
        assert status == 200 and cookie
        victim = int(backend.rsplit(":", 1)[1])
        other = f"127.0.0.1:{port0 + (1 - (victim - port0))}"
        pid_file = tmp_path / f"app-{victim}.pid"
        old_pid = int(pid_file.read_text())
        os.kill(old_pid, signal.SIGKILL)
        _until(lambda: not _listening(victim), 10, "the killed backend stopped listening")
        # The same browser's next request reaches the live backend (no 502), and the script is still running.
        status, backend, _ = _get(url + "/_stcore/health", cookie)
        assert (status, backend.split(", ")[-1]) == (200, other)  # the dead one was tried first, then the live one
        for _ in range(5):
            assert _get(url + "/_stcore/health")[0] == 200  # new visitors too
        assert proc.poll() is None and _listening(port0 + (1 - (victim - port0)))
        # The restart loop starts the killed process again.
        _until(lambda: pid_file.exists() and int(pid_file.read_text()) != old_pid, 15, "the killed backend was started again")
        wait_healthy(f"http://127.0.0.1:{victim}", timeout_s=180)
        assert "starting it again" in (tmp_path / f"app-{victim}.log").read_text()
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        finally:
            out.close()
    for port in (listen, port0, port0 + 1):
        assert not _listening(port), f"something still listens on {port} after serve.sh stopped"
    for log in tmp_path.glob("app-*.log"):
        assert "Traceback" not in log.read_text(errors="replace"), log.name
