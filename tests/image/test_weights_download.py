"""Weights download through the real open_clip / huggingface_hub client (issue 7, item 8).

A local server on 127.0.0.1 speaks the part of the Hub's file protocol that ``hf_hub_download`` uses:
``HEAD`` and ``GET /{repo}/resolve/{revision}/{file}`` with ``X-Repo-Commit``, ``ETag`` / ``X-Linked-Etag``
(the sha256 of an LFS file), ``X-Linked-Size``, ``Range`` requests answered with 206, and 404 with
``X-Error-Code: EntryNotFound``. It serves a tiny open_clip checkpoint under several behaviours. The
client runs in a fresh interpreter because ``huggingface_hub`` reads ``HF_ENDPOINT`` and ``HF_HUB_OFFLINE``
when it is imported.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from geolocate.image import weights
from geolocate.image.weights import WeightsMissing

REPO = Path(__file__).resolve().parents[2]
COMMIT = "0123456789abcdef0123456789abcdef01234567"
FILENAME = "open_clip_model.safetensors"  # what open_clip asks for first for an "org/repo/" hf_hub entry
BEHAVIOURS = ("ok", "interrupt", "corrupt-once", "corrupt-always", "offline")


class FakeHub(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, payload: bytes):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.payload = payload
        self.sha = hashlib.sha256(payload).hexdigest()
        self.log: list[tuple[str, str, str]] = []  # (method, path, Range header)
        self.gets: dict[str, int] = {}
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeHub

    def log_message(self, *args):  # keep the test output clean
        pass

    def _route(self) -> str | None:
        m = re.fullmatch(r"/geolocate/tiny-([a-z-]+)/resolve/([^/]+)/(.+)", self.path.split("?")[0])
        if not m or m.group(1) not in BEHAVIOURS or m.group(3) != FILENAME:
            return None
        return m.group(1)

    def _not_found(self):
        body = b'{"error":"Entry not found"}'
        self.send_response(404)
        self.send_header("X-Error-Code", "EntryNotFound")
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(body)

    def _meta_headers(self):
        p = self.server.payload
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", f'"{self.server.sha}"')
        self.send_header("X-Linked-Etag", f'"{self.server.sha}"')
        self.send_header("X-Linked-Size", str(len(p)))
        self.send_header("Accept-Ranges", "bytes")

    def do_HEAD(self):
        with self.server.lock:
            self.server.log.append(("HEAD", self.path, self.headers.get("Range", "")))
        if self._route() is None:
            return self._not_found()
        self.send_response(200)
        self._meta_headers()
        self.send_header("Content-Length", str(len(self.server.payload)))
        self.end_headers()

    def do_GET(self):
        rng = self.headers.get("Range", "")
        with self.server.lock:
            self.server.log.append(("GET", self.path, rng))
        kind = self._route()
        if kind is None:
            return self._not_found()
        with self.server.lock:
            n = self.server.gets[kind] = self.server.gets.get(kind, 0) + 1
        body = self.server.payload
        if kind == "corrupt-always" or (kind == "corrupt-once" and n == 1):
            body = body[:100] + bytes([body[100] ^ 0xFF]) + body[101:]  # same size, one byte flipped
        start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1)) if rng else 0
        self.send_response(206 if start else 200)
        self._meta_headers()
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if kind == "interrupt" and n == 1:
            self.wfile.write(body[: len(body) - 2**20])  # the connection drops 1 MiB before the end
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(body[start:])


@pytest.fixture(scope="module")
def checkpoint() -> bytes:
    from safetensors.torch import save

    from geolocate.image.backbone import build_backbone

    state = build_backbone("tiny-random", seed=11).model.state_dict()
    return save({k: v.contiguous() for k, v in state.items()})


@pytest.fixture
def hub(checkpoint):
    server = FakeHub(checkpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


_CLIENT = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
import open_clip.pretrained as P
from geolocate.image import weights
from geolocate.image.backbone import build_backbone

P._PRETRAINED["geolocate-tiny"] = {t.replace("-", "_"): P._pcfg(hf_hub=f"geolocate/tiny-{t}/") for t in sys.argv[2].split(",")}
out = {}
for tag in sys.argv[2].split(","):
    if tag == "offline":
        os.environ["GEOLOCATE_OFFLINE"] = "1"
    t0 = time.perf_counter()
    try:
        path = weights.resolve_checkpoint(f"geolocate-tiny/{tag}")
        bb = build_backbone(f"geolocate-tiny/{tag}", path)
        out[tag] = {"ok": True, "sha": weights.file_sha256(path), "random": bb.random,
                    "again": weights.resolve_checkpoint(f"geolocate-tiny/{tag}") == path}
    except weights.WeightsMissing as err:
        out[tag] = {"ok": False, "error": str(err)}
    out[tag]["seconds"] = time.perf_counter() - t0
root = weights.weights_dir()
out["files"] = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink())
out["hub_reachable"] = weights.hub_reachable()
print(json.dumps(out))
"""


