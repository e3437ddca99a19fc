"""Helpers for the server tests: a real `streamlit run` process, a headless Chromium, an inotify watch."""

from __future__ import annotations

import ctypes
import io
import os
import select
import shutil
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def need_browser() -> None:
    """Skip unless Debian chromium and playwright are present."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, timeout_s: float = 120.0, proc: subprocess.Popen | None = None) -> None:
    """Poll ``url``/_stcore/health until it answers ok; fail with the server's output otherwise."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            break
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"{url} did not become healthy in {timeout_s:.0f} s")


@contextmanager
def streamlit_server(script: str | Path = "app.py", env: dict[str, str] | None = None, log: Path | None = None) -> Iterator[str]:
    """Run ``streamlit run script`` on 127.0.0.1 and a free port; yield its URL."""
    port = free_port()
    full_env = dict(os.environ, GEOLOCATE_BACKBONE=os.environ.get("GEOLOCATE_BACKBONE", "tiny-random"), GEOLOCATE_OFFLINE="1", HF_HUB_OFFLINE="1")
    full_env.update(env or {})
    out = open(log, "wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port), "--server.headless", "true", "--server.address", "127.0.0.1"],
        cwd=REPO, env=full_env, stdout=out, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc=proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if log:
            out.close()


def noisy_jpeg(min_bytes: int, seed: int = 0) -> bytes:
    """A JPEG of random noise at least ``min_bytes`` long (noise does not compress)."""
    rng = np.random.default_rng(seed)
    side = 600
    while True:
        arr = rng.integers(0, 256, size=(side * 3 // 4, side, 3), dtype=np.uint8)
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "JPEG", quality=95)
        if buf.tell() >= min_bytes:
            return buf.getvalue()
        side = int(side * 1.25)


class DirWatch:
    """inotify watch on directories: reports every file created, opened, written or moved there.

    An anonymous O_TMPFILE (what ``tempfile.TemporaryFile`` makes on Linux) has no name to poll for, but
    inotify still reports its open and writes (name ``#<inode>``), so this sees spooled uploads too.
    """

    IN_MODIFY, IN_CLOSE_WRITE, IN_OPEN, IN_MOVED_TO, IN_CREATE = 0x2, 0x8, 0x20, 0x80, 0x100

    def __init__(self, *dirs: Path) -> None:
        self._libc = ctypes.CDLL("libc.so.6", use_errno=True)
        self.fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            pytest.skip("inotify is unavailable here")
        mask = self.IN_MODIFY | self.IN_CLOSE_WRITE | self.IN_OPEN | self.IN_MOVED_TO | self.IN_CREATE
        self.names: dict[int, Path] = {}
        for d in dirs:
            wd = self._libc.inotify_add_watch(self.fd, str(d).encode(), mask)
            if wd < 0:
                raise OSError(ctypes.get_errno(), f"inotify_add_watch {d}")
            self.names[wd] = Path(d)

    def events(self, wait_s: float = 0.2) -> list[tuple[Path, str, int]]:
        """Events queued so far, as (directory, name, mask); waits up to ``wait_s`` for the first."""
        out = []
        while select.select([self.fd], [], [], wait_s)[0]:
            buf = os.read(self.fd, 1 << 16)
            i = 0
            while i < len(buf):
                wd, mask, _cookie, ln = struct.unpack_from("iIII", buf, i)
                name = buf[i + 16 : i + 16 + ln].rstrip(b"\0").decode(errors="replace")
                out.append((self.names.get(wd, Path("?")), name, mask))
                i += 16 + ln
            wait_s = 0.05
        return out

    def close(self) -> None:
        os.close(self.fd)
