"""The expert interface: anything that scores places on Earth for one photo, or for a batch of records.

An expert returns an (unnormalised) log density per km² at the centres of any cells. The ensemble
normalises it over the base grid, mixes in a uniform floor and pools it with the others.

Two shapes of expert share this interface:

* a single-photo expert (``records is None``): :meth:`Expert.log_density` gives one density, and the
  batch form repeats it (priors, an analyst's guess, an image model's output for the uploaded photo);
* a batch expert (``records = N``): the outputs of one model for the N records of a benchmark (point
  predictions, class probabilities); :meth:`Expert.batch_log_density` gives one density per record.

The app pools single-photo experts, the benchmark pools batch experts, through the same
:class:`~geolocate.ensemble.Ensemble`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from enum import StrEnum

import numpy as np

from ..grid import CellSet, cell_resolutions, cells_to_parents

DESCENDANT_RADIUS = 0.8
"""Every descendant's centre lies within this many sqrt(cell area) km of a cell's centre (measured
0.68 at most over H3 resolutions 2-7, pentagons included; tests/test_experts.py checks it)."""


class ExpertKind(StrEnum):
    """Where an expert's evidence comes from (tables, the UI's grouping, the report)."""

    PRIOR = "prior"
    """Where photos are taken in general (land, population, photo density)."""
    POINT = "point"
    """A geolocation model's point predictions (benchmark files)."""
    ATTRIBUTE = "attribute"
    """A predicted attribute (land cover, scene, ...) mapped through a global layer."""
    IMAGE = "image"
    """A model run on the uploaded photo (GeoCLIP, zero-shot attributes)."""
    ANALYST = "analyst"
    """What the analyst states: a guess, countries, attributes, sun, shadow and clock."""
    TEXT = "text"
    """Clues from text read in the photo or typed."""
    MODEL = "model"
    """A vision-language model's answers."""
    MAP = "map"
    """Map features the analyst sees (OpenStreetMap)."""


def expert_label(expert: Expert) -> str:
    """Display name of an expert: its name, and its kind when the name does not already say it.

    ``"analyst: forest"`` of kind ``analyst`` stays ``"analyst: forest"`` (not "analyst: analyst: forest").
    """
    name, kind = expert.name, str(expert.kind)
    if not kind or name.lower().startswith(kind.lower()):
        return name
    return f"{name} · {kind}"


def kind_and_name(kind: object, name: str) -> str:
    """``"kind: name"`` for one-line descriptions, or just ``name`` when it already starts with its kind."""
    k = str(kind)
    return name if not k or name.lower().startswith(k.lower()) else f"{k}: {name}"


