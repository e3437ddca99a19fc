"""Plan, run and finish an ``embed`` job: shards, resume, engines, progress, manifest and error report.

The input is cut into shards of ``shard_size`` rows and each shard into micro-batches of ``batch_size``;
both engines feed the model exactly these micro-batches, so they compute the same bytes (on CPU a
transformer's output for one photo depends on which photos share its batch, in the last bit).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch

from .inputs import InputError, Item
from .preprocess import DecodedBatch, decode_items, decode_jpeg_batch
from .store import (
    FORMAT_VERSION,
    MANIFEST,
    build_table,
    error_counts,
    read_manifest,
    schema,
    shard_path,
    verify_shard,
    write_atomic,
    write_json_atomic,
)

Batch = tuple[int, int, list[Item]]
"""(shard, batch within shard, items)."""


@dataclass
class EmbedConfig:
    """Options of an ``embed`` run (see ``python -m geolocate embed --help``)."""

    backbone: str = "ViT-L-14/openai"
    engine: str = "local"
    device: str = "auto"
    batch_size: int = 64
    shard_size: int = 4096
    workers: int | None = None
    top_k: int = 32
    res: int = 3
    threads: int | None = None
    decode: str = "cpu"
    ray_address: str | None = None
    group_by: str | None = None
    overwrite: bool = False
    experts: tuple[str, ...] | None = None

    def __post_init__(self):
        if self.engine not in ("local", "ray"):
            raise InputError(f"--engine must be local or ray, got {self.engine!r}")
        if self.decode not in ("cpu", "gpu"):
            raise InputError(f"--decode must be cpu or gpu, got {self.decode!r}")
        for name in ("batch_size", "shard_size", "top_k"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be at least 1")
        if self.shard_size % self.batch_size:
            raise InputError(f"--shard-size ({self.shard_size}) must be a multiple of --batch-size ({self.batch_size})")


@dataclass
class EmbedReport:
    """What a run did. Times are seconds; decode_s is summed over decode workers (CPU-seconds).

    ``seconds`` runs from the engine's start to the last shard; for Ray it includes starting the actors,
    whose model loading is ``engine_setup_s`` (summed over actors).
    """

    out: str
    total: int
    ok: int
    bad: int
    errors: dict[str, int]
    shards: int
    shards_written: int
    shards_skipped: int
    images_done: int
    seconds: float
    images_per_s: float
    decode_s: float
    model_s: float
    experts_s: float
    write_s: float
    albums: int = 0
    messages: list[str] = field(default_factory=list)
    engine_setup_s: float = 0.0

    def summary(self) -> str:
        """A few lines for the terminal: counts, rate, time per stage."""
        errs = ", ".join(f"{k} {v}" for k, v in self.errors.items()) or "none"
        lines = [
            f"embed: {self.total:,} rows in {self.shards} shards ({self.shards_skipped} already done and verified, {self.shards_written} written) -> {self.out}",
            f"  ok {self.ok:,}, bad {self.bad:,} ({errs}); bad rows are listed in {Path(self.out) / 'errors.csv'}",
        ]
        if self.images_done:
            busy = self.decode_s + self.model_s + self.experts_s
            share = (lambda x: f"{100 * x / busy:.0f}%") if busy > 0 else (lambda x: "-")
            lines.append(f"  {self.images_done:,} photos in {self.seconds:.1f} s = {self.images_per_s:.1f} images/s end to end; "
                         f"decode {self.decode_s:.1f} worker-s ({share(self.decode_s)}), model {self.model_s:.1f} s ({share(self.model_s)}), "
                         f"experts {self.experts_s:.1f} s ({share(self.experts_s)}), parquet {self.write_s:.1f} s")
        if self.albums:
            lines.append(f"  {self.albums} albums -> {Path(self.out) / 'albums.parquet'}")
        return "\n".join(lines + [f"  {m}" for m in self.messages])


class Progress:
    """Rate and ETA on a stream, at most every ``every_s`` seconds (and at the end)."""

    def __init__(self, total: int, stream: TextIO | None = sys.stderr, every_s: float = 2.0):
        self.total, self.stream, self.every_s = total, stream, every_s
        self.t0 = time.perf_counter()
        self.last = -1e9
        self.done = self.bad = 0

    def update(self, done: int, bad: int, shard_msg: str = "", force: bool = False) -> None:
        """Record ``done`` photos (``bad`` of them bad); print when due or ``force``."""
        self.done, self.bad = done, bad
        now = time.perf_counter()
        if self.stream is None or (not force and now - self.last < self.every_s):
            return
        self.last = now
        rate = done / max(now - self.t0, 1e-9)
        eta = (self.total - done) / rate if rate > 0 else float("inf")
        eta_s = time.strftime("%H:%M:%S", time.gmtime(eta)) if eta < 1e7 else "?"
        pct = 100.0 * done / self.total if self.total else 100.0
        self.stream.write(f"embed: {done:,}/{self.total:,} photos ({pct:.1f}%) {rate:.1f} images/s, ETA {eta_s}, bad {bad:,}{shard_msg}\n")
        self.stream.flush()


def plan(items: list[Item], shard_size: int, batch_size: int) -> list[list[Batch]]:
    """Shards of micro-batches: ``plan[s][b] = (s, b, items)``."""
    shards = []
    for s, lo in enumerate(range(0, len(items), shard_size)):
        rows = items[lo : lo + shard_size]
        shards.append([(s, b, rows[i : i + batch_size]) for b, i in enumerate(range(0, len(rows), batch_size))])
    return shards


def fingerprint(items: list[Item], config: EmbedConfig, weights_sha: str) -> str:
    """Hash of everything that decides the rows of the output (not of engine, device or batch size)."""
    h = hashlib.sha256()
    h.update(json.dumps([FORMAT_VERSION, config.backbone, weights_sha, config.top_k, config.res, config.shard_size, config.group_by,
                         sorted(config.experts) if config.experts else None]).encode())
    for it in items:
        h.update(json.dumps([it.id, it.source, it.lat, it.lon, it.group]).encode())
    return h.hexdigest()


def _identity(x):
    return x


class _DecodeDataset(torch.utils.data.Dataset):
    """One item = one micro-batch, decoded in a DataLoader worker (CPU route)."""

    def __init__(self, batches: list[Batch]):
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> DecodedBatch:
        return decode_items(*self.batches[i])


class _ReadDataset(_DecodeDataset):
    """One item = one micro-batch's raw bytes (GPU decode route); unreadable rows carry their error."""

    def __getitem__(self, i: int):
        from .inputs import read_source

        s, b, items = self.batches[i]
        t = time.perf_counter()
        datas: list[bytes | None] = []
        for it in items:
            try:
                datas.append(read_source(it.source))
            except OSError:
                datas.append(None)  # decode_items on the row gives the reason
        return s, b, items, datas, time.perf_counter() - t


