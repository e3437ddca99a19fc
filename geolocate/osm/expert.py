"""The map expert: where a query's combination of OpenStreetMap features exists.

Let C be the area the imported extracts cover, M ⊂ C the matching places (the res-10 cells of the
anchor points that satisfy the query, grown by ``ring`` rings and kept inside C) and m the miss rate
(the chance that the photo is in C at a place OSM does not show as matching: OSM is incomplete). The
expert's density, relative to 1 outside C, is

* ``(1 - m) |C| / |M|`` in M,
* ``m |C| / (|C| - |M|)`` in the rest of C,
* ``1`` outside every extract (no data: unknown, never ruled out),

so the mass of C is its area's share, as under a uniform density, and within C a fraction 1 - m of it
lies on the matches: the likelihood ratio of a match over the rest of C is
``(1 - m) (|C| - |M|) / (m |M|)``. With no match anywhere the soft expert is uniform; a hard one
(``hard=True``, miss rate 1e-12, a mask) then rules the covered area out.

A cell of any resolution gets the area-weighted mean of these densities over its parts (the
overlaps with M and C are exact sums of H3 cell areas), so a res-3 cell holding one matching res-10
cell is only slightly denser than its neighbours, and refinement (``Ensemble.distribution(...,
refine_to=10)``) finds the match as a 0.015 km² region. Cells finer than res 10 take their res-10
ancestor's value.
"""

from __future__ import annotations

import numpy as np
from h3.api import numpy_int as h3n

from ..experts.base import Expert, ExpertKind
from ..grid import CellSet, cell_resolutions, cells_to_parents, points_to_cells
from .importer import MATCH_RES
from .query import Query, QueryResult, evaluate, parse_query
from .store import CellArea, FeatureStore

DEFAULT_MISS_RATE = 0.1
"""Default chance that the photo's place is in the covered area but not a match in OSM."""

HARD_MISS_RATE = 1e-12
"""Miss rate of a hard expert (as the hard region expert's leak)."""

DEFAULT_RING = 1
"""Rings of res-10 cells grown around the matching points (the camera stands near what it sees:
one ring makes a match about 7 cells, 0.1 km², 200-300 m across)."""


def expert_name(query: Query | str) -> str:
    """Name (and weight key) of the expert of a query."""
    text = query.text() if isinstance(query, Query) else str(query)
    return f"osm: {text}"


