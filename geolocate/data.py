"""Reading benchmark files: ground truth, external point predictions, per-image attribute probabilities.

Columns are matched by name (case-insensitive, from a list of known spellings), never by position.
Bad rows raise :class:`DataError` naming the file, the line and the column; with ``on_error="skip"``
they are skipped instead and counted in the returned :class:`ReadReport` — never dropped silently.

Files are UTF-8 (a BOM is allowed); other bytes are an error naming the line, never replaced, since an
id with a replaced character no longer matches. Blank lines are ignored wherever they are; only the
last block of a point-prediction file, after a blank line, may be its footer (a header line and one
line of numbers). Line numbers count physical lines, so they stay right after quoted fields that span
lines. Files over :data:`MAX_FILE_BYTES` are refused before they are read.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

ID_COLUMNS = ("img_id", "IMG_ID", "name", "id", "image", "image_id", "photo")
LAT_COLUMNS = ("lat", "LAT", "latitude", "gt_lat")
LON_COLUMNS = ("lon", "LON", "lng", "longitude", "gt_long", "gt_lon")
PRED_LAT_COLUMNS = ("predicted_lat", "pred_lat")
PRED_LON_COLUMNS = ("predicted_long", "predicted_lon", "pred_lon", "pred_long")
PROB_PREFIX = "prob_"

MAX_FILE_BYTES = 200 * 1024 * 1024
"""Largest benchmark CSV read, in bytes (checked before reading)."""


class DataError(ValueError):
    """A benchmark file is unusable; the message names file, line and column."""


@dataclass
class ReadReport:
    """What a reader skipped: (line, reason) per skipped row."""

    path: Path
    rows: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)

    def __str__(self) -> str:
        if not self.skipped:
            return f"{self.path.name}: {self.rows} rows read, none skipped"
        head = "; ".join(f"line {ln}: {why}" for ln, why in self.skipped[:3])
        return f"{self.path.name}: {self.rows} rows read, {len(self.skipped)} skipped ({head}{' ...' if len(self.skipped) > 3 else ''})"


def _find(df: pd.DataFrame, candidates: tuple[str, ...], what: str, path: Path) -> str:
    lower = {c.lower(): c for c in df.columns}
    for c in candidates:
        if c.lower() in lower:
            return lower[c.lower()]
    raise DataError(f"{path}: no {what} column; expected one of {', '.join(candidates)}; found {', '.join(map(str, df.columns))}")


@dataclass
class _Table:
    """A parsed CSV: string cells (empty cells are NaN), each row's first physical line, and the footer."""

    df: pd.DataFrame
    lines: np.ndarray
    footer: list[list[str]]
    problems: list[tuple[int, str]]


