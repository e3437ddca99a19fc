"""Peak memory of decoding an album: 12 uploads of about 21 MB JPEGs through UploadStore.sync.

The uploads are held as Streamlit holds them (one bytes object per file, before the store runs); the
script measures the process's resident memory (RSS) just before sync and its peak during sync (Linux
VmHWM, reset through /proc/self/clear_refs), and the RSS after, when only the downscaled photos remain.
Target: peak <= +250 MB over the uploads already in memory.

``--server``: the same album uploaded by headless Chromium to the Locate page of a real
``streamlit run app.py`` (127.0.0.1, offline, tiny backbone); the server's RSS is sampled every 50 ms from
/proc from before the upload until the page has listed the decoded photos and gone idle, and the peak over
the warm page's RSS is printed (what a session with an album costs the server, Streamlit's copies included).
The first session also builds the process-wide image caches; the last one is the per-session figure.
``--stages LOG`` runs the server through ``_memstages.py`` (a memory line per stage: Streamlit storing each
upload, ``UploadStore.sync``, the image experts, ``locate.build``, ``st.image``), ``--env KEY=VALUE`` sets
the server's environment (``GEOLOCATE_MEMTRACE=1``: tracemalloc growth per stage;
``GEOLOCATE_MEMSTAGES_RELEASE=1``: the store releases Streamlit's copies as the page does with
``pages/_uploads.uploader_release``; ``MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=4194304``: as
``scripts/serve.sh`` sets them), ``--repo DIR`` serves another checkout (a paired before/after run).

    .venv/bin/python benchmarks/bench_upload_memory.py [--photos 12] [--mb 21]
    .venv/bin/python benchmarks/bench_upload_memory.py --server [--stages LOG] [--env K=V ...] [--repo DIR]
"""

from __future__ import annotations

import argparse
import gc
import io
import sys
from collections.abc import Sequence

import numpy as np
from _common import verdict
from PIL import Image

from geolocate.uploads import UploadStore


def rss_mb(field: str = "VmRSS") -> float:
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(field)