def _client_env(tmp_path: Path, endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(
        HF_ENDPOINT=endpoint, HF_HUB_OFFLINE="0", TRANSFORMERS_OFFLINE="0", GEOLOCATE_OFFLINE="0",
        GEOLOCATE_WEIGHTS_DIR=str(tmp_path / "weights"), HF_HOME=str(tmp_path / "hf"), HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1", NO_PROXY="127.0.0.1", no_proxy="127.0.0.1",
    )
    return env


def test_download_resume_corruption_and_offline_through_the_real_client(hub, tmp_path):
    res = subprocess.run(
        [sys.executable, "-c", _CLIENT, str(REPO), ",".join(BEHAVIOURS)],
        env=_client_env(tmp_path, hub.endpoint), capture_output=True, text=True, timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    sha = hub.sha
    # First download: the real client fetched it into the Hub cache layout; it loads as a checkpoint.
    assert out["ok"] == {"ok": True, "sha": sha, "random": False, "again": True, "seconds": out["ok"]["seconds"]}
    gets = [(p, r) for m, p, r in hub.log if m == "GET" and "tiny-ok/" in p]
    assert gets == [(f"/geolocate/tiny-ok/resolve/main/{FILENAME}", "")]  # the second resolve used the cache
    # Interrupted transfer: resumed with a Range request after the bytes the client had written (it writes
    # in chunks of DOWNLOAD_CHUNK_SIZE, 10 MiB: a partial chunk is fetched again), and the file is whole.
    from huggingface_hub import constants

    assert out["interrupt"]["ok"] and out["interrupt"]["sha"] == sha
    ranges = [r for m, p, r in hub.log if m == "GET" and "tiny-interrupt/" in p]
    assert len(hub.payload) - 2**20 > constants.DOWNLOAD_CHUNK_SIZE
    assert ranges == ["", f"bytes={constants.DOWNLOAD_CHUNK_SIZE}-"]
    # Corrupted once: detected by sha256, deleted, fetched again; corrupted always: a clear error, nothing kept.
    assert out["corrupt-once"]["ok"] and out["corrupt-once"]["sha"] == sha and hub.gets["corrupt-once"] == 2
    assert not out["corrupt-always"]["ok"] and hub.gets["corrupt-always"] == 2
    assert "failed its sha256 check twice and was deleted" in out["corrupt-always"]["error"]
    assert not any("tiny-corrupt-always" in f and ("blobs/" in f or "snapshots/" in f) for f in out["files"])
    assert not any(f.endswith(".incomplete") for f in out["files"])  # no partial file left anywhere
    # Offline mode: refused with the fix, and not one request reached the server for it.
    assert not out["offline"]["ok"] and "offline mode is on" in out["offline"]["error"]
    assert not [1 for _, p, _ in hub.log if "tiny-offline" in p] and out["hub_reachable"] is False
    blobs = [f for f in out["files"] if "/blobs/" in f]
    assert sorted({Path(f).name for f in blobs}) == [sha]  # every kept blob is the verified file


@pytest.fixture
def online(monkeypatch):
    """In-process online mode (the autouse fixture makes every test offline) with a fresh hub check."""
    monkeypatch.setenv("GEOLOCATE_OFFLINE", "0")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(weights, "_HUB_STATE", {})


@pytest.mark.parametrize("kind", ["silent", "refused"])
def test_unreachable_hub_detected_once_in_under_5_s(online, monkeypatch, kind):
    from huggingface_hub import constants

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    if kind == "silent":
        sock.listen(1)  # accepts the connection into its backlog and never answers
    port = sock.getsockname()[1]
    if kind == "refused":
        sock.close()
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{port}")
    try:
        t0 = time.perf_counter()
        assert weights.hub_reachable() is False
        first = time.perf_counter() - t0
        t1 = time.perf_counter()
        for _ in range(3):  # e.g. three uploads: no new check, no stall
            with pytest.raises(WeightsMissing, match=r"the model hub http://127\.0\.0\.1:\d+ is unreachable \((no answer within 3 s|ConnectError: .*); checked once per process\)"):
                weights.resolve_checkpoint("ViT-L-14/openai")
        again = time.perf_counter() - t1
    finally:
        sock.close()
    assert first < 5 and again < 0.5
    assert "unreachable" in weights.hub_status()


def test_reachable_hub_and_offline_never_probes(online, monkeypatch, hub):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", hub.endpoint)
    assert weights.hub_reachable() is True and weights.hub_status().endswith("reachable (answered HTTP 404)")
    n = len(hub.log)
    monkeypatch.setenv("GEOLOCATE_OFFLINE", "1")
    assert weights.hub_reachable(refresh=True) is False and len(hub.log) == n
    assert weights.hub_status().startswith("offline mode")


def test_verify_checkpoint_by_blob_name(tmp_path):
    data = b"weights"
    blob = tmp_path / hashlib.sha256(data).hexdigest()
    blob.write_bytes(data)
    link = tmp_path / "model.safetensors"
    link.symlink_to(blob)
    assert weights.verify_checkpoint(link) is True
    blob.write_bytes(b"weightz")
    assert weights.verify_checkpoint(link) is False
    plain = tmp_path / "ViT-L-14-openai.safetensors"
    plain.write_bytes(io.BytesIO(data).getvalue())
    assert weights.verify_checkpoint(plain) is None  # a copied single file has no hash to check against