class OsmExpert(Expert):
    """Density of a query's matches over the covered area (uniform outside every extract).

    Args:
        store: the feature store.
        query: the query (text or parsed).
        miss_rate: chance of being in the covered area away from every match, 0 < m < 1.
        hard: a mask (no weight, no floor) with miss rate :data:`HARD_MISS_RATE`.
        ring: rings of res-10 cells grown around matching points.
        name: expert name (default :func:`expert_name`).

    Raises:
        QueryError: the query cannot be read or asks for a tag no import kept.
        ValueError: the miss rate is not in (0, 1).
    """

    kind = ExpertKind.MAP

    def __init__(self, store: FeatureStore, query: Query | str, miss_rate: float = DEFAULT_MISS_RATE, hard: bool = False, ring: int = DEFAULT_RING, name: str | None = None):
        if not 0.0 < float(miss_rate) < 1.0:
            raise ValueError(f"the miss rate must be between 0 and 1 (exclusive), got {miss_rate}")
        self.query = parse_query(query) if isinstance(query, str) else query
        self.store = store
        self.hard = bool(hard)
        self.miss_rate = HARD_MISS_RATE if hard else float(miss_rate)
        self.name = name or expert_name(self.query)
        self.result: QueryResult = evaluate(self.query, store)
        cells = self.result.cells
        if ring > 0 and len(cells):
            grown = np.unique(np.concatenate([np.asarray(h3n.grid_disk(int(c), ring), dtype=np.uint64) for c in cells.tolist()]))
            cells = grown
        cells = cells[store.coverage.contains(cells)] if len(cells) else cells
        self.matches = CellArea(cells)
        self.covered_km2 = store.coverage.area_km2
        self.match_km2 = self.matches.area_km2
        c, mk, m = self.covered_km2, self.match_km2, self.miss_rate
        if mk > 0 and c > mk:
            self.d_match, self.d_rest = (1 - m) * c / mk, m * c / (c - mk)
        elif mk > 0:  # the matches fill the covered area
            self.d_match = self.d_rest = 1.0
        else:
            self.d_match, self.d_rest = 1.0, (HARD_MISS_RATE if hard else 1.0)

    def _parts(self, cells: CellSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Area of each cell in M, in the rest of C, outside C (km²); a point (area 0) is a unit weight on its own res-10 cell."""
        a = np.asarray(cells.area_km2, dtype=np.float64).copy()
        ids = np.asarray(cells.cells, dtype=np.uint64).copy()
        point = ~(a > 0)
        if point.any():  # points (Ensemble.point_cells, area samples): the pure density where they lie
            own = cells_to_parents(ids[point], MATCH_RES)
            coarse = cell_resolutions(own) < MATCH_RES
            if coarse.any():
                own[coarse] = points_to_cells(np.asarray(cells.lat)[point][coarse], np.asarray(cells.lon)[point][coarse], MATCH_RES)
            ids[point], a[point] = own, 1.0
        in_c = np.where(point, self.store.coverage.contains(ids).astype(np.float64), 0.0)
        if (~point).any():
            in_c[~point] = self.store.coverage.overlap_km2(ids[~point], a[~point])
        if len(self.matches):
            in_m = np.where(point, self.matches.contains(ids).astype(np.float64), 0.0)
            if (~point).any():
                in_m[~point] = self.matches.overlap_km2(ids[~point], a[~point])
            in_m = np.minimum(in_m, in_c)
        else:
            in_m = np.zeros(len(a))
        return in_m, in_c - in_m, np.maximum(a - in_c, 0.0)

    def log_density(self, cells: CellSet) -> np.ndarray:
        """Log of the area-weighted mean density over each cell (see the module docstring), shape (n,).

        A cell of zero area is a point (``Ensemble.point_cells``): the density where it lies.
        """
        in_m, rest, out = self._parts(cells)
        total = in_m + rest + out
        mean = (in_m * self.d_match + rest * self.d_rest + out) / np.where(total > 0, total, 1.0)
        return np.log(np.maximum(mean, 1e-300))

    def log_density_bounds(self, cells: CellSet, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Exact bounds over finer cells: the least and greatest of the pure densities a cell contains."""
        in_m, rest, out = self._parts(cells)
        tol = 1e-9 * (in_m + rest + out)
        vals = np.stack([np.where(in_m > tol, self.d_match, np.nan), np.where(rest > tol, self.d_rest, np.nan), np.where(out > tol, 1.0, np.nan)])
        allnan = np.isnan(vals).all(axis=0)
        vals[:, allnan] = 1.0
        lo, hi = np.log(np.nanmin(vals, axis=0)), np.log(np.nanmax(vals, axis=0))
        if rows is not None:
            return lo[None, :], hi[None, :]
        return lo, hi

    def describe(self) -> str:
        """One line: the query, matches, and the covered area."""
        mode = "hard" if self.hard else f"miss rate {self.miss_rate:g}"
        return f"map: {self.query.text()} — {len(self.result)} places in {self.covered_km2:,.1f} km² covered ({mode})"


def osm_expert(query: str, store: FeatureStore, **kw: object) -> OsmExpert:
    """An :class:`OsmExpert` for query text (keyword arguments as the class)."""
    return OsmExpert(store, query, **kw)  # type: ignore[arg-type]


__all__ = ["DEFAULT_MISS_RATE", "DEFAULT_RING", "HARD_MISS_RATE", "OsmExpert", "expert_name", "osm_expert"]
