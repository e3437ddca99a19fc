"""Probability distributions over H3 cells (log space), ranking by density, area budgets.

A :class:`CellDistribution` holds normalised log probability *mass* per cell. Cells may be of mixed
resolutions (after refinement); they must not overlap. Regions are ranked by *density* (mass per km²),
highest first; ties are broken by ascending H3 index so that rankings are reproducible.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from h3.api import numpy_int as h3n

from .grid import CellSet, points_to_cells


def logsumexp(x: np.ndarray, axis: int | None = None) -> np.ndarray:
    """Numerically stable log(sum(exp(x))) along ``axis`` (-inf entries allowed)."""
    x = np.asarray(x)
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if axis is not None else out.reshape(())[()]  # scalar when reducing everything


@dataclass
class RankedRegions:
    """Cells in rank order (densest first), with running totals.

    All arrays have shape (k,). ``density`` is probability per km²; ``cum_prob`` and
    ``cum_area_km2`` include the cell itself.
    """

    cells: np.ndarray
    prob: np.ndarray
    area_km2: np.ndarray
    density: np.ndarray
    lat: np.ndarray
    lon: np.ndarray

    def __len__(self) -> int:
        return len(self.cells)

    @property
    def rank(self) -> np.ndarray:
        """1-based ranks."""
        return np.arange(1, len(self.cells) + 1)

    @property
    def cum_prob(self) -> np.ndarray:
        """Running total of probability, (k,)."""
        return np.cumsum(self.prob)

    @property
    def cum_area_km2(self) -> np.ndarray:
        """Running total of area, km² (k,)."""
        return np.cumsum(self.area_km2)

    @property
    def total_prob(self) -> float:
        """Probability held by these cells."""
        return float(self.prob.sum())

    @property
    def total_area_km2(self) -> float:
        """Area of these cells, km²."""
        return float(self.area_km2.sum())

    def head(self, k: int) -> RankedRegions:
        """The first ``k`` regions."""
        return RankedRegions(*(getattr(self, f)[:k] for f in ("cells", "prob", "area_km2", "density", "lat", "lon")))

    def to_frame(self) -> pd.DataFrame:
        """A table of the regions in rank order.

        Columns: rank, h3 (string index), lat, lon, resolution, prob, area_km2, density_per_km2,
        cum_prob, cum_area_km2.
        """
        return pd.DataFrame(
            {
                "rank": self.rank,
                "h3": [h3n.int_to_str(int(c)) for c in self.cells],
                "lat": self.lat,
                "lon": self.lon,
                "resolution": [h3n.get_resolution(int(c)) for c in self.cells],
                "prob": self.prob,
                "area_km2": self.area_km2,
                "density_per_km2": self.density,
                "cum_prob": self.cum_prob,
                "cum_area_km2": self.cum_area_km2,
            }
        )


class CellDistribution:
    """Normalised probability mass over non-overlapping H3 cells.

    Args:
        cells: the support, a :class:`~geolocate.grid.CellSet` of n cells (mixed resolutions allowed).
        log_mass: log probability mass per cell, shape (n,); normalised here.
    """

    def __init__(self, cells: CellSet, log_mass: np.ndarray):
        log_mass = np.asarray(log_mass, dtype=np.float64)
        if log_mass.shape != (len(cells),):
            raise ValueError(f"log_mass has shape {log_mass.shape}, expected ({len(cells)},)")
        if np.isnan(log_mass).any():
            raise ValueError("log_mass contains NaN")
        total = logsumexp(log_mass)
        if not np.isfinite(total):
            raise ValueError("distribution has zero total mass")
        self.cells = cells
        self.log_mass = log_mass - total
        self._order: np.ndarray | None = None
        self.peak_finder: Callable[[], Any] | None = None
        """Set by :meth:`~geolocate.ensemble.Ensemble.distribution`: computes the continuous mode (a
        :class:`~geolocate.ensemble.Peak`) on the first call of :meth:`mode`."""
        self._peak: Any = None

    @classmethod
    def from_log_density(cls, cells: CellSet, log_density: np.ndarray) -> CellDistribution:
        """Build from an (unnormalised) log density per km² evaluated on each cell."""
        return cls(cells, np.asarray(log_density, dtype=np.float64) + np.log(cells.area_km2))

    def __len__(self) -> int:
        return len(self.cells)

    @property
    def prob(self) -> np.ndarray:
        """Probability mass per cell, shape (n,), sums to 1."""
        return np.exp(self.log_mass)

    @property
    def log_density(self) -> np.ndarray:
        """Log probability per km², shape (n,)."""
        return self.log_mass - np.log(self.cells.area_km2)

    def order(self) -> np.ndarray:
        """Cell positions from densest to least dense (ties: ascending H3 index)."""
        if self._order is None:
            self._order = np.lexsort((self.cells.cells, -self.log_density))
        return self._order

    def ranked(self, limit: int | None = None) -> RankedRegions:
        """The ``limit`` densest cells (all when None) in rank order."""
        idx = self.order() if limit is None else self.order()[:limit]
        return RankedRegions(
            self.cells.cells[idx],
            self.prob[idx],
            self.cells.area_km2[idx],
            np.exp(self.log_density[idx]),
            self.cells.lat[idx],
            self.cells.lon[idx],
        )

    def within_budget(self, budget_km2: float) -> RankedRegions:
        """The densest cells whose total area fits ``budget_km2`` (km²), in rank order.

        The selection is the longest prefix of the ranking whose cumulative area is at most the budget,
        so it may be empty when the budget is smaller than the densest cell.
        """
        if not budget_km2 > 0:
            raise ValueError(f"area budget must be positive km², got {budget_km2}")
        order = self.order()
        cum = np.cumsum(self.cells.area_km2[order])
        k = int(np.searchsorted(cum, budget_km2, side="right"))
        return self.ranked(k)

    def locate(self, lat: float, lon: float) -> int:
        """Position of the cell containing a point (degrees), or -1 when outside the support.

        The point's cell is found at the finest resolution present and then followed up the H3
        hierarchy: children do not tile their parent exactly, so a per-resolution geometric lookup can
        miss a mixed-resolution support (or hit two cells) near cell edges; the hierarchy matches one.
        """
        from .grid import cells_to_parents

        res = np.unique(self.cells.resolution)
        finest = points_to_cells(np.array([lat]), np.array([lon]), int(res.max()))
        for r in res[::-1].tolist():
            hit = np.flatnonzero(self.cells.cells == cells_to_parents(finest, r)[0])
            if len(hit):
                return int(hit[0])
        return -1

    def area_to_contain(self, lat: float, lon: float) -> float:
        """Area in km² one must search, going down the ranking, to contain the point (degrees).

        Convention (see geolocate.metrics): the area of every cell denser than the point's cell, plus half
        the area of the other cells of equal density (the expected value over tie orders), plus the point's
        cell itself.
        """
        i = self.locate(lat, lon)
        if i < 0:
            raise ValueError(f"point ({lat}, {lon}) is outside the distribution's cells")
        return float(area_to_truth(self.log_density, self.cells.area_km2, i))

    def mode(self) -> tuple[float, float]:
        """The most likely point (lat, lon in degrees).

        For a distribution made by :meth:`~geolocate.ensemble.Ensemble.distribution`: the mode of the
        continuous density (:meth:`~geolocate.ensemble.Ensemble.peak`: kernel centres and the densest
        cells as candidates, then a local search to under a metre), computed once. Otherwise the
        centre of the densest cell (:meth:`densest_centre`).
        """
        if self.peak_finder is None:
            return self.densest_centre()
        if self._peak is None:
            self._peak = self.peak_finder()
        return float(self._peak.lat), float(self._peak.lon)

    def densest_centre(self) -> tuple[float, float]:
        """Centre (lat, lon in degrees) of the densest cell (ties: lowest H3 index)."""
        i = self.order()[0]
        return float(self.cells.lat[i]), float(self.cells.lon[i])


def area_to_truth(log_density: np.ndarray, area_km2: np.ndarray, truth_index: int | np.ndarray) -> float | np.ndarray:
    """Search area (km²) needed to reach cell ``truth_index`` going down the density ranking.

    Ties count half: denser cells + half the other cells of equal density + the truth cell. This is
    the one implementation of the convention; the app, the benchmark and refinement all call it.

    Args:
        log_density: (n,) densities of one distribution, or (S, n) of S distributions on the same cells
            (any monotone transform of the density will do: only the order and ties matter).
        area_km2: (n,) cell areas.
        truth_index: the truth's cell position, an int or (S,) ints.

    Returns:
        a float, or (S,) float64.
    """
    ld = np.asarray(log_density)
    area = np.asarray(area_km2, dtype=np.float64)
    if ld.ndim == 1:
        t = ld[truth_index]
        above = float(area[ld > t].sum())
        tied = float(area[ld == t].sum()) - float(area[truth_index])
        return above + 0.5 * tied + float(area[truth_index])
    return area_to_truth_batch(np.array(ld, dtype=ld.dtype if ld.dtype.kind == "f" else np.float64), area, np.asarray(truth_index))


def area_to_truth_batch(scratch: np.ndarray, area_km2: np.ndarray, truth_index: np.ndarray) -> np.ndarray:
    """:func:`area_to_truth` for S distributions at once, overwriting ``scratch`` (S, n) (no copy).

    Returns:
        (S,) float64 areas in km².
    """
    idx = np.asarray(truth_index, dtype=np.int64)
    area = np.asarray(area_km2, dtype=np.float64)
    half = (area / 2).astype(scratch.dtype)
    # sign(L - t) + 1 is 2 for denser cells and 1 for ties (the truth's own cell included), so one
    # matrix-vector product gives "denser + half of the ties"; the own cell's other half is added after.
    scratch -= scratch[np.arange(len(scratch)), idx][:, None]
    np.sign(scratch, out=scratch)
    scratch += 1
    return (scratch @ half).astype(np.float64) + area[idx] / 2
