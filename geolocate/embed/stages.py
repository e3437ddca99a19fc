"""Post-passes of ``embed`` over an output folder: the text read in each photo, and a vision-language model's answers.

Each stage runs after the image stage (either engine), on the photos the image stage decoded (``ok``):
it decodes each photo again from its source, in memory (never written), and stores one row per photo in

    text.parquet   id, ok, error, lines (text, box, confidence, script, reader), clues (kind, text, key,
                   implication, countries, likelihood, floor, places, place_weight, lines), messages,
                   seconds, width, height
    vlm.parquet    id, ok, error, model, host, samples, temperature, raw (each sample's text), rows (parsed
                   candidates: id, sample, lat, lon, confidence, radius_km), messages, seconds

While a stage runs, finished photos are written in chunks (``text.parts/part-NNNNNN.parquet``, each
written to a temporary name and renamed into place); at the end the parts and the previous file are
merged into ``text.parquet`` (atomically, rows in the input's order) and the parts removed. A rerun
skips photos already stored with ``ok`` true (in the file or in parts left by a killed run); failed
photos (the reader failed, the model gave no usable answer, the server was down) are tried again.
Every file carries the job's fingerprint (and, for the model, its name and samples) in its Parquet
metadata: results of a replaced job are dropped; answers of another model are refused unless ``--overwrite``.
The key is never stored: records hold the host only, and messages pass the client's scrub.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .inputs import InputError, read_source

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq
else:

    class _Lazy:
        """A module imported on first attribute use (``embed --help`` must not import pyarrow and torch)."""

        def __init__(self, name: str):
            self._name = name

        def __getattr__(self, attr: str) -> Any:
            import importlib

            return getattr(importlib.import_module(self._name), attr)

    pa, pq = _Lazy("pyarrow"), _Lazy("pyarrow.parquet")

TEXT_FILE = "text.parquet"
VLM_FILE = "vlm.parquet"
CHUNK_ROWS = 64
"""Photos per part file at most (a killed run loses at most these, or :data:`CHUNK_SECONDS` of work)."""
CHUNK_SECONDS = 30.0
"""A part is written at least this often while photos finish."""
GIVE_UP_AFTER = 20
"""The model stage stops after this many photos in a row got no answer at all (the server is down): rerun to resume."""
_META_KEY = b"geolocate_stage"

@functools.cache
def schemas() -> dict[str, pa.Schema]:
    """Arrow schemas of ``text.parquet`` ("text") and ``vlm.parquet`` ("vlm") (pyarrow imported on first use)."""
    _LINE = pa.struct([("text", pa.string()), ("box", pa.list_(pa.float64())), ("confidence", pa.float64()), ("script", pa.string()), ("reader", pa.string())])
    _PLACE = pa.struct([("name", pa.string()), ("country", pa.string()), ("lat", pa.float64()), ("lon", pa.float64()), ("scale_km", pa.float64()), ("weight", pa.float64())])
    _CLUE = pa.struct([
        ("kind", pa.string()), ("text", pa.string()), ("key", pa.string()), ("implication", pa.string()), ("countries", pa.list_(pa.string())),
        ("likelihood", pa.list_(pa.struct([("country", pa.string()), ("value", pa.float64())]))), ("floor", pa.float64()),
        ("places", pa.list_(_PLACE)), ("place_weight", pa.float64()), ("lines", pa.list_(pa.int64())),
    ])
    _MESSAGE = pa.struct([("level", pa.string()), ("text", pa.string()), ("detail", pa.string())])
    _ROW = pa.struct([("id", pa.string()), ("sample", pa.int64()), ("lat", pa.float64()), ("lon", pa.float64()), ("confidence", pa.float64()), ("radius_km", pa.float64())])

    TEXT_SCHEMA = pa.schema([
        ("id", pa.string()), ("ok", pa.bool_()), ("error", pa.string()), ("lines", pa.list_(_LINE)), ("clues", pa.list_(_CLUE)),
        ("messages", pa.list_(_MESSAGE)), ("seconds", pa.float64()), ("width", pa.int64()), ("height", pa.int64()),
    ])
    VLM_SCHEMA = pa.schema([
        ("id", pa.string()), ("ok", pa.bool_()), ("error", pa.string()), ("model", pa.string()), ("host", pa.string()), ("samples", pa.int64()),
        ("temperature", pa.float64()), ("raw", pa.list_(pa.string())), ("rows", pa.list_(_ROW)), ("messages", pa.list_(_MESSAGE)), ("seconds", pa.float64()),
    ])
    return {"text": TEXT_SCHEMA, "vlm": VLM_SCHEMA}


@dataclass
class StageReport:
    """What one stage run did.

    Attributes:
        stage: "text" or "vlm".
        eligible: photos the image stage decoded (the stage's input).
        skipped: photos already stored from an earlier run.
        done: photos processed in this run.
        failed: of ``done``, photos without a result (listed in ``failures``).
        seconds: wall time of the processing.
        found: photos with something found (text clues, usable answers) among those stored.
        stored: photos stored in the stage's file after this run.
        failures: (id, reason) of this run's failed photos (the first 20).
        path: the stage's file.
        stopped: why the stage stopped before the end ("" when it did not).
    """

    stage: str
    eligible: int = 0
    skipped: int = 0
    done: int = 0
    failed: int = 0
    seconds: float = 0.0
    found: int = 0
    stored: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    path: str = ""
    stopped: str = ""

    @property
    def photos_per_s(self) -> float:
        """Throughput of this run, photos per second (0 when nothing was done)."""
        return self.done / self.seconds if self.done and self.seconds > 0 else 0.0

    def summary(self) -> list[str]:
        """Plain-text lines for the run summary."""
        what = {"text": "with text clues", "vlm": "with usable answers"}.get(self.stage, "with results")
        lines = [f"{self.stage} stage: {self.done:,} photos in {self.seconds:.1f} s = {self.photos_per_s:.2f} photos/s; "
                 f"{self.skipped:,} already done; {self.failed:,} failed; {self.found:,} of {self.stored:,} stored photos {what} -> {self.path}"]
        for pid, why in self.failures[:5]:
            lines.append(f"  {self.stage} failed: {pid}: {why}")
        if self.failed > 5:
            lines.append(f"  ... and {self.failed - 5} more (ok = false in {Path(self.path).name}; a rerun tries them again)")
        if self.stopped:
            lines.append(f"  {self.stage} stage stopped early: {self.stopped}")
        return lines


# ------------------------------------------------------------------------------------------- storage
def _parts_dir(out: Path, name: str) -> Path:
    return out / (Path(name).stem + ".parts")


def _meta(path: Path) -> dict[str, Any]:
    try:
        md = pq.read_schema(path).metadata or {}
        return json.loads(md.get(_META_KEY, b"{}"))
    except (OSError, pa.ArrowException, ValueError):
        return {}


def _write(rows: list[dict[str, Any]], schema: pa.Schema, meta: dict[str, Any], path: Path) -> None:
    from .store import write_atomic

    table = pa.Table.from_pylist(rows, schema=schema.with_metadata({_META_KEY: json.dumps(meta).encode()}))
    write_atomic(table, path)


def _files(out: Path, name: str) -> list[Path]:
    """The stage's file (if any), then its parts in order."""
    main = out / name
    parts = sorted(_parts_dir(out, name).glob("part-*.parquet"))
    return ([main] if main.is_file() else []) + parts


def _stored_rows(out: Path, name: str) -> dict[str, dict[str, Any]]:
    """Stored rows by id over the file and its parts (later parts win)."""
    rows: dict[str, dict[str, Any]] = {}
    for f in _files(out, name):
        try:
            t = pq.read_table(f)
        except (OSError, pa.ArrowException):
            if f.name == name:
                raise
            continue  # a part that does not read (cannot happen with renames): its photos are done again
        for r in t.to_pylist():
            rows[r["id"]] = r
    return rows


def _stored_ok(out: Path, name: str) -> set[str]:
    """Ids stored with ok true (the id and ok columns only)."""
    done: set[str] = set()
    for f in _files(out, name):
        try:
            t = pq.read_table(f, columns=["id", "ok"])
        except (OSError, pa.ArrowException):
            continue
        for pid, ok in zip(t.column("id").to_pylist(), t.column("ok").to_pylist()):
            if ok:
                done.add(pid)
            else:
                done.discard(pid)
    return done


def _prepare(out: Path, name: str, meta: dict[str, Any], overwrite: bool, same: Callable[[dict[str, Any]], bool]) -> None:
    """Drop results of another job; refuse (or with ``overwrite`` drop) results of other settings."""
    for f in _files(out, name):
        m = _meta(f)
        if m.get("job") != meta["job"]:
            f.unlink(missing_ok=True)  # the folder now holds another job: these rows describe other photos
        elif not same(m):
            if not overwrite:
                raise InputError(f"{f} holds {name.split('.')[0]} results made with other settings ({_settings(m)}; now {_settings(meta)}). "
                                 "Fix: add --overwrite to replace them, or choose a new --out folder")
            f.unlink(missing_ok=True)
    for stale in _parts_dir(out, name).glob(".*.tmp"):
        stale.unlink(missing_ok=True)


def _settings(m: dict[str, Any]) -> str:
    return ", ".join(f"{k} {m[k]}" for k in ("model", "samples") if k in m) or "unknown"


def _consolidate(out: Path, name: str, schema: pa.Schema, meta: dict[str, Any], order: list[str]) -> int:
    """Merge the file and its parts into the file (input order), remove the parts; returns the rows stored."""
    parts = _parts_dir(out, name)
    if not any(parts.glob("part-*.parquet")) and (out / name).is_file():
        return pq.ParquetFile(out / name).metadata.num_rows
    rows = _stored_rows(out, name)
    pos = {pid: i for i, pid in enumerate(order)}
    kept = sorted((r for pid, r in rows.items() if pid in pos), key=lambda r: pos[r["id"]])
    _write(kept, schema, meta, out / name)
    shutil.rmtree(parts, ignore_errors=True)
    return len(kept)


class _Chunks:
    """Buffers finished rows and writes a part every :data:`CHUNK_ROWS` rows or :data:`CHUNK_SECONDS`."""

    def __init__(self, out: Path, name: str, schema: pa.Schema, meta: dict[str, Any], rows: int, seconds: float):
        self.dir = _parts_dir(out, name)
        self.dir.mkdir(exist_ok=True)
        self.schema, self.meta, self.max_rows, self.max_s = schema, meta, max(1, rows), seconds
        existing = [int(p.stem.split("-")[1]) for p in self.dir.glob("part-*.parquet")]
        self.next = max(existing, default=-1) + 1
        self.buf: list[dict[str, Any]] = []
        self.last = time.monotonic()

    def add(self, row: dict[str, Any]) -> None:
        self.buf.append(row)
        if len(self.buf) >= self.max_rows or time.monotonic() - self.last >= self.max_s:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            _write(self.buf, self.schema, self.meta, self.dir / f"part-{self.next:06d}.parquet")
            self.next += 1
            self.buf = []
        self.last = time.monotonic()


def _todo(out: Path, name: str) -> tuple[list[str], list[tuple[str, str]], dict[str, Any]]:
    """(every id in input order, (id, source) of the photos the image stage decoded, the manifest)."""
    from .store import read_manifest, read_results

    man = read_manifest(out)
    t = read_results(out, columns=["id", "source", "ok"])
    ids = t.column("id").to_pylist()
    eligible = [(i, s) for i, s, ok in zip(ids, t.column("source").to_pylist(), t.column("ok").to_pylist()) if ok]
    return ids, eligible, man


def _decoded(items: Iterable[tuple[str, str]], failed: Callable[[str, str], None]) -> Iterator[tuple[str, Any]]:
    """(id, Photo) of each item, decoded in memory; items that no longer decode go to ``failed``."""
    from ..image.photo import load_photo

    for pid, source in items:
        try:
            photo = load_photo(read_source(source), pid)
        except Exception as err:  # noqa: BLE001 - the file changed since the image stage: listed, never fatal
            failed(pid, f"cannot decode the photo again ({type(err).__name__}: {err})")
            continue
        yield pid, photo


def _progress(stream: TextIO | None, stage: str, total: int) -> Callable[[int], None]:
    t0, last = time.perf_counter(), [0.0]

    def tick(done: int) -> None:
        now = time.perf_counter()
        if stream is None or (now - last[0] < 2.0 and done < total):
            return
        last[0] = now
        rate = done / max(now - t0, 1e-9)
        stream.write(f"embed: {stage} stage {done:,}/{total:,} photos, {rate:.2f} photos/s\n")
        stream.flush()

    return tick


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Hold the output folder's lock (the image stage's, :func:`geolocate.embed.run.lock_out_folder`) while a stage writes."""
    from .run import lock_out_folder
    from .store import read_manifest

    if not (out / "manifest.json").is_file():
        read_manifest(out)  # the folder must be an embed output: say so instead of creating it
    fh = lock_out_folder(out)
    try:
        yield
    finally:
        fh.close()


def _messages(msgs: Iterable[Any]) -> list[dict[str, str]]:
    return [{"level": str(getattr(m, "level", "info")), "text": str(getattr(m, "text", m)), "detail": str(getattr(m, "detail", "") or "")} for m in msgs]


# ---------------------------------------------------------------------------------------------- text
def text_reader_installed() -> bool:
    """True when the text reader (PP-OCR through ``rapidocr-onnxruntime``) can be imported here."""
    from ..text.ocr import reader_status

    return bool(reader_status()["pp_ocr"])


def _clue_record(c: Any) -> dict[str, Any]:
    lik = sorted(((str(k), float(v)) for k, v in c.likelihood), key=lambda kv: -kv[1])
    return {
        "kind": c.kind, "text": c.text, "key": c.key, "implication": c.implication,
        "countries": [k for k, _ in lik] if c.floor < 1.0 else [],
        "likelihood": [{"country": k, "value": v} for k, v in lik], "floor": float(c.floor),
        "places": [{"name": p.name, "country": p.country, "lat": float(p.lat), "lon": float(p.lon), "scale_km": float(p.scale_km), "weight": float(p.weight)} for p in c.places],
        "place_weight": float(c.place_weight), "lines": [int(i) for i in c.lines],
    }


def read_text_row(photo: Any) -> dict[str, Any]:
    """The ``text.parquet`` row of one photo (without its id): lines read, clues found, messages.

    Args:
        photo: a :class:`~geolocate.image.photo.Photo` (or PIL image), in memory.

    Raises:
        Exception: whatever the reader raises (the stage lists the photo as failed).
    """
    from ..text.clues import extract_clues
    from ..text.ocr import read_image

    result = read_image(getattr(photo, "image", photo))
    problems: list[str] = []
    clues = extract_clues([ln.text for ln in result.lines], problems) if result.lines else []
    msgs = _messages(result.messages) + [{"level": "info", "text": "A number was not used:", "detail": p} for p in dict.fromkeys(problems)]
    return {
        "ok": True, "error": "",
        "lines": [{"text": ln.text, "box": [float(v) for xy in ln.box for v in xy], "confidence": float(ln.confidence), "script": ln.script, "reader": ln.reader} for ln in result.lines],
        "clues": [_clue_record(c) for c in clues], "messages": msgs, "seconds": float(result.seconds),
        "width": int(result.size[0]), "height": int(result.size[1]),
    }


def run_text_stage(out: str | Path, *, overwrite: bool = False, progress: TextIO | None = None, chunk_rows: int = CHUNK_ROWS,
                   chunk_seconds: float = CHUNK_SECONDS, limit: int | None = None) -> StageReport:
    """Read the text in every decoded photo of an output folder into ``text.parquet`` (resumable; holds the folder's lock).

    Args:
        out: the ``embed`` output folder (its image stage finished).
        overwrite: replace text results made with other settings (none today; kept for symmetry).
        progress: stream for progress lines (None: silent).
        chunk_rows: photos per part file.
        chunk_seconds: a part is written at least this often.
        limit: read at most this many photos in this run (the rest stay to do; tests and quick looks).

    Raises:
        InputError: the text reader is not installed, or another run holds the folder's lock.
    """
    if not text_reader_installed():
        from ..text.ocr import INSTALL_PP

        raise InputError(f"the text stage needs the text reader: {INSTALL_PP} (or leave out --text)")
    with _locked(Path(out)):
        return _text_stage(Path(out), overwrite, progress, chunk_rows, chunk_seconds, limit)


def _text_stage(out: Path, overwrite: bool, progress: TextIO | None, chunk_rows: int, chunk_seconds: float, limit: int | None) -> StageReport:
    order, eligible, man = _todo(out, TEXT_FILE)
    meta = {"stage": "text", "job": man.get("fingerprint")}
    _prepare(out, TEXT_FILE, meta, overwrite, lambda m: True)
    done = _stored_ok(out, TEXT_FILE)
    todo_all = [(i, s) for i, s in eligible if i not in done]
    todo = todo_all[: limit if limit is not None else None]
    rep = StageReport("text", eligible=len(eligible), skipped=len(eligible) - len(todo_all), path=str(out / TEXT_FILE))
    chunks = _Chunks(out, TEXT_FILE, schemas()["text"], meta, chunk_rows, chunk_seconds)
    tick = _progress(progress, "text", len(todo))

    def failed(pid: str, why: str) -> None:
        rep.failed += 1
        rep.done += 1
        if len(rep.failures) < 20:
            rep.failures.append((pid, why))
        chunks.add({"id": pid, "ok": False, "error": why, "lines": [], "clues": [], "messages": [], "seconds": 0.0, "width": 0, "height": 0})

    t0 = time.perf_counter()
    try:
        for pid, photo in _decoded(todo, failed):
            try:
                row = read_text_row(photo)
            except Exception as err:  # noqa: BLE001 - one photo the reader chokes on never stops the run
                failed(pid, f"the text reader failed ({type(err).__name__}: {err})")
                continue
            rep.done += 1
            chunks.add({"id": pid, **row})
            tick(rep.done)
    finally:
        chunks.flush()
        rep.seconds = time.perf_counter() - t0
    rep.stored = _consolidate(out, TEXT_FILE, schemas()["text"], meta, order)
    t = pq.read_table(out / TEXT_FILE, columns=["ok", "clues"]) if (out / TEXT_FILE).is_file() else None
    if t is not None:
        rep.found = sum(1 for ok, c in zip(t.column("ok").to_pylist(), t.column("clues").to_pylist()) if ok and c)
    return rep


# ----------------------------------------------------------------------------------------------- vlm
def run_vlm_stage(out: str | Path, config: Any, *, concurrency: int = 4, overwrite: bool = False, progress: TextIO | None = None,
                  client: Any = None, chunk_rows: int = CHUNK_ROWS, chunk_seconds: float = CHUNK_SECONDS, limit: int | None = None,
                  give_up_after: int = GIVE_UP_AFTER) -> StageReport:
    """Ask a vision-language model about every decoded photo of an output folder into ``vlm.parquet`` (resumable; holds the folder's lock).

    Args:
        out: the ``embed`` output folder (its image stage finished).
        config: a :class:`~geolocate.experts.vlm.VLMConfig` (endpoint, model, samples).
        concurrency: requests in flight at most.
        overwrite: replace answers of another model or sample count instead of refusing.
        progress: stream for progress lines (None: silent).
        client: a :class:`~geolocate.experts.vlm.VLMClient` to use (default: one for ``config``, key from the environment).
        chunk_rows: photos per part file.
        chunk_seconds: a part is written at least this often.
        limit: ask about at most this many photos in this run.
        give_up_after: stop after this many photos in a row got no answer at all (the rest stay to do).

    Raises:
        InputError: the folder holds answers of another model or sample count (and not ``overwrite``), or another run holds its lock.
    """
    with _locked(Path(out)):
        return _vlm_stage(Path(out), config, concurrency, overwrite, progress, client, chunk_rows, chunk_seconds, limit, give_up_after)


def _vlm_stage(out: Path, config: Any, concurrency: int, overwrite: bool, progress: TextIO | None, client: Any, chunk_rows: int,
               chunk_seconds: float, limit: int | None, give_up_after: int) -> StageReport:
    from ..experts.vlm import VLMClient, ask_many, endpoint_host

    order, eligible, man = _todo(out, VLM_FILE)
    meta = {"stage": "vlm", "job": man.get("fingerprint"), "model": config.model, "samples": int(config.samples), "host": endpoint_host(config.endpoint)}
    _prepare(out, VLM_FILE, meta, overwrite, lambda m: (m.get("model"), m.get("samples")) == (meta["model"], meta["samples"]))
    done = _stored_ok(out, VLM_FILE)
    todo_all = [(i, s) for i, s in eligible if i not in done]
    todo = todo_all[: limit if limit is not None else None]
    rep = StageReport("vlm", eligible=len(eligible), skipped=len(eligible) - len(todo_all), path=str(out / VLM_FILE))
    chunks = _Chunks(out, VLM_FILE, schemas()["vlm"], meta, chunk_rows, chunk_seconds)
    tick = _progress(progress, "vlm", len(todo))
    base = {"model": config.model, "host": meta["host"], "samples": int(config.samples), "temperature": float(config.temperature)}

    def failed(pid: str, why: str) -> None:
        rep.failed += 1
        rep.done += 1
        if len(rep.failures) < 20:
            rep.failures.append((pid, why))
        chunks.add({"id": pid, "ok": False, "error": why, **base, "raw": [], "rows": [], "messages": [], "seconds": 0.0})

    own = client is None
    client = client or VLMClient(config)
    t0 = time.perf_counter()
    silent = 0
    answers = ask_many(client, _decoded(todo, failed), concurrency=concurrency)
    try:
        for pa_ in answers:
            rec = pa_.record()
            usable = bool(pa_.answers.usable)
            why = "" if usable else ("; ".join(m["text"] for m in rec["messages"]) or "no usable answer")
            rep.done += 1
            if not usable:
                rep.failed += 1
                if len(rep.failures) < 20:
                    rep.failures.append((pa_.id, why))
            rows = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in rec["rows"]]
            chunks.add({"id": pa_.id, "ok": usable, "error": why, "model": rec["model"], "host": rec["host"], "samples": int(rec["samples"]),
                        "temperature": float(rec["temperature"]), "raw": [str(x) for x in rec["raw"]], "rows": rows,
                        "messages": rec["messages"], "seconds": float(pa_.answers.seconds)})
            tick(rep.done)
            silent = 0 if pa_.answers.answers else silent + 1
            if silent >= give_up_after:
                rep.stopped = f"{silent} photos in a row got no answer ({why}); the server looks down. Rerun to resume"
                break
    finally:
        close = getattr(answers, "close", None)  # a generator: closing waits for the requests in flight; their photos stay to do
        if close is not None:
            close()
        chunks.flush()
        rep.seconds = time.perf_counter() - t0
        if own:
            client.close()
    rep.stored = _consolidate(out, VLM_FILE, schemas()["vlm"], meta, order)
    t = pq.read_table(out / VLM_FILE, columns=["ok"]) if (out / VLM_FILE).is_file() else None
    rep.found = sum(bool(v) for v in t.column("ok").to_pylist()) if t is not None else 0
    return rep


# -------------------------------------------------------------------------------------------- reading
def read_stage(out: str | Path, stage: str) -> pa.Table | None:
    """The stored rows of a stage ("text" or "vlm") of an output folder, parts of a killed run included; None when absent."""
    name = {"text": TEXT_FILE, "vlm": VLM_FILE}[stage]
    out = Path(out)
    if not _files(out, name):
        return None
    rows = _stored_rows(out, name)
    schema = schemas()[stage]
    meta = _meta(_files(out, name)[0])
    return pa.Table.from_pylist(list(rows.values()), schema=schema.with_metadata({_META_KEY: json.dumps(meta).encode()}))


def stage_meta(table: pa.Table) -> dict[str, Any]:
    """The stage metadata of a table from :func:`read_stage` (job, and the model's name and samples)."""
    return json.loads((table.schema.metadata or {}).get(_META_KEY, b"{}"))


def clues_of(record: dict[str, Any]) -> list[Any]:
    """The :class:`~geolocate.text.clues.Clue` objects of one ``text.parquet`` row (as stored, no re-reading)."""
    from ..text.clues import Clue, Place

    out = []
    for c in record.get("clues") or []:
        out.append(Clue(
            kind=c["kind"], text=c["text"], key=c["key"], likelihood=tuple((x["country"], float(x["value"])) for x in c["likelihood"] or []),
            floor=float(c["floor"]), places=tuple(Place(p["name"], p["country"], float(p["lat"]), float(p["lon"]), float(p["scale_km"]), float(p["weight"])) for p in c["places"] or []),
            place_weight=float(c["place_weight"]), implication=c["implication"] or "", lines=tuple(int(i) for i in c["lines"] or []),
        ))
    return out


# ------------------------------------------------------------------------------------------------ cli
def add_stage_arguments(p: Any) -> None:
    """Register the stages' flags on the ``embed`` argument parser."""
    DEFAULT_SAMPLES, MAX_SAMPLES, DEFAULT_REQUESTS_PER_MINUTE = 5, 20, 30  # geolocate.experts.vlm's (a test checks): not imported for --help

    from ..cliutil import whole_number

    def whole(lo: int, hi: int) -> Callable[[str], int]:
        return whole_number("value", lo, hi)

    g = p.add_argument_group("post-pass stages (docs/scale.md): run after the image stage, resumable, into text.parquet / vlm.parquet")
    g.add_argument("--text", action="store_true", help="read the text in each photo (OCR, about 1 s a photo on 2 cores) and store its lines and clues")
    g.add_argument("--vlm-endpoint", metavar="URL", help="ask a vision-language model at this OpenAI-compatible server about each photo (the photos are sent there); key from GEOLOCATE_VLM_API_KEY or OPENAI_API_KEY")
    g.add_argument("--vlm-model", metavar="NAME", help="the model's name on that server (needed with --vlm-endpoint)")
    g.add_argument("--vlm-samples", type=whole(1, MAX_SAMPLES), default=DEFAULT_SAMPLES, metavar="N", help=f"answers sampled per photo (1..{MAX_SAMPLES}, default {DEFAULT_SAMPLES})")
    g.add_argument("--vlm-concurrency", type=whole(1, 256), default=4, metavar="K", help="requests in flight at most (default 4)")
    g.add_argument("--vlm-requests-per-minute", type=whole(1, 1_000_000), default=DEFAULT_REQUESTS_PER_MINUTE, metavar="R",
                   help=f"request cap, retries included (default {DEFAULT_REQUESTS_PER_MINUTE}; raise it for your own server)")


def run_requested(args: Any, progress: TextIO | None) -> tuple[list[str], int]:
    """Run the stages the ``embed`` flags ask for on ``args.out``; returns (summary lines, photos that failed).

    Raises:
        InputError: a flag is missing (``--vlm-model``), the reader is not installed, or stored answers are of another model.
    """
    lines: list[str] = []
    failed = 0
    if getattr(args, "vlm_endpoint", None) and not getattr(args, "vlm_model", None):
        raise InputError("--vlm-endpoint needs --vlm-model NAME (the model's name on that server)")
    if getattr(args, "text", False):
        rep = run_text_stage(args.out, overwrite=args.overwrite, progress=progress)
        lines += rep.summary()
        failed += rep.failed
    if getattr(args, "vlm_endpoint", None):
        from ..experts.vlm import VLMConfig, endpoint_host, normalise_endpoint

        config = VLMConfig(normalise_endpoint(args.vlm_endpoint), args.vlm_model, samples=args.vlm_samples, requests_per_minute=args.vlm_requests_per_minute)
        if progress is not None:
            progress.write(f"embed: asking {args.vlm_model} at {endpoint_host(config.endpoint)} about each photo ({config.samples} samples; the photos are sent there)\n")
        rep = run_vlm_stage(args.out, config, concurrency=args.vlm_concurrency, overwrite=args.overwrite, progress=progress)
        lines += rep.summary()
        failed += rep.failed
    return lines, failed


__all__ = [
    "CHUNK_ROWS", "StageReport", "TEXT_FILE", "VLM_FILE", "clues_of", "schemas", "read_stage", "read_text_row",
    "add_stage_arguments", "run_requested", "run_text_stage", "run_vlm_stage", "stage_meta", "text_reader_installed",
]