def _gpu_decode(s: int, b: int, items: list[Item], datas: list[bytes | None], read_s: float, device: str) -> DecodedBatch:
    """NvJPEG for the JPEGs of a batch; everything else (and failures) through the CPU route, same row order."""
    t = time.perf_counter()
    good = [i for i, d in enumerate(datas) if d is not None]
    pix, ok_gpu = decode_jpeg_batch([d for d in datas if d is not None], device)
    by_row: dict[int, torch.Tensor] = {good[j]: pix[k] for k, j in enumerate(np.flatnonzero(ok_gpu))}
    rest = [i for i in range(len(items)) if i not in by_row]
    cpu = decode_items(s, b, [items[i] for i in rest]) if rest else None
    ok = np.zeros(len(items), bool)
    kinds, errors = [""] * len(items), [""] * len(items)
    k = 0
    for j, i in enumerate(rest):
        assert cpu is not None
        ok[i] = bool(cpu.ok[j])
        kinds[i], errors[i] = cpu.error_kind[j], cpu.error[j]
        if ok[i]:
            by_row[i] = cpu.pixels[k].to(device)
            k += 1
    for i in by_row:
        ok[i] = True
    crops = [by_row[i] for i in range(len(items)) if ok[i]]
    pixels = torch.stack(crops) if crops else torch.zeros((0, 3, 224, 224), dtype=torch.uint8, device=device)
    return DecodedBatch(s, b, items, pixels, ok, kinds, errors, read_s + time.perf_counter() - t)


