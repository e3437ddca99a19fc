"""Several app processes behind nginx (`scripts/serve.sh 2`): the app loads through the proxy, each browser
stays on one backend (websocket, uploads), sessions work on both backends, and uploads pass without
touching the disk (neither nginx's temp folders nor the backends' temp folder)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from serverproc import CHROMIUM, CHROMIUM_ARGS, REPO, DirWatch, free_port, need_browser, noisy_jpeg, wait_healthy

pytestmark = pytest.mark.e2e

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    need_browser()
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    run_dir = tmp_path_factory.mktemp("serve")
    app_tmp = tmp_path_factory.mktemp("apptmp")
    listen, port0 = free_port(), free_port()
    while port0 + 1 == listen or not _port_free(port0 + 1):
        port0 = free_port()
    env = dict(
        os.environ, GEOLOCATE_LISTEN=f"127.0.0.1:{listen}", GEOLOCATE_BACKEND_PORT=str(port0), GEOLOCATE_RUN_DIR=str(run_dir),
        TMPDIR=str(app_tmp), GEOLOCATE_NGINX=NGINX, GEOLOCATE_BACKBONE=os.environ.get("GEOLOCATE_BACKBONE", "tiny-random"),
        GEOLOCATE_OFFLINE="1", HF_HUB_OFFLINE="1",
    )
    log = open(run_dir / "serve.out", "wb")
    proc = subprocess.Popen(["bash", "scripts/serve.sh", "2"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{listen}"
    try:
        wait_healthy(url, timeout_s=120, proc=proc)
        yield url, run_dir, app_tmp, [f"127.0.0.1:{port0}", f"127.0.0.1:{port0 + 1}"]
    finally:
        proc.send_signal(signal.SIGTERM)  # serve.sh stops its app processes and nginx
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        for port in (listen, port0, port0 + 1):
            assert not _listening(port), f"something still listens on {port} after serve.sh stopped"


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def test_app_through_proxy_with_session_affinity(proxy, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    url, run_dir, app_tmp, backends = proxy
    photo = tmp_path / "big.jpg"
    photo.write_bytes(noisy_jpeg(3_500_000))
    temp_dirs = [app_tmp] + [run_dir / d for d in ("client_body_temp", "proxy_temp") if (run_dir / d).exists()]

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # New browser contexts (separate cookie jars) until both backends have one; the first
            # request of a context is hashed on a random id, so this ends quickly.
            per_backend = {}
            for _ in range(16):
                ctx = browser.new_context()
                page = ctx.new_page()
                backend = page.goto(url, wait_until="domcontentloaded").headers["x-geolocate-backend"]
                if backend in per_backend:
                    ctx.close()
                    continue
                per_backend[backend] = page
                if len(per_backend) == 2:
                    break
            assert sorted(per_backend) == sorted(backends)

            for i, (backend, page) in enumerate(sorted(per_backend.items())):
                expect(page.get_by_text("Locate a photo")).to_be_visible(timeout=120_000)
                guess = page.get_by_label("Your guess (lat, lon)")
                guess.fill(f"{40 + i}.5, {10 + i}.5")
                guess.press("Enter")
                metric = page.locator('[data-testid="stMetric"]', has_text=re.compile(r"Most likely (cell|region)"))
                expect(metric).to_contain_text(f"{40 + i}.", timeout=120_000)  # the websocket session answers

                watch = DirWatch(*temp_dirs)
                try:
                    with page.expect_response(lambda r: "/_stcore/upload_file/" in r.url and r.request.method == "PUT", timeout=120_000) as resp:
                        page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(photo))
                    events = watch.events()
                finally:
                    watch.close()
                # The upload names the websocket's session: it only succeeds on that session's process.
                assert resp.value.status == 204
                assert resp.value.headers["x-geolocate-backend"] == backend
                assert events == [], f"an upload through the proxy touched the disk: {events[:5]}"
        finally:
            browser.close()
    errors = (run_dir / "nginx-error.log").read_text() if (run_dir / "nginx-error.log").exists() else ""
    assert "buffered to a temporary file" not in errors
    for log in run_dir.glob("app-*.log"):
        assert "Traceback" not in log.read_text(errors="replace"), log.name
