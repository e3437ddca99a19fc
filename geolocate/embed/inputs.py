"""What ``embed`` reads: a folder of photos, or a CSV/Parquet manifest of paths or URLs.

Every input row becomes one :class:`Item` and, later, exactly one output row (bad photos included,
with the reason), so a run never loses a row silently.
"""

from __future__ import annotations

import math
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..image.photo import MAX_BYTES

PATH_COLUMNS = ("path", "file", "filename", "filepath", "file_path", "image", "image_path", "img_path", "url", "image_url", "photo")
"""Manifest columns tried, in order, for the photo's location (case-insensitive)."""
ID_COLUMNS = ("id", "img_id", "image_id", "photo_id")
LAT_COLUMNS = ("lat", "latitude", "gt_lat")
LON_COLUMNS = ("lon", "lng", "long", "longitude", "gt_long", "gt_lon")

URL_TIMEOUT_S = 30.0


class InputError(ValueError):
    """The input folder or manifest cannot be used; ``str(err)`` says why and how to fix it."""


@dataclass(frozen=True)
class Item:
    """One photo to score.

    Attributes:
        id: unique id (manifest id column, else the path as written, else the path relative to the folder).
        source: absolute file path, or an http(s) URL; "" when the manifest row has none.
        lat: ground-truth latitude in degrees, NaN when unknown.
        lon: ground-truth longitude in degrees, NaN when unknown.
        group: album/case key (``--group-by`` column), or None.
    """

    id: str
    source: str
    lat: float = math.nan
    lon: float = math.nan
    group: str | None = None


def is_url(source: str) -> bool:
    """True for http(s) URLs (downloaded), False for file paths."""
    return source.startswith(("http://", "https://"))


def read_source(source: str) -> bytes:
    """The bytes of a photo file or URL.

    Raises:
        FileNotFoundError: the file does not exist.
        OSError: unreadable file, failed download, or more than :data:`MAX_BYTES`.
    """
    if not source:
        raise FileNotFoundError("the manifest row has no path")
    if is_url(source):
        try:
            with urllib.request.urlopen(source, timeout=URL_TIMEOUT_S) as r:  # noqa: S310 - http(s) only, checked above
                data = r.read(MAX_BYTES + 1)
        except (urllib.error.URLError, TimeoutError, ValueError) as err:
            raise OSError(f"download failed: {getattr(err, 'reason', err)}") from None
    else:
        p = Path(source)
        size = p.stat().st_size  # FileNotFoundError for a missing file
        if size > MAX_BYTES:
            raise OSError(f"the file is {size / 2**20:.0f} MiB; the limit is {MAX_BYTES / 2**20:.0f} MiB")
        data = p.read_bytes()
    if len(data) > MAX_BYTES:
        raise OSError(f"the download exceeds {MAX_BYTES / 2**20:.0f} MiB")
    return data


def _pick(columns: list[str], wanted: str | None, candidates: tuple[str, ...], what: str, required: bool) -> str | None:
    lower = {c.lower(): c for c in columns}
    if wanted:
        if wanted in columns:
            return wanted
        if wanted.lower() in lower:
            return lower[wanted.lower()]
        raise InputError(f"the manifest has no {what} column {wanted!r}; its columns are {columns}")
    for c in candidates:
        if c in lower:
            return lower[c]
    if required:
        raise InputError(f"the manifest has no {what} column (tried {', '.join(candidates)}); its columns are {columns}. Fix: --path-column NAME")
    return None


def _float(v) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan
    return f if math.isfinite(f) else math.nan


def read_manifest(path: Path, *, path_column: str | None = None, id_column: str | None = None, group_by: str | None = None) -> list[Item]:
    """Items of a CSV or Parquet manifest; relative paths are relative to the manifest's folder.

    Raises:
        InputError: unreadable manifest, no path column, unknown column, or duplicate ids.
    """
    import pandas as pd

    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path, dtype=str, keep_default_na=False, sep="\t" if path.suffix.lower() == ".tsv" else ",")
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise InputError(f"{path}: cannot read the manifest ({type(err).__name__}: {err})") from None
    cols = [str(c) for c in df.columns]
    df.columns = cols
    pc = _pick(cols, path_column, PATH_COLUMNS, "path or URL", True)
    ic = _pick(cols, id_column, ID_COLUMNS, "id", False)
    la = _pick(cols, None, LAT_COLUMNS, "latitude", False)
    lo = _pick(cols, None, LON_COLUMNS, "longitude", False)
    gc = _pick(cols, group_by, (), "group", False) if group_by else None
    assert pc is not None  # required=True raised otherwise
    base = path.resolve().parent
    items = []
    for row in df.itertuples(index=False):
        r = dict(zip(cols, row))
        raw = "" if r[pc] is None or (isinstance(r[pc], float) and math.isnan(r[pc])) else str(r[pc]).strip()
        source = raw if (not raw or is_url(raw)) else str((base / raw).resolve())
        ident = str(r[ic]).strip() if ic else raw
        group = None if gc is None else str(r[gc]).strip()
        items.append(Item(ident, source, _float(r[la]) if la else math.nan, _float(r[lo]) if lo else math.nan, group))
    _check_ids(items, path)
    return items


def read_folder(folder: Path) -> list[Item]:
    """Every non-hidden file under ``folder`` (recursive, sorted); ids are paths relative to it.

    Files that are not photos are kept: they are reported as bad rows, not skipped silently.
    """
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    return [Item(p.relative_to(folder).as_posix(), str(p.resolve())) for p in files]


def _check_ids(items: list[Item], where) -> None:
    seen: set[str] = set()
    dup = []
    for it in items:
        if it.id in seen:
            dup.append(it.id)
        seen.add(it.id)
    if dup:
        raise InputError(f"{where}: {len(dup)} duplicate ids (e.g. {dup[:3]}); ids must be unique. Fix: --id-column NAME")
    if any(not it.id for it in items):
        raise InputError(f"{where}: rows without an id or a path; give every row an id or a path")


def collect_items(source: str | Path, *, path_column: str | None = None, id_column: str | None = None, group_by: str | None = None) -> list[Item]:
    """Items of a folder or a manifest file.

    Raises:
        InputError: the input does not exist, is empty, or the manifest is invalid.
    """
    p = Path(source)
    if p.is_dir():
        if group_by:
            raise InputError("--group-by needs a manifest (CSV/Parquet) with that column; a folder has no columns")
        items = read_folder(p)
        if not items:
            raise InputError(f"{p}: the folder has no files")
        return items
    if p.is_file():
        items = read_manifest(p, path_column=path_column, id_column=id_column, group_by=group_by)
        if not items:
            raise InputError(f"{p}: the manifest has no rows")
        return items
    raise InputError(f"{p}: no such folder or manifest file")