def run_local(batches: list[Batch], scorer, workers: int, decode: str = "cpu") -> Iterator[tuple[DecodedBatch, dict]]:
    """The local engine: a torch DataLoader decodes micro-batches in ``workers`` processes; the model runs here."""
    ds = (_ReadDataset if decode == "gpu" else _DecodeDataset)(batches)
    kw: dict[str, Any] = {"num_workers": workers, "collate_fn": _identity, "batch_size": None, "shuffle": False}
    if workers > 0:
        kw |= {"prefetch_factor": 4, "multiprocessing_context": "fork" if sys.platform.startswith("linux") else None}
    loader: Any = torch.utils.data.DataLoader(ds, **kw)
    for got in loader:
        if decode == "gpu":
            s, b, items, datas, read_s = got
            db = _gpu_decode(s, b, items, datas, read_s, scorer.device)
        else:
            db = got
        yield db, scorer.score(db.pixels)


def default_workers() -> int:
    """Decode processes: every core but one for the model loop, at least 1."""
    return max(1, min(16, (os.cpu_count() or 2) - 1))


LOCK_FILE = ".embed.lock"


def lock_out_folder(out: Path) -> TextIO:
    """Create ``out`` and take its lock (an exclusive ``flock`` on ``out/.embed.lock``, held while open).

    The kernel drops the lock when the process ends, killed or not, so a killed run never blocks its resume.

    Raises:
        InputError: the folder cannot be made or written, or another run holds its lock.
    """
    import fcntl

    try:
        out.mkdir(parents=True, exist_ok=True)
        fh = open(out / LOCK_FILE, "a+")
    except OSError as err:
        raise InputError(f"cannot write to the --out folder {out}: {err.strerror or err}") from None
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip()[:20]
        fh.close()
        raise InputError(f"another embed run{f' (pid {holder})' if holder.isdigit() else ''} is writing to {out}: "
                         "wait for it to finish (rerun then to resume), or choose another --out folder") from None
    fh.seek(0)
    fh.truncate()
    fh.write(str(os.getpid()))
    fh.flush()
    return fh


def embed_collection(items: list[Item], out: str | Path, config: EmbedConfig, progress: TextIO | None = sys.stderr,
                     scorer=None, on_shard: Callable[[int], None] | None = None) -> EmbedReport:
    """Score every photo of ``items`` into ``out``, holding the folder's lock (see :func:`_embed_collection`).

    Raises:
        InputError: ``out`` cannot be written, another run holds its lock, or it holds a different job.
    """
    lock = lock_out_folder(Path(out))
    try:
        return _embed_collection(items, Path(out), config, progress, scorer, on_shard)
    finally:
        lock.close()


