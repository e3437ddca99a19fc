"""Benchmark numbers for people, the evaluated sample, the data files' fingerprint and the citation.

Shared by the Benchmark page (and anything else that prints a benchmark): no Streamlit here.
Figures keep 2-3 significant figures, the precision the bootstrap intervals support; areas are scaled to
thousands (k) or millions (M) of km² so that "104 M km² [49-120 M]" reads at a glance.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from .data import BenchmarkSpec

PAPER = {
    "title": "Enhancing Worldwide Image Geolocation by Ensembling Satellite-Based Ground-Level Attribute Predictors",
    "authors": ["Michael J. Bianco", "David Eigen", "Michael Gormish"],
    "venue": "Proceedings of the IEEE/CVF Winter Conference on Applications of Computer Vision (WACV)",
    "year": 2025,
    "arxiv": "2407.13862",
}
"""The paper the method and the Recall vs Area metric come from."""

_UNITS = ((1e6, " M"), (1e3, " k"), (1.0, ""))
CURVE_COLUMNS = ["expert", "area_km2", "recall"]
"""Columns of the curves CSV (one row per step of each configuration's Recall vs Area curve)."""


def _last_digit(x: float, digits: int) -> int:
    """Power of ten of the last of ``digits`` significant figures of ``x`` (99.96 at 3 figures is 100: -> 0)."""
    rounded = float(f"{abs(x):.{digits}g}")
    return math.floor(math.log10(rounded)) - digits + 1 if rounded else 0


def _fixed(x: float, last: int) -> str:
    """``x`` rounded at the power of ten ``last``, thousands separated; "n/a" and "∞" for the rest."""
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    return f"{round(x, -last):,.{max(-last, 0)}f}"


def sig(x: float, digits: int = 3) -> str:
    """``x`` to ``digits`` significant figures, thousands separated, never in exponent form.

    Examples: 0.41234 -> "0.412", 1234.5 -> "1,230", 0.5 -> "0.500"; NaN -> "n/a".
    """
    x = float(x)
    return _fixed(x, _last_digit(x, digits) if math.isfinite(x) else 0)


def _unit(x: float, digits: int) -> tuple[float, str]:
    """The scale (1e6, 1e3 or 1) and suffix for ``x`` once rounded (999,960 at 3 figures is 1.00 M)."""
    r = float(f"{abs(x):.{digits}g}") if math.isfinite(x) else 0.0
    return next(((s, u) for s, u in _UNITS if r >= s), _UNITS[-1])


def scaled(x: float, digits: int = 3, unit: str = "") -> str:
    """``x`` in millions (M) or thousands (k) when that large, to ``digits`` figures: 104297147 -> "104 M"."""
    scale, suffix = _unit(float(x), digits)
    return f"{sig(float(x) / scale, digits)}{suffix}" + (f" {unit}" if unit else "")


def interval(value: float, lo: float, hi: float, digits: int = 3, unit: str = "", scale_units: bool = True) -> str:
    """A figure with its interval, all on the value's scale and rounded where the value is.

    ``interval(104_297_147, 49_439_939, 119_735_627, unit="km²")`` -> "104 M km² [49-120 M]";
    ``interval(0.41234, 0.3951, 0.4312)`` -> "0.412 [0.395-0.431]".

    Args:
        value: the estimate.
        lo: the interval's lower bound (same unit as ``value``).
        hi: its upper bound.
        digits: significant figures of ``value``; a bound is rounded at the value's decimal place, or
            coarser when that would give it more than ``digits`` figures.
        unit: printed after the value (e.g. "km²").
        scale_units: scale to k / M by the value's size.
    """
    value, lo, hi = float(value), float(lo), float(hi)
    scale, suffix = _unit(value, digits) if scale_units else (1.0, "")
    last = _last_digit(value / scale, digits) if math.isfinite(value) else 0
    head = _fixed(value / scale, last) + suffix + (f" {unit}" if unit else "")

    def bound(x: float) -> str:  # the value's decimal places, but never more figures than the value has
        return _fixed(x, max(last, _last_digit(x, digits)) if math.isfinite(x) else 0)

    return f"{head} [{bound(lo / scale)}-{bound(hi / scale)}{suffix}]"


def percent(x: float, digits: int = 3) -> str:
    """A share (0-1) as a percentage to ``digits`` figures: 0.1234 -> "12.3%", 1 -> "100%"."""
    return f"{sig(100 * float(x), digits)}%" if math.isfinite(float(x)) else "n/a"


def ensemble_first(frame: pd.DataFrame, column: str = "expert", name: str = "ensemble") -> pd.DataFrame:
    """The rows of ``frame`` with the ensemble's row first (the others keep their order), index reset."""
    first = frame[column] == name
    return pd.concat([frame[first], frame[~first]], ignore_index=True)


def evaluated_sample(report: Mapping) -> tuple[int, str]:
    """How many photos a benchmark report evaluated, and the sentence that says which and why.

    Args:
        report: :attr:`geolocate.bench.BenchResult.report` (keys ``n_images``, ``split``, ``bootstrap``).

    Returns:
        (n evaluated, "n = 1,567 evaluated photos (eval half of 2,997, split by photographer)").
    """
    split = report.get("split", {})
    total = int(report.get("n_images", 0))
    n = int(split.get("eval", total))
    if str(split.get("method", "")).startswith("none") or int(split.get("fit", 0)) == 0:
        why = f"all {total:,}; weights fitted elsewhere"
    else:
        by = "photographer" if report.get("bootstrap", {}).get("unit") == "author" else "image id (no photographer column)"
        why = f"eval half of {total:,}, split by {by}"
    return n, f"n = {n:,} evaluated photo{'s' if n != 1 else ''} ({why})"


def files_sha256(paths: Iterable[str | Path]) -> str:
    """SHA-256 (hex) over files: each file's name, size and bytes, in name order.

    The same data gives the same fingerprint wherever it is stored (paths are not hashed, names are).

    Raises:
        OSError: a file cannot be read.
    """
    h = hashlib.sha256()
    for path in sorted({Path(p) for p in paths}, key=lambda p: (p.name, str(p))):
        h.update(f"{path.name}\0{path.stat().st_size}\0".encode())
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def citation(version: str, benchmark: str, data_sha256: str, n_files: int) -> tuple[str, str]:
    """How to cite a benchmark run: (plain-text reference with the run's provenance, BibTeX).

    Args:
        version: the app's version (``geolocate.__version__``).
        benchmark: the benchmark's name.
        data_sha256: :func:`files_sha256` of its data files.
        n_files: how many files that hash covers.
    """
    authors = PAPER["authors"]
    assert isinstance(authors, list)
    text = (
        f"{', '.join(authors[:-1])} and {authors[-1]}. {PAPER['title']}. In {PAPER['venue']}, {PAPER['year']}. "
        f"arXiv:{PAPER['arxiv']}.\n"
        f"Evaluated with geolocate {version} on {benchmark} (SHA-256 of its {n_files} data file{'s' if n_files != 1 else ''}: {data_sha256})."
    )
    bibtex = (
        "@inproceedings{bianco2025enhancing,\n"
        f"  title     = {{{PAPER['title']}}},\n"
        f"  author    = {{{' and '.join(authors)}}},\n"
        f"  booktitle = {{{PAPER['venue']}}},\n"
        f"  year      = {{{PAPER['year']}}},\n"
        f"  eprint    = {{{PAPER['arxiv']}}},\n"
        "  archivePrefix = {arXiv}\n"
        "}"
    )
    return text, bibtex


def curves_csv(curves: pd.DataFrame) -> str:
    """The Recall vs Area curves as CSV text with :data:`CURVE_COLUMNS` (area in km², recall 0-1)."""
    return curves[CURVE_COLUMNS].to_csv(index=False)


__all__ = ["CURVE_COLUMNS", "PAPER", "citation", "curves_csv", "ensemble_first", "evaluated_sample", "files_sha256", "planned_split", "interval", "percent", "scaled", "sig"]


def planned_split(spec: BenchmarkSpec, max_samples: int | None = None) -> tuple[int, int, bool]:
    """How a run on ``spec`` with its own split will divide the photos, read from the ground truth only.

    The rule is :func:`geolocate.bench.run_benchmark`'s: the first ``max_samples`` images, halved by a hash of the
    photographer (else of the image id).

    Returns:
        (photos used, photos evaluated, whether split by photographer).
    """
    from .bench import load_benchmark, split_halves
    from .data import BenchmarkSpec as Spec

    data = load_benchmark(Spec(spec.name, spec.ground_truth), priors=[], max_samples=max_samples)
    keys = data.groups if data.groups is not None else data.truth["id"].to_numpy()
    return len(keys), int((~split_halves(keys)).sum()), data.groups is not None
