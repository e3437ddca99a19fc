"""Reading benchmark files: ground truth, external point predictions, per-image attribute probabilities.

Columns are matched by name (case-insensitive, from a list of known spellings), never by position.
Bad rows raise :class:`DataError` naming the file, the line and the column; with ``on_error="skip"``
they are skipped instead and counted in the returned :class:`ReadReport` — never dropped silently.
"""

from __future__ import annotations

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


def _read_csv_text(path: Path) -> tuple[str, str]:
    """Split a CSV into its table and an optional footer after the first blank line."""
    if not path.exists():
        raise DataError(f"{path}: file not found")
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if i > 0 and not line.strip():
            return "\n".join(lines[:i]), "\n".join(lines[i + 1 :])
    return text, ""


def _coords(df, path, id_col, lat_col, lon_col, report, on_error) -> pd.DataFrame:
    """Validate ids and coordinates; returns id, lat, lon with the file's line numbers."""
    out = pd.DataFrame({"id": df[id_col].astype(str), "line": np.arange(len(df)) + 2})
    problems: list[tuple[int, str]] = []
    for col, name, limit in ((lat_col, "lat", 90), (lon_col, "lon", 180)):
        vals = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64)
        bad_num = ~np.isfinite(vals)
        bad_rng = np.isfinite(vals) & (np.abs(vals) > limit)
        for i in np.flatnonzero(bad_num):
            problems.append((i, f"column '{col}': {df[col].iloc[i]!r} is not a number"))
        for i in np.flatnonzero(bad_rng):
            problems.append((i, f"column '{col}': {vals[i]} is out of range [-{limit}, {limit}]"))
        out[name] = vals
    missing_id = df[id_col].isna().to_numpy() | (out["id"].str.strip() == "").to_numpy()
    for i in np.flatnonzero(missing_id):
        problems.append((i, f"column '{id_col}': empty id"))
    dup = out["id"].duplicated(keep="first").to_numpy() & ~missing_id
    for i in np.flatnonzero(dup):
        first = int(out.index[(out["id"] == out["id"].iloc[i]).to_numpy()][0]) + 2
        problems.append((i, f"column '{id_col}': duplicate id {out['id'].iloc[i]!r} (first on line {first})"))
    return _apply(out, problems, path, report, on_error)


def _apply(out: pd.DataFrame, problems, path: Path, report: ReadReport, on_error: str) -> pd.DataFrame:
    report.rows = len(out)
    if not problems:
        return out.reset_index(drop=True)
    problems.sort()
    if on_error != "skip":
        i, why = problems[0]
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise DataError(f"{path}: line {i + 2}: {why}{more}")
    bad = sorted({i for i, _ in problems})
    report.skipped.extend((i + 2, why) for i, why in problems)
    return out.drop(index=out.index[bad]).reset_index(drop=True)


def read_ground_truth(path: str | Path, on_error: str = "raise") -> tuple[pd.DataFrame, ReadReport]:
    """Ground truth: columns id (str), lat, lon (degrees), line (the row's line in the file).

    Args:
        path: CSV with an id column (IMG_ID, img_id, name, ...) and lat/lon columns (LAT/lat/latitude...).
        on_error: "raise" (default) or "skip" (bad rows skipped and reported).
    """
    path = Path(path)
    table, _ = _read_csv_text(path)
    df = pd.read_csv(io.StringIO(table), dtype=str, keep_default_na=False, na_values=[""])
    report = ReadReport(path)
    return _coords(df, path, _find(df, ID_COLUMNS, "image id", path), _find(df, LAT_COLUMNS, "latitude", path), _find(df, LON_COLUMNS, "longitude", path), report, on_error), report


def read_point_predictions(path: str | Path, on_error: str = "raise") -> tuple[pd.DataFrame, dict[str, float], ReadReport]:
    """Per-image point predictions (GeoEstimation format: img_id, gt_lat, predicted_lat, gt_long,
    predicted_long, great_circle_distance, then a blank line and a two-line footer of accuracies).

    Returns:
        (table with id, lat, lon = the *predicted* point, line; footer {column: value}; report).
    """
    path = Path(path)
    table, footer_text = _read_csv_text(path)
    df = pd.read_csv(io.StringIO(table), dtype=str, keep_default_na=False, na_values=[""])
    report = ReadReport(path)
    out = _coords(df, path, _find(df, ID_COLUMNS, "image id", path), _find(df, PRED_LAT_COLUMNS, "predicted latitude", path), _find(df, PRED_LON_COLUMNS, "predicted longitude", path), report, on_error)
    footer: dict[str, float] = {}
    if footer_text.strip():
        try:
            f = pd.read_csv(io.StringIO(footer_text))
            footer = {str(k): float(v) for k, v in f.iloc[0].items()}
        except (ValueError, IndexError, pd.errors.ParserError) as err:
            raise DataError(f"{path}: footer after the blank line is not a CSV header + values line ({err})") from err
    return out, footer, report


def read_attribute_probs(path: str | Path, columns: list[str] | None = None, on_error: str = "raise") -> tuple[pd.DataFrame, list[str], ReadReport]:
    """Per-image class probabilities (e.g. Places365 Prob_indoor/Prob_natural/Prob_urban).

    Args:
        path: CSV with an id column and probability columns.
        columns: probability columns; default every column starting with "Prob_" (any case).

    Returns:
        (table with id, line and one column per class named by the class (e.g. "indoor"), class names,
        report). Rows are renormalised to sum to 1; negative, NaN or all-zero rows are errors.
    """
    path = Path(path)
    table, _ = _read_csv_text(path)
    df = pd.read_csv(io.StringIO(table), dtype=str, keep_default_na=False, na_values=[""])
    id_col = _find(df, ID_COLUMNS, "image id", path)
    cols = columns or [c for c in df.columns if str(c).lower().startswith(PROB_PREFIX)]
    missing = [c for c in cols if c not in df.columns]
    if missing or not cols:
        raise DataError(f"{path}: probability columns {missing or 'Prob_*'} not found; found {', '.join(map(str, df.columns))}")
    names = [c[len(PROB_PREFIX):] if c.lower().startswith(PROB_PREFIX) else c for c in cols]
    report = ReadReport(path)
    out = pd.DataFrame({"id": df[id_col].astype(str), "line": np.arange(len(df)) + 2})
    vals = df[cols].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    problems = []
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


@dataclass
class BenchmarkSpec:
    """Files of one benchmark found in a folder."""

    name: str
    ground_truth: Path
    predictions: list[Path] = field(default_factory=list)
    attributes: list[Path] = field(default_factory=list)


def discover_benchmarks(folder: str | Path) -> list[BenchmarkSpec]:
    """Benchmarks in ``folder``: each sub-folder with a ground-truth CSV (gt.csv, or a places365.csv that
    has coordinates), its ``predictions/*.csv`` and the CSVs with Prob_* columns as attribute files."""
    folder = Path(folder)
    specs = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []:
        csvs = sorted(sub.glob("*.csv"))
        gt = next((c for c in csvs if c.name == "gt.csv"), None) or next((c for c in csvs if "places365" in c.name), None)
        if gt is None:
            continue
        attrs = [c for c in csvs if any(h.lower().startswith(PROB_PREFIX) for h in c.read_text(errors="replace").split("\n", 1)[0].split(","))]
        specs.append(BenchmarkSpec(sub.name, gt, sorted((sub / "predictions").glob("*.csv")), attrs))
    return specs