def _embed_collection(items: list[Item], out: str | Path, config: EmbedConfig, progress: TextIO | None = sys.stderr,
                      scorer=None, on_shard: Callable[[int], None] | None = None) -> EmbedReport:
    """Score every photo of ``items`` into Parquet shards under ``out`` (resumable; see :mod:`geolocate.embed.store`).

    Args:
        items: the photos (see :func:`geolocate.embed.inputs.collect_items`).
        out: output folder (created).
        config: run options.
        progress: stream for progress lines (None: silent).
        scorer: a loaded :class:`~geolocate.embed.scorer.Scorer` to reuse (local engine), else one is built.
        on_shard: called with each shard number once it is on disk (tests use it to kill a run mid-way).

    Raises:
        InputError: ``out`` holds a different job (other input, backbone or settings) and ``overwrite`` is off.
        WeightsMissing: the backbone's weights are unavailable.
    """
    from .scorer import Scorer

    out = Path(out)
    t_start = time.perf_counter()
    if scorer is None:
        # The ray engine loads the model in its actors; here it is needed for the columns and the weights digest.
        scorer = Scorer(config.backbone, "cpu" if config.engine == "ray" else config.device, config.top_k, config.res, config.threads,
                        experts=config.experts)
    if (scorer.top_k, scorer.res) != (config.top_k, config.res):
        raise ValueError(f"the scorer keeps top {scorer.top_k} at res {scorer.res}; the config asks for top {config.top_k} at res {config.res}")
    columns = scorer.columns()
    expected = schema(columns)
    fp = fingerprint(items, config, scorer.sha256)
    out.mkdir(parents=True, exist_ok=True)
    if (out / MANIFEST).is_file():
        old = read_manifest(out)
        if old.get("fingerprint") != fp:
            if not config.overwrite:
                raise InputError(f"{out} holds results of a different job (input, backbone, weights, top-k, resolution, shard size or grouping differ). "
                                 "Fix: choose a new --out folder, or add --overwrite to replace them")
            for f in list(out.glob("shard-*.parquet")) + [out / "errors.csv", out / "albums.parquet"]:
                f.unlink(missing_ok=True)
    for stale in out.glob(".*.tmp"):  # left by a killed run; the shard itself was never renamed into place
        stale.unlink(missing_ok=True)
    shards = plan(items, config.shard_size, config.batch_size)
    ids = [[it.id for _, _, b in sh for it in b] for sh in shards]
    manifest = {
        "format_version": FORMAT_VERSION,
        "status": "running",
        "fingerprint": fp,
        "created_by": "python -m geolocate embed",
        "code_version": _code_version(),
        "config": asdict(config),
        "models": scorer.describe(),
        "columns": {k: list(v) for k, v in columns.items()},
        "shard_size": config.shard_size,
        "rows": len(items),
        "shards": [{"shard": s, "file": shard_path(out, s).name, "rows": len(i)} for s, i in enumerate(ids)],
    }
    write_json_atomic(manifest, out / MANIFEST)
    done = [s for s in range(len(shards)) if verify_shard(shard_path(out, s), ids[s], expected)]
    todo = [s for s in range(len(shards)) if s not in set(done)]
    batches = [b for s in todo for b in shards[s]]
    n_todo = sum(len(ids[s]) for s in todo)
    prog = Progress(n_todo, progress)
    if progress is not None and done:
        progress.write(f"embed: {len(done)} of {len(shards)} shards already done and verified; {n_todo:,} photos to go\n")
    if config.engine == "ray":
        from .ray_engine import run_ray

        stream = run_ray(batches, config, scorer.sha256)
    else:
        stream = run_local(batches, scorer, default_workers() if config.workers is None else config.workers, config.decode)
    pending: dict[int, dict[int, tuple[DecodedBatch, dict]]] = {}
    n_done = n_bad = 0
    decode_s = write_s = 0.0
    timing0 = dict(scorer.timing)
    t_run = time.perf_counter()
    for db, res in stream:
        decode_s += db.decode_s
        pending.setdefault(db.shard, {})[db.batch] = (db, res)
        n_done += len(db.items)
        n_bad += int((~db.ok).sum())
        got = pending[db.shard]
        if len(got) == len(shards[db.shard]):
            t = time.perf_counter()
            parts = [got[b] for b in range(len(got))]
            table = build_table(
                [it for p, _ in parts for it in p.items],
                np.concatenate([p.ok for p, _ in parts]),
                [k for p, _ in parts for k in p.error_kind],
                [e for p, _ in parts for e in p.error],
                {c: np.concatenate([r[c] for _, r in parts if c in r]) for c in columns if any(c in r for _, r in parts)},
                columns,
            )
            write_atomic(table, shard_path(out, db.shard))
            del pending[db.shard]
            write_s += time.perf_counter() - t
            if on_shard:
                on_shard(db.shard)
        prog.update(n_done, n_bad, f", shard {db.shard + 1}/{len(shards)}")
    if pending:
        raise RuntimeError(f"engine stopped with incomplete shards {sorted(pending)}; rerun to resume")
    seconds = time.perf_counter() - t_run
    prog.update(n_done, n_bad, "", force=bool(n_todo))
    setup_s = 0.0
    model_s = scorer.timing["model_s"] - timing0["model_s"]
    experts_s = scorer.timing["experts_s"] - timing0["experts_s"]
    if config.engine == "ray":
        from .ray_engine import LAST_TIMING

        model_s, experts_s = LAST_TIMING.get("model_s", 0.0), LAST_TIMING.get("experts_s", 0.0)
        setup_s = LAST_TIMING.get("setup_s", 0.0)
    summary = finish(out, manifest)
    report = EmbedReport(
        str(out), len(items), summary["ok"], summary["bad"], summary["errors"], len(shards), len(todo), len(done), n_done,
        seconds, n_done / seconds if seconds > 0 and n_done else 0.0, decode_s, model_s, experts_s, write_s, messages=list(scorer.messages),
        engine_setup_s=setup_s,
    )
    if config.group_by:
        from .albums import score_albums

        report.albums = score_albums(out, config.group_by)
    manifest["timing_last_run"] = {k: getattr(report, k) for k in ("images_done", "seconds", "images_per_s", "decode_s", "model_s", "experts_s", "write_s")}
    manifest["timing_last_run"]["wall_s_with_setup"] = time.perf_counter() - t_start
    write_json_atomic(manifest, out / MANIFEST)
    return report