def big_jpeg(min_mb: float) -> bytes:
    """A camera-sized JPEG of at least ``min_mb`` MB: smooth gradients plus noise (slow to compress away)."""
    rng = np.random.default_rng(0)
    w, h = 6000, 4000
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([(x * 255 // w), (y * 255 // h), ((x + y) * 255 // (w + h))], axis=-1).astype(np.int16)
    q = 90
    while True:
        arr = np.clip(base + rng.integers(-60, 60, size=base.shape), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "JPEG", quality=q)
        if buf.tell() >= min_mb * 1e6 or q >= 100:
            return buf.getvalue()
        q += 3


class Upload(io.BytesIO):
    """Like Streamlit's UploadedFile: a BytesIO sharing its bytes, with name, file_id and size."""

    def __init__(self, name: str, data: bytes):
        super().__init__(data)
        self.name, self.file_id, self.size = name, f"id-{name}", len(data)


def proc_rss_mb(pid: int) -> float:
    """RSS of process ``pid`` in MB (0 once it has exited)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


def server_run(photos: int, mb: float, timeout_s: float = 300.0, port: int = 0, stages: str = "", env_extra: Sequence[str] = (), sessions: int = 2, repo: str = "") -> int:
    """Upload the album to a real server's Locate page; print its RSS before, at peak and after.

    Args:
        photos: album size.
        mb: least size of each JPEG, in MB.
        timeout_s: bound on each wait, in seconds.
        port: the server's port (0: a free one).
        stages: a log file: run the server through ``_memstages.py`` (a memory line per stage) and print it.
        env_extra: ``KEY=VALUE`` settings for the server's environment (e.g. ``MALLOC_ARENA_MAX=2``).
        sessions: albums uploaded one after another, each from a new browser context (1 to 3).
        repo: serve ``app.py`` of this checkout instead (e.g. a worktree of an older commit, for a paired
            before/after run under the same load; its own ``geolocate`` is imported).
    """
    import os
    import signal
    import socket
    import subprocess
    import tempfile
    import threading
    import time
    import urllib.request
    from pathlib import Path

    from _common import REPO
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="geolocate-upmem-"))  # generated test fixtures only (noise, not photos)
    one = big_jpeg(mb)
    files = []
    for i in range(photos):
        f = tmp / f"p{i:02d}.jpg"
        f.write_bytes(one + bytes([i]) * 16)
        files.append(str(f))
    del one
    if not port:
        with socket.socket() as sk:
            sk.bind(("127.0.0.1", 0))
            port = sk.getsockname()[1]
    env = dict(os.environ, GEOLOCATE_BACKBONE="tiny-random", GEOLOCATE_OFFLINE="1", HF_HUB_OFFLINE="1")
    for kv in env_extra:
        key, _, value = kv.partition("=")
        env[key] = value
    server = [str(Path(__file__).with_name("_memstages.py"))] if stages else ["-m", "streamlit", "run", "app.py"]
    if stages:
        env["GEOLOCATE_MEMLOG"] = stages
        Path(stages).unlink(missing_ok=True)
    if repo and stages:
        raise SystemExit("--repo and --stages do not go together (the stage log wraps this checkout's code)")
    proc = subprocess.Popen([sys.executable, *server, "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true"],
                            cwd=repo or REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    tracing = "GEOLOCATE_MEMTRACE=1" in env_extra

    def mark() -> None:
        if stages:
            os.kill(proc.pid, signal.SIGUSR1)
            if tracing:  # starts tracemalloc at the first mark, logs the growth since the last at the others
                os.kill(proc.pid, signal.SIGUSR2)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.3)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"])
            results = []
            for session in ("first", "second", "third")[:sessions]:  # the first album also builds the process-wide image caches
                page = browser.new_context().new_page()
                page.goto(url, wait_until="domcontentloaded")
                page.get_by_text("Locate a photo").wait_for(timeout=timeout_s * 1000)
                page.wait_for_load_state("networkidle", timeout=timeout_s * 1000)
                warm = proc_rss_mb(proc.pid)
                mark()
                peak = [warm]
                peak_at = [time.monotonic()]
                stop = threading.Event()

                def sample(peak=peak, peak_at=peak_at, stop=stop) -> None:
                    while not stop.is_set():
                        rss = proc_rss_mb(proc.pid)
                        if rss > peak[0]:
                            peak[0], peak_at[0] = rss, time.monotonic()
                        time.sleep(0.05)

                t = threading.Thread(target=sample, daemon=True)
                t.start()
                page.locator('[data-testid="stFileUploaderDropzoneInput"][accept*=".jpg"]').set_input_files(files, timeout=timeout_s * 1000)
                # Every upload sent and the album decoded: the page lists the photos (networkidle would not
                # wait: the page reached that state before the uploads began).
                page.get_by_text(f"Photo{'s' if min(photos, 12) > 1 else ''} ({min(photos, 12)}) and EXIF").wait_for(timeout=timeout_s * 1000)
                # Then the reruns that decode the album and score it: done when no script has run for 5 s.
                # (Tracing: the upload and decode are what is traced; the image experts would take minutes.)
                quiet, end = (10, 0.0) if tracing else (0, time.monotonic() + timeout_s)
                while quiet < 10 and time.monotonic() < end:
                    running = page.locator('[data-testid="stStatusWidget"]').count() > 0
                    quiet = 0 if running else quiet + 1
                    page.wait_for_timeout(500)
                held = proc_rss_mb(proc.pid)
                mark()
                stop.set()
                t.join()
                results.append((session, warm, peak[0], held))
                print(f"server, {session} session: {photos} uploads of {mb:.0f}+ MB to the Locate page: RSS before {warm:.0f} MB, "
                      f"peak {peak[0]:.0f} MB (+{peak[0] - warm:.0f} MB, at monotonic {peak_at[0]:.2f} s), after {held:.0f} MB (+{held - warm:.0f} MB)")
            browser.close()
        if stages:
            print(f"stages (server's memory log, {stages}):")
            print(Path(stages).read_text())
        _, warm, top, _ = results[-1]
        print(f"{results[-1][0]} session peak <= +250 MB: {verdict(top - warm, 250)}")
        return 0 if top - warm <= 250 else 1
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(20)
        for name in files:
            Path(name).unlink(missing_ok=True)
        tmp.rmdir()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=12)
    ap.add_argument("--mb", type=float, default=21.0)
    ap.add_argument("--server", action="store_true", help="through a real server's Locate page (Chromium)")
    ap.add_argument("--timeout", type=float, default=600.0, help="--server: bound on each wait, in seconds")
    ap.add_argument("--sessions", type=int, default=2, choices=(1, 2, 3), help="--server: albums uploaded in turn, each by a new session")
    ap.add_argument("--repo", default="", help="--server: serve app.py of this checkout (e.g. a worktree of the commit before) for a paired run")
    ap.add_argument("--port", type=int, default=0, help="--server: the server's port (default: a free one)")
    ap.add_argument("--stages", default="", metavar="LOG", help="--server: log the server's memory per stage to LOG (benchmarks/_memstages.py) and print it")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="--server: add to the server's environment (repeatable)")
    args = ap.parse_args()
    if args.server:
        return server_run(args.photos, args.mb, timeout_s=args.timeout, port=args.port, stages=args.stages, env_extra=args.env, sessions=args.sessions, repo=args.repo)
    one = big_jpeg(args.mb)
    # Distinct files (different bytes after the end-of-image marker, so different hashes), as an album has.
    uploads = [Upload(f"p{i:02d}.jpg", one + bytes([i]) * 16) for i in range(args.photos)]
    del one
    store = UploadStore()
    store.sync([Upload("warm.jpg", uploads[0].getvalue()[: 2**20] + b"")])  # imports and decoder warm-up (a refused truncated file)
    store.clear()
    gc.collect()
    before = rss_mb()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    photos, messages, _ = store.sync(uploads)
    peak = rss_mb("VmHWM")
    gc.collect()
    after = rss_mb()
    print(f"{len(uploads)} uploads of {uploads[0].size / 1e6:.1f} MB ({sum(u.size for u in uploads) / 1e6:.0f} MB in memory before): "
          f"{len(photos)} decoded, {len(messages)} messages")
    print(f"RSS before sync {before:.0f} MB, peak during sync {peak:.0f} MB (+{peak - before:.0f} MB), after {after:.0f} MB "
          f"({after - before:+.0f} MB: the kept photos, less the uploads' bytes dropped after their decode)")
    print(f"peak <= +250 MB: {verdict(peak - before, 250)}")
    return 0 if peak - before <= 250 else 1


if __name__ == "__main__":
    sys.exit(main())