def _read_text(path: Path) -> str:
    """The file's text, strictly UTF-8, after the existence and size checks."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a CSV file")
    if size > MAX_FILE_BYTES:
        raise DataError(f"{path}: the file is {size / 2**20:,.0f} MiB; the limit is {MAX_FILE_BYTES / 2**20:.0f} MiB")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise DataError(
            f"{path}: line {line}: byte 0x{raw[err.start]:02x} is not UTF-8 text; save the file as UTF-8 "
            "(ids with replaced characters would no longer match)"
        ) from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_table(path: Path) -> _Table:
    """Parse a CSV with the first non-blank line as header; blank lines are skipped wherever they are.

    The last two lines are a footer (GeoEstimation's accuracies) only when a blank line precedes them,
    the first holds names only (none empty, none a number), the second as many numbers.
    """
    text = _read_text(path)
    reader = csv.reader(io.StringIO(text))
    records: list[list[str]] = []
    starts: list[int] = []
    after_blank: list[bool] = []
    prev_end, blank = 0, False
    try:
        for rec in reader:
            start, prev_end = prev_end + 1, reader.line_num
            if not rec or (len(rec) == 1 and not rec[0].strip()):  # a blank line (a row of empty fields is a row)
                blank = True
                continue
            records.append(rec)
            starts.append(start)
            after_blank.append(blank)
            blank = False
    except csv.Error as err:
        raise DataError(f"{path}: line {reader.line_num}: not valid CSV ({err})") from None
    if not records:
        raise DataError(f"{path}: the file is empty (no header, no rows)")
    header, body, lines = records[0], records[1:], starts[1:]
    tail: list[list[str]] = []
    if len(body) >= 3 and after_blank[-2] and not after_blank[-1]:
        head, values = body[-2], body[-1]
        names_only = all(f.strip() and not _is_number(f) for f in head)
        if head != header and names_only and len(values) == len(head) and all(_is_number(f) for f in values):
            tail, body, lines = body[-2:], body[:-2], lines[:-2]
    if not body:
        raise DataError(f"{path}: no data rows after the header on line {starts[0]}")
    width = len(header)
    problems = []
    for i, rec in enumerate(body):
        if len(rec) > width:
            problems.append((i, f"{len(rec)} fields, the header on line {starts[0]} has {width}"))
            body[i] = rec[:width]
        elif len(rec) < width:
            body[i] = rec + [""] * (width - len(rec))
    df = pd.DataFrame(body, columns=header, dtype=object)
    df = df.mask(df == "")  # an empty cell is a missing value, as in pandas.read_csv(na_values=[""])
    return _Table(df, np.asarray(lines, dtype=np.int64), tail, problems)


def _coords(table: _Table, path, id_col, lat_col, lon_col, report, on_error) -> pd.DataFrame:
    """Validate ids and coordinates; returns id, lat, lon with the file's line numbers."""
    df = table.df
    out = pd.DataFrame({"id": df[id_col].astype(str), "line": table.lines})
    problems: list[tuple[int, str]] = list(table.problems)
    for col, name, limit in ((lat_col, "lat", 90), (lon_col, "lon", 180)):
        vals = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64)
        bad_num = ~np.isfinite(vals)
        bad_rng = np.isfinite(vals) & (np.abs(vals) > limit)
        for i in np.flatnonzero(bad_num):
            problems.append((int(i), f"column '{col}': {df[col].iloc[i]!r} is not a number"))
        for i in np.flatnonzero(bad_rng):
            problems.append((int(i), f"column '{col}': {vals[i]} is out of range [-{limit}, {limit}]"))
        out[name] = vals
    missing_id = df[id_col].isna().to_numpy() | (df[id_col].fillna("").astype(str).str.strip() == "").to_numpy()
    for i in np.flatnonzero(missing_id):
        problems.append((int(i), f"column '{id_col}': empty id"))
    dup = out["id"].duplicated(keep="first").to_numpy() & ~missing_id
    for i in np.flatnonzero(dup):
        first = int(out["line"].to_numpy()[(out["id"] == out["id"].iloc[i]).to_numpy()][0])
        problems.append((int(i), f"column '{id_col}': duplicate id {out['id'].iloc[i]!r} (first on line {first})"))
    return _apply(out, problems, path, report, on_error)


def _apply(out: pd.DataFrame, problems, path: Path, report: ReadReport, on_error: str) -> pd.DataFrame:
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    report.rows = len(out)
    if not problems:
        return out.reset_index(drop=True)
    problems.sort()
    lines = out["line"].to_numpy()
    if on_error != "skip":
        i, why = problems[0]
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise DataError(f"{path}: line {lines[i]}: {why}{more}")
    bad = sorted({i for i, _ in problems})
    report.skipped.extend((int(lines[i]), why) for i, why in problems)
    if len(bad) == len(out):
        raise DataError(f"{path}: no usable rows: all {len(out)} were skipped ({report})")
    return out.drop(index=out.index[bad]).reset_index(drop=True)


def read_ground_truth(path: str | Path, on_error: str = "raise") -> tuple[pd.DataFrame, ReadReport]:
    """Ground truth: columns id (str), lat, lon (degrees), line (the row's line in the file).

    Args:
        path: CSV with an id column (IMG_ID, img_id, name, ...) and lat/lon columns (LAT/lat/latitude...).
        on_error: "raise" (default) or "skip" (bad rows skipped and reported).
    """
    path = Path(path)
    table = _read_table(path)
    df = table.df
    report = ReadReport(path)
    return _coords(table, path, _find(df, ID_COLUMNS, "image id", path), _find(df, LAT_COLUMNS, "latitude", path), _find(df, LON_COLUMNS, "longitude", path), report, on_error), report