def finish(out: Path, manifest: dict) -> dict:
    """Count rows over all shards, write errors.csv, mark the manifest complete; returns the counts."""
    import pyarrow.parquet as pq

    ok = 0
    kinds: list[str] = []
    lines = ["id,source,error_kind,error"]
    for s in manifest["shards"]:
        t = pq.read_table(shard_path(out, s["shard"]), columns=["id", "source", "ok", "error_kind", "error"])
        okcol = np.asarray(t.column("ok").to_numpy(zero_copy_only=False), bool)
        ok += int(okcol.sum())
        s["ok"], s["bad"] = int(okcol.sum()), int((~okcol).sum())
        if (~okcol).any():
            bad = t.filter(_not(t.column("ok")))
            for r in bad.to_pylist():
                kinds.append(r["error_kind"])
                lines.append(",".join(_csv(r[k]) for k in ("id", "source", "error_kind", "error")))
    tmp = out / f".errors.csv.{os.getpid()}.tmp"
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, out / "errors.csv")
    summary = {"ok": ok, "bad": len(kinds), "errors": error_counts(kinds)}
    manifest |= {"status": "complete", "row_counts": {"rows": manifest["rows"], **summary}}
    write_json_atomic(manifest, out / MANIFEST)
    return summary


def _not(col):
    import pyarrow.compute as pc

    return pc.invert(col)


def _csv(v) -> str:
    s = "" if v is None else str(v)
    return '"' + s.replace('"', '""') + '"' if any(c in s for c in ',"\n\r') else s


def _code_version() -> str:
    """Geolocate's version and, when run from a git checkout, the commit (with +dirty when modified)."""
    import subprocess

    import geolocate

    root = Path(geolocate.__file__).resolve().parent.parent
    v = geolocate.__version__
    if shutil.which("git") and (root / ".git").exists():
        try:
            rev = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=5).stdout.strip()
            dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--", "geolocate"], capture_output=True, text=True, timeout=5).stdout.strip()
            if rev:
                v += f"+g{rev}" + (".dirty" if dirty else "")
        except (OSError, subprocess.SubprocessError):
            pass
    return v
