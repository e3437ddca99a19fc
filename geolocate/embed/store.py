"""The output folder of ``embed``: Parquet shards, a manifest, an error list.

Layout of ``DIR``::

    manifest.json          backbone spec, weights sha256, code version, experts, plan fingerprint, row counts
    shard-00000.parquet    rows 0 .. shard_size-1 of the input, one row per input row (bad photos too)
    shard-00001.parquet    ...
    errors.csv             id, source, error_kind, error of every bad row
    albums.parquet         (--group-by) one row per group

A shard is written to a temporary name and renamed into place (``os.replace``), so a shard either
exists whole or not at all; a killed run loses at most the shards in flight. On a rerun a shard is
skipped when its footer reads, its row count and ids are the plan's, and its schema is the expected one.

Columns: ``id`` (string), ``source``, ``ok`` (bool), ``error_kind``, ``error`` (strings, "" when ok),
``lat``/``lon`` (degrees, null when unknown), ``group`` (string, null without --group-by), then the
result columns of :meth:`geolocate.embed.scorer.Scorer.columns` as fixed-size lists (null for bad rows).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .inputs import Item
from .preprocess import ERROR_KINDS

MANIFEST = "manifest.json"
FORMAT_VERSION = 1

_PA_TYPES = {"float16": pa.float16(), "float32": pa.float32(), "uint64": pa.uint64()}


def shard_path(out: Path, shard: int) -> Path:
    """File of shard number ``shard`` in output folder ``out``."""
    return Path(out) / f"shard-{shard:05d}.parquet"


def schema(columns: dict[str, tuple[str, int]]) -> pa.Schema:
    """Arrow schema of a shard for result ``columns`` (name -> (dtype, width))."""
    fields = [
        pa.field("id", pa.string(), nullable=False),
        pa.field("source", pa.string()),
        pa.field("ok", pa.bool_(), nullable=False),
        pa.field("error_kind", pa.string()),
        pa.field("error", pa.string()),
        pa.field("lat", pa.float64()),
        pa.field("lon", pa.float64()),
        pa.field("group", pa.string()),
    ]
    fields += [pa.field(name, pa.list_(_PA_TYPES[dt], width)) for name, (dt, width) in columns.items()]
    return pa.schema(fields)


def build_table(items: list[Item], ok: np.ndarray, error_kind: list[str], error: list[str], results: dict[str, np.ndarray],
                columns: dict[str, tuple[str, int]]) -> pa.Table:
    """One shard's table; ``results`` hold rows for the ok items only, in order."""
    n = len(items)
    ok = np.asarray(ok, bool)
    arrays = [
        pa.array([it.id for it in items], pa.string()),
        pa.array([it.source for it in items], pa.string()),
        pa.array(ok),
        pa.array(error_kind, pa.string()),
        pa.array(error, pa.string()),
        pa.array([it.lat for it in items], pa.float64(), from_pandas=True),  # NaN (unknown) -> null
        pa.array([it.lon for it in items], pa.float64(), from_pandas=True),  # NaN (unknown) -> null
        pa.array([it.group for it in items], pa.string()),
    ]
    for name, (dt, width) in columns.items():
        full = np.zeros((n, width), dtype=dt)
        got = results.get(name)
        if got is not None and ok.any():
            full[ok] = np.asarray(got).astype(dt, copy=False).reshape(int(ok.sum()), width)
        values = pa.array(full.reshape(-1), type=_PA_TYPES[dt])
        arrays.append(pa.FixedSizeListArray.from_arrays(values, width, mask=pa.array(~ok)))
    return pa.Table.from_arrays(arrays, schema=schema(columns))


def write_atomic(table: pa.Table, path: Path) -> None:
    """Write a Parquet file to a temporary name, flush it to disk, then rename it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp, compression="lz4")  # float payloads barely compress; lz4 writes 2x faster than zstd
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json_atomic(obj, path: Path) -> None:
    """Write JSON to a temporary name and rename it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str))
    os.replace(tmp, path)


def verify_shard(path: Path, ids: list[str], expected: pa.Schema) -> bool:
    """True when the shard at ``path`` is complete: readable, the expected schema, exactly ``ids`` in order."""
    try:
        pf = pq.ParquetFile(path)
        if pf.metadata.num_rows != len(ids) or not pf.schema_arrow.equals(expected):
            return False
        return pf.read(columns=["id"]).column("id").to_pylist() == ids
    except (OSError, pa.ArrowException, ValueError):
        return False


def read_manifest(out: Path) -> dict:
    """The manifest of an ``embed`` output folder.

    Raises:
        FileNotFoundError: no manifest (not an embed output, or a run that never started).
    """
    path = Path(out) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{out}: no {MANIFEST}; is this the --out folder of `python -m geolocate embed`?")
    return json.loads(path.read_text())


def read_results(out: Path, ids: list[str] | None = None, columns: list[str] | None = None) -> pa.Table:
    """Rows of an output folder (all shards in order), optionally only ``ids`` (in that order).

    Raises:
        KeyError: an id is not in the results.
    """
    man = read_manifest(out)
    files = [shard_path(out, s["shard"]) for s in man.get("shards", []) if shard_path(out, s["shard"]).is_file()]
    table = pa.concat_tables([pq.read_table(f, columns=columns) for f in files]) if files else schema({}).empty_table()
    if ids is None:
        return table
    pos = {v: i for i, v in enumerate(table.column("id").to_pylist())}
    missing = [i for i in ids if i not in pos]
    if missing:
        raise KeyError(f"{len(missing)} ids are not in {out} (e.g. {missing[:3]})")
    return table.take(pa.array([pos[i] for i in ids], pa.int64()))


def error_counts(kinds: list[str]) -> dict[str, int]:
    """Counts per error kind, in :data:`ERROR_KINDS` order (only kinds that occur)."""
    out = {k: 0 for k in ERROR_KINDS}
    for k in kinds:
        if k:
            out[k] = out.get(k, 0) + 1
    return {k: v for k, v in out.items() if v}