def read_point_predictions(path: str | Path, on_error: str = "raise") -> tuple[pd.DataFrame, dict[str, float], ReadReport]:
    """Read per-image point predictions in the GeoEstimation CSV format.

    The file has columns img_id, gt_lat, predicted_lat, gt_long, predicted_long,
    great_circle_distance, then a blank line and a two-line footer of accuracies.

    Args:
        path: the predictions CSV.
        on_error: "raise" (default) or "skip" (bad rows skipped and reported).

    Returns:
        (table with id, lat, lon = the *predicted* point, line; footer {column: value}; report).
    """
    path = Path(path)
    table = _read_table(path)
    df = table.df
    report = ReadReport(path)
    out = _coords(table, path, _find(df, ID_COLUMNS, "image id", path), _find(df, PRED_LAT_COLUMNS, "predicted latitude", path), _find(df, PRED_LON_COLUMNS, "predicted longitude", path), report, on_error)
    footer: dict[str, float] = {}
    if table.footer:
        names, values = table.footer
        footer = {k.strip(): float(v) for k, v in zip(names, values)}
    return out, footer, report


def read_attribute_probs(path: str | Path, columns: list[str] | None = None, on_error: str = "raise") -> tuple[pd.DataFrame, list[str], ReadReport]:
    """Per-image class probabilities (e.g. Places365 Prob_indoor/Prob_natural/Prob_urban).

    Args:
        path: CSV with an id column and probability columns.
        columns: probability columns; default every column starting with "Prob_" (any case).
        on_error: "raise" (default) or "skip" (bad rows skipped and reported).

    Returns:
        (table with id, line and one column per class named by the class (e.g. "indoor"), class names,
        report). Rows are renormalised to sum to 1; negative, NaN or all-zero rows are errors.
    """
    path = Path(path)
    table = _read_table(path)
    df = table.df
    id_col = _find(df, ID_COLUMNS, "image id", path)
    cols = columns or [c for c in df.columns if str(c).lower().startswith(PROB_PREFIX)]
    missing = [c for c in cols if c not in df.columns]
    if missing or not cols:
        raise DataError(f"{path}: probability columns {missing or 'Prob_*'} not found; found {', '.join(map(str, df.columns))}")
    names = [c[len(PROB_PREFIX):] if c.lower().startswith(PROB_PREFIX) else c for c in cols]
    report = ReadReport(path)
    out = pd.DataFrame({"id": df[id_col].astype(str), "line": table.lines})
    vals = df[cols].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    problems = list(table.problems)
    for i, j in zip(*np.nonzero(~np.isfinite(vals) | (vals < 0))):
        problems.append((int(i), f"column '{cols[j]}': {df[cols[j]].iloc[i]!r} is not a probability"))
    zero = np.flatnonzero(np.nansum(np.abs(vals), axis=1) == 0)
    problems += [(int(i), "all probabilities are zero") for i in zero]
    dup = out["id"].duplicated().to_numpy()
    problems += [(int(i), f"column '{id_col}': duplicate id {out['id'].iloc[i]!r}") for i in np.flatnonzero(dup)]
    with np.errstate(invalid="ignore", divide="ignore"):
        vals = vals / vals.sum(axis=1, keepdims=True)
    for k, n in enumerate(names):
        out[n] = vals[:, k]
    return _apply(out, problems, path, report, on_error), names, report


def _header_line(path: Path) -> str:
    """The first line of a file (at most 64 KiB of it), without reading the rest."""
    try:
        with open(path, "rb") as f:
            return f.readline(65536).decode("utf-8-sig", "replace")
    except OSError:
        return ""


@dataclass
class BenchmarkSpec:
    """Files of one benchmark found in a folder."""

    name: str
    ground_truth: Path
    predictions: list[Path] = field(default_factory=list)
    attributes: list[Path] = field(default_factory=list)


def discover_benchmarks(folder: str | Path) -> list[BenchmarkSpec]:
    """Find the benchmarks in ``folder``, one per sub-folder that has a ground-truth CSV.

    The ground truth is gt.csv, else a places365 CSV (which has coordinates); the benchmark's
    predictions are its ``predictions/*.csv``, and every CSV with Prob_* columns is an attribute file.

    Args:
        folder: folder whose sub-folders are benchmarks; a missing folder gives no benchmarks.

    Returns:
        One :class:`BenchmarkSpec` per benchmark, sorted by sub-folder name.
    """
    folder = Path(folder)
    specs = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []:
        csvs = sorted(sub.glob("*.csv"))
        gt = next((c for c in csvs if c.name == "gt.csv"), None) or next((c for c in csvs if "places365" in c.name), None)
        if gt is None:
            continue
        attrs = [c for c in csvs if any(h.strip().lower().startswith(PROB_PREFIX) for h in _header_line(c).split(","))]
        specs.append(BenchmarkSpec(sub.name, gt, sorted((sub / "predictions").glob("*.csv")), attrs))
    return specs