class Expert(ABC):
    """A distribution over the globe from one source of evidence.

    Attributes:
        name: short unique label shown in tables and the UI.
        kind: where the evidence comes from (:class:`ExpertKind`).
        hard: a mask applied after pooling (no weight, no floor) instead of a weighted expert.
        records: None for one density shared by every record; N for a batch expert holding N records.
    """

    name: str = "expert"
    kind: ExpertKind = ExpertKind.PRIOR
    hard: bool = False
    records: int | None = None

    @abstractmethod
    def log_density(self, cells: CellSet) -> np.ndarray:
        """Unnormalised log density per km² at each cell, float64 shape (n,).

        Finite values only (use a large negative number for "essentially impossible").
        """

    def batch_log_density(self, cells: CellSet, rows: np.ndarray) -> np.ndarray:
        """Log densities for records ``rows`` at ``cells``: (len(rows), n), or (1, n) when shared.

        Batch experts override this; a single-photo expert gives its one density for every record.
        """
        return np.asarray(self.log_density(cells), dtype=np.float64)[None, :]

    def log_density_bounds(self, cells: CellSet, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds of the log density over every finer cell inside each cell.

        Used by :meth:`~geolocate.ensemble.Ensemble.area_to_truth` to decide which cells need no
        splitting. The default knows nothing about the inside of a cell: the lower bound is -inf (a
        cell denser than the truth's is always split) and the upper bound is the cell's own value
        (a cell less dense than the truth's stays whole). Override with true bounds for speed.

        Returns:
            (lo, hi), each shaped like :meth:`batch_log_density` (``rows=None``: like log_density).
        """
        value = self.log_density(cells) if rows is None else self.batch_log_density(cells, rows)
        return np.full(np.shape(value), -np.inf), np.asarray(value, dtype=np.float64)

    def describe(self) -> str:
        """One line for tables and tooltips."""
        return f"{self.kind}: {self.name}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def descendant_value_range(values: np.ndarray, grid_cells: np.ndarray, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column min and max of a field over the cells of a fine grid that descend from each cell.

    Args:
        values: (m, K) field on the fine grid.
        grid_cells: (m,) the fine grid's cells, sorted (so one cell's descendants are contiguous).
        cells: (n,) cells coarser than the grid (finer or equal cells get their own ancestor's values).

    Returns:
        (lo, hi), each (n, K).
    """
    cells = np.asarray(cells, dtype=np.uint64)
    fine_res = int(cell_resolutions(grid_cells[:1])[0]) if len(grid_cells) else 0
    res = cell_resolutions(cells).astype(np.int64)
    lo = np.empty((len(cells), values.shape[1]), dtype=np.float64)
    hi = np.empty_like(lo)
    fine = res >= fine_res
    if fine.any():
        pos = np.searchsorted(grid_cells, cells_to_parents(cells[fine], fine_res))
        pos = np.clip(pos, 0, len(grid_cells) - 1)
        lo[fine] = hi[fine] = values[pos]
    for r in np.unique(res[~fine]).tolist():
        sel = np.flatnonzero(res == r)
        table_cells, table_lo, table_hi = _range_table(values, grid_cells, r)
        pos = np.clip(np.searchsorted(table_cells, cells[sel]), 0, len(table_cells) - 1)
        lo[sel], hi[sel] = table_lo[pos], table_hi[pos]
    return lo, hi


_RANGE_TABLES: dict = {}


def _range_table(values: np.ndarray, grid_cells: np.ndarray, res: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ancestor cells at ``res``, per-ancestor min, max) of a fine-grid field, memoised per field."""
    key = (id(values), res)
    hit = _RANGE_TABLES.get(key)
    if hit is not None and hit[0] is values:
        return hit[1]
    parents = cells_to_parents(grid_cells, res)
    starts = np.flatnonzero(np.r_[True, parents[1:] != parents[:-1]])
    table = (parents[starts], np.minimum.reduceat(values, starts, axis=0), np.maximum.reduceat(values, starts, axis=0))
    _RANGE_TABLES[key] = (values, table)
    return table


class BatchExpert(Expert):
    """One model's outputs for N records (a benchmark); a record without an output is uniform (log density 0).

    Subclasses set :attr:`present` and :attr:`records` and implement :meth:`record_log_density` and
    :meth:`record_log_density_bounds` for records that have an output; this class gives the
    :class:`Expert` methods (one record as a single-photo expert, the uniform rows of missing records).

    Attributes:
        present: (N,) True where the record has an output.
        records: N.
    """

    present: np.ndarray
    records: int

    @abstractmethod
    def record_log_density(self, cells: CellSet, rows: np.ndarray) -> np.ndarray:
        """Log densities per km² of records ``rows`` at ``cells``, (len(rows), n) (rows without an output: any value)."""

    @abstractmethod
    def record_log_density_bounds(self, cells: CellSet, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bounds over finer cells of :meth:`record_log_density`, (len(rows), n) each."""

    def log_density(self, cells: CellSet) -> np.ndarray:
        """The one record's density; a batch of several records needs :meth:`batch_log_density`."""
        if self.records != 1:
            raise TypeError(f"{self.name} holds {self.records} records: use batch_log_density(cells, rows)")
        return self.batch_log_density(cells, np.array([0]))[0]

    def batch_log_density(self, cells: CellSet, rows: np.ndarray) -> np.ndarray:
        """Log densities of records ``rows``, (len(rows), n); 0 (uniform) where a record has no output."""
        rows = np.asarray(rows)
        out = self.record_log_density(cells, rows)
        out[~self.present[rows]] = 0.0
        return out

    def log_density_bounds(self, cells: CellSet, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Bounds over finer cells, (len(rows), n) each (every record when ``rows`` is None); 0 where no output."""
        rows = np.arange(self.records) if rows is None else np.asarray(rows)
        lo, hi = self.record_log_density_bounds(cells, rows)
        missing = ~self.present[rows]
        lo[missing] = hi[missing] = 0.0
        return lo, hi


class ArrayExpert(Expert):
    """An expert given as values on a fixed set of cells (e.g. a cached model output).

    Finer cells inherit the value of their ancestor in that set.

    Args:
        name: label.
        cells: the cells the values refer to (one resolution), uint64 shape (m,), sorted or not.
        log_density: log density per km², shape (m,).
        kind: expert kind.
        fill: log density for cells with no ancestor among ``cells``.
    """

    def __init__(self, name: str, cells: np.ndarray, log_density: np.ndarray, kind: ExpertKind = ExpertKind.PRIOR, fill: float = -50.0):
        cells = np.asarray(cells, dtype=np.uint64)
        order = np.argsort(cells)
        self.name, self.kind, self.fill = name, kind, float(fill)
        self._cells = cells[order]
        self._values = np.asarray(log_density, dtype=np.float64)[order]
        res = np.unique(cell_resolutions(self._cells))
        if len(res) > 1:
            raise ValueError("ArrayExpert cells must share one resolution")
        self._res = int(res[0]) if len(res) else 0

    def log_density(self, cells: CellSet) -> np.ndarray:
        """The value of each cell's ancestor at the array's resolution (``fill`` where none)."""
        keys = cells_to_parents(cells.cells, self._res)
        pos = np.clip(np.searchsorted(self._cells, keys), 0, max(len(self._cells) - 1, 0))
        hit = self._cells[pos] == keys if len(self._cells) else np.zeros(len(keys), bool)
        return np.where(hit, self._values[pos] if len(self._cells) else self.fill, self.fill)


__all__ = ["DESCENDANT_RADIUS", "ArrayExpert", "BatchExpert", "Expert", "ExpertKind", "descendant_value_range", "expert_label"]
