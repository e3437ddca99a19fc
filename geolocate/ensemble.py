"""Ensembles of experts: weighted log-linear pooling (product of experts) or linear pooling.

Every expert's density is first normalised over the base grid and mixed with a uniform floor,

    p_i <- (1 - eps) p_i + eps / A_earth,

so no expert can zero the world. Then, with weights w_i >= 0,

    log-linear:  log q(x) = sum_i w_i log p_i(x) + const
    linear:      q(x) = sum_i w_i p_i(x) / sum_i w_i

and q is renormalised over the cells. Hard region constraints multiply q afterwards, outside weights
and floor. Weight changes only re-run the pooling (a matrix-vector product over the stored expert
fields), which is what keeps live sliders fast.

The same class serves the benchmark: experts may be *batch* experts holding one output per record
(``Expert.records``); :meth:`Ensemble.stack` evaluates a batch of records on the base grid at once and
:meth:`FieldStack.record` gives the ensemble of one record, whose :meth:`Ensemble.area_to_truth`
refines adaptively until the area to the truth has converged.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .distribution import CellDistribution, area_to_truth, area_to_truth_batch, logsumexp
from .experts.base import Expert
from .grid import (
    DEFAULT_RESOLUTION,
    EARTH_AREA_KM2,
    CellSet,
    cells_to_parents,
    children,
    global_grid,
    points_to_cells,
)

Progress = Callable[[float, str], None]

DEFAULT_FLOOR = 1e-3
"""Mixing weight of the uniform floor."""

METHODS = ("log-linear", "linear")


def floored(log_density: np.ndarray, floor: float) -> np.ndarray:
    """log((1 - floor) p + floor / A_earth) for a normalised log density per km²."""
    if floor <= 0:
        return log_density
    return np.logaddexp(np.log1p(-floor) + log_density, np.log(floor / EARTH_AREA_KM2))


def normalise_on_grid(raw: np.ndarray, area_km2: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Normalise raw log densities over a grid's cells and mix in the uniform floor.

    Args:
        raw: (..., n) unnormalised log densities per km² at the grid's n cells.
        area_km2: (n,) cell areas.
        floor: uniform mixing weight.

    Returns:
        (floored normalised log densities (..., n), log normalisers (...,)) — keep the normalisers to
        evaluate the same experts on refinement cells.
    """
    z = logsumexp(raw + np.log(area_km2), axis=-1)
    return floored(raw - z, floor), z[..., 0]


def weighted_sum(weights: np.ndarray, fields: np.ndarray) -> np.ndarray:
    """sum_i w_i fields[i] over the first axis, skipping zero weights, in a fixed order.

    Each output element gets the same sequence of operations whatever the array's shape, so a cell
    evaluated alone and the same cell evaluated in a batch pool to the same float (ties stay ties).
    """
    w = np.asarray(weights)
    active = np.flatnonzero(w)
    out = np.zeros(fields.shape[1:], dtype=fields.dtype)
    for i in active.tolist():
        out += fields[i] * fields.dtype.type(w[i])
    return out


def pool(log_densities: np.ndarray, weights: np.ndarray, method: str = "log-linear") -> np.ndarray:
    """Pool E expert log densities at n cells into one unnormalised log density.

    Args:
        log_densities: (E, n) normalised (and floored) log densities per km², or (E, S, n) for S records.
        weights: (E,) non-negative weights (a zero weight removes an expert).
        method: "log-linear" (weighted product) or "linear" (weighted mixture).

    Returns:
        (n,) or (S, n) log density per km² (up to a constant).
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or len(w) != len(log_densities):
        raise ValueError(f"expected {len(log_densities)} weights, got {w.shape}")
    if np.any(~np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and non-negative")
    if method == "log-linear":
        return weighted_sum(w, log_densities)
    if method == "linear":
        if not w.sum() > 0:
            raise ValueError("linear pooling needs at least one positive weight")
        active = w > 0
        lw = np.log(w[active] / w.sum()).reshape((-1,) + (1,) * (log_densities.ndim - 1))
        return logsumexp(lw + log_densities[active], axis=0)[0]
    raise ValueError(f"unknown pooling method {method!r}; choose from {METHODS}")


@dataclass
class ExpertFields:
    """Expert densities evaluated on one cell set: normalised over the base grid, floored.

    Attributes:
        cells: the cells (n).
        soft: (E_soft, n) floored normalised log densities of the weighted experts.
        hard: (n,) summed log densities of hard constraints (zeros when none).
    """

    cells: CellSet
    soft: np.ndarray
    hard: np.ndarray


@dataclass
class TruthArea:
    """Converged area to the truth of one record (see :meth:`Ensemble.area_to_truth`).

    Attributes:
        area_km2: area searched down the density ranking until the truth's cell is included (ties half).
        band_km2: area of the finest cells whose bounds straddle the truth's density: the area to
            truth of the limit field (no finest resolution) lies within this of ``area_km2``.
        cells: cells evaluated.
        capped: refinement stopped early at ``max_cells`` (then ``band_km2`` says how much is open).
    """

    area_km2: float
    band_km2: float
    cells: int
    capped: bool = False


FAST_CHILDREN_MAX_RES = 5
"""Children at resolutions up to this are sliced out of the cached global grids (no per-cell calls;
the res-5 grid holds 2 million cells, 64 MB, built once per machine)."""

_PARENT_INDEX: dict[int, np.ndarray] = {}
_GRIDS: dict[int, CellSet] = {}


def _grid(res: int) -> CellSet:
    """global_grid(res), held here too: refinement walks through more resolutions than its LRU keeps."""
    g = _GRIDS.get(res)
    if g is None:
        g = _GRIDS.setdefault(res, global_grid(res))
    return g


def _children(cells: np.ndarray, res: int) -> CellSet:
    """Children at ``res`` of cells one resolution coarser (vectorised through the global grid)."""
    cells = np.asarray(cells, dtype=np.uint64)
    if res > FAST_CHILDREN_MAX_RES or not len(cells):
        return children(cells, res)[0]
    grid = _grid(res)
    parents = _PARENT_INDEX.get(res)
    if parents is None:
        # The grid is sorted by index, so each parent's children are one contiguous run.
        parents = _PARENT_INDEX.setdefault(res, cells_to_parents(grid.cells, res - 1))
    start = np.searchsorted(parents, cells, side="left")
    stop = np.searchsorted(parents, cells, side="right")
    counts = stop - start
    idx = np.repeat(start - np.r_[0, np.cumsum(counts)[:-1]], counts) + np.arange(counts.sum())
    return grid.subset(idx)


def bench_memory_limit_bytes() -> int:
    """Largest per-record field stack :meth:`Ensemble.stack` allocates (``GEOLOCATE_BENCH_MAX_GIB``, default 8 GiB)."""
    return int(float(os.environ.get("GEOLOCATE_BENCH_MAX_GIB", "8")) * 2**30)


@dataclass
class Ensemble:
    """A set of experts evaluated once on the base grid, pooled on demand.

    Args:
        experts: the experts; names must be unique. Experts with ``hard = True`` are masks.
        floor: uniform mixing weight per expert.
        res: base grid resolution.
        row: the record evaluated when experts are batch experts (see :meth:`stack`); None for the
            single-photo experts of the app.
    """

    experts: Sequence[Expert]
    floor: float = DEFAULT_FLOOR
    res: int = DEFAULT_RESOLUTION
    row: int | None = None
    _log_norm: np.ndarray | None = field(default=None, repr=False)
    _base: ExpertFields | None = field(default=None, repr=False)
    _refine_cache: dict = field(default_factory=dict, repr=False)
    # Streamlit's fast reruns let two runs of one session use the same Ensemble at once; every lazy
    # update (base fields, refinement cache) happens under this lock so readers never see half of one.
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [e.name for e in self.experts]
        if len(set(names)) != len(names):
            raise ValueError(f"expert names must be unique, got {names}")
        if not 0 <= self.floor < 1:
            raise ValueError("floor must be in [0, 1)")

    @property
    def soft_experts(self) -> list[Expert]:
        """The weighted experts (not hard masks), in weight order."""
        return [e for e in self.experts if not e.hard]

    @property
    def hard_experts(self) -> list[Expert]:
        """The hard masks."""
        return [e for e in self.experts if e.hard]

    @property
    def names(self) -> list[str]:
        """Names of the weighted experts, in weight order."""
        return [e.name for e in self.soft_experts]

    @property
    def grid(self) -> CellSet:
        """The base grid."""
        return _grid(self.res)

    def weight_vector(self, weights: Mapping[str, float] | Sequence[float] | np.ndarray | None) -> np.ndarray:
        """Weights aligned with :attr:`names`; a mapping may omit experts (weight 1) and None means all 1."""
        if weights is None:
            return np.ones(len(self.names))
        if isinstance(weights, Mapping):
            unknown = set(weights) - set(self.names)
            if unknown:
                raise ValueError(f"weights for unknown experts {sorted(unknown)}; experts are {self.names}")
            return np.array([float(weights.get(n, 1.0)) for n in self.names])
        return np.asarray(weights, dtype=np.float64)

    def _raw(self, e: Expert, cells: CellSet) -> np.ndarray:
        """One expert's raw log density at ``cells`` for this ensemble's record, (n,)."""
        if self.row is None:
            if e.records not in (None, 1):
                raise ValueError(f"expert {e.name!r} holds {e.records} records: evaluate it through Ensemble.stack(rows)")
            return np.asarray(e.log_density(cells), dtype=np.float64)
        return e.batch_log_density(cells, np.array([self.row]))[0]

    def _raw_bounds(self, e: Expert, cells: CellSet) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = e.log_density_bounds(cells, np.array([self.row or 0]))
        return np.asarray(lo)[0], np.asarray(hi)[0]

    def _evaluate(self, cells: CellSet) -> ExpertFields:
        experts = self.soft_experts
        raw = np.stack([self._raw(e, cells) for e in experts]) if experts else np.zeros((0, len(cells)))
        if cells is self.grid and self._log_norm is None:
            soft, self._log_norm = normalise_on_grid(raw, cells.area_km2, self.floor)
        else:  # normalisers come from the base grid so refined cells share its scale
            soft = floored(raw - self._normalisers()[:, None], self.floor)
        hard = np.zeros(len(cells))
        for e in self.hard_experts:
            hard += self._raw(e, cells)
        return ExpertFields(cells, soft, hard)

    def _normalisers(self) -> np.ndarray:
        """Log normalisers of the soft experts on the base grid, (E,)."""
        self.base_fields()
        assert self._log_norm is not None
        return self._log_norm

    def base_fields(self) -> ExpertFields:
        """Expert fields on the base grid (computed once; thread-safe)."""
        with self._lock:
            if self._base is None:
                self._base = self._evaluate(self.grid)
            return self._base

    def fields_at(self, cells: CellSet) -> ExpertFields:
        """Expert fields on any cells, on the base grid's normalisation."""
        self.base_fields()
        return self._evaluate(cells)

    def distribution(self, weights: Mapping[str, float] | Sequence[float] | np.ndarray | None = None, method: str = "log-linear", refine_to: int | None = None, refine_cells: int = 600) -> CellDistribution:
        """The pooled distribution on the base grid, optionally refined.

        Args:
            weights: see :meth:`weight_vector`.
            method: "log-linear" or "linear".
            refine_to: finest resolution of refinement (e.g. 7), or None for the base grid only.
            refine_cells: how many of the densest cells are split at each level.
        """
        if refine_to is not None and not self.res <= refine_to <= 12:
            raise ValueError(f"refine_to must be an H3 resolution from {self.res} to 12, got {refine_to}")
        w = self.weight_vector(weights)
        base = self.base_fields()
        cells, u = base.cells, pool(base.soft, w, method) + base.hard
        if refine_to is not None and refine_to > self.res:
            cells, u = self._refine(cells, u, w, method, refine_to, refine_cells)
        return CellDistribution.from_log_density(cells, u)

    def expert_distribution(self, name: str, refine_to: int | None = None) -> CellDistribution:
        """One expert's own (floored) distribution, with hard constraints applied."""
        w = np.array([1.0 if n == name else 0.0 for n in self.names])
        if not w.any():
            raise KeyError(f"no expert named {name!r}; experts are {self.names}")
        return self.distribution(w, refine_to=refine_to)

    def _cached_fields(self, cells: CellSet) -> ExpertFields:
        """Fields at refinement cells, memoised per cell (sorted arrays, binary search).

        Slider moves re-use earlier evaluations instead of re-running every expert.
        """
        with self._lock:
            return self._cached_fields_locked(cells)

    def _cached_fields_locked(self, cells: CellSet) -> ExpertFields:
        ids = cells.cells
        cache = self._refine_cache
        known = np.zeros(len(ids), bool)
        if "cells" in cache:
            pos = np.clip(np.searchsorted(cache["cells"], ids), 0, len(cache["cells"]) - 1)
            known = cache["cells"][pos] == ids
        if (~known).any():
            new = cells.subset(~known)
            f = self.fields_at(new)
            merged = np.concatenate([cache.get("cells", np.zeros(0, np.uint64)), new.cells])
            order = np.argsort(merged, kind="stable")
            cache["cells"] = merged[order]
            cache["soft"] = np.concatenate([cache.get("soft", np.zeros((len(f.soft), 0))), f.soft], axis=1)[:, order]
            cache["hard"] = np.concatenate([cache.get("hard", np.zeros(0)), f.hard])[order]
            pos = np.searchsorted(cache["cells"], ids)
        return ExpertFields(cells, cache["soft"][:, pos], cache["hard"][pos])

    def _refine(self, cells: CellSet, u: np.ndarray, weights: np.ndarray, method: str, to_res: int, per_level: int) -> tuple[CellSet, np.ndarray]:
        """Split the densest cells level by level down to ``to_res``, re-evaluating every expert at the children.

        ``u`` is the pooled log density (per km², unnormalised) of ``cells``; at each level the
        ``per_level`` densest cells coarser than that level are replaced by their children (kernels at
        child centres; layers at the child's own or its ancestor's value).
        """
        for level in range(self.res + 1, to_res + 1):
            coarse = np.flatnonzero(cells.resolution < level)
            if not len(coarse):
                break
            top = coarse[np.lexsort((cells.cells[coarse], -u[coarse]))][:per_level]
            kids, _ = children(cells.cells[top], level)
            f = self._cached_fields(kids)
            keep = np.ones(len(cells), bool)
            keep[top] = False
            cells = CellSet.concat([cells.subset(keep), kids])
            u = np.concatenate([u[keep], pool(f.soft, weights, method) + f.hard])
        return cells, u

    def mode(self, weights: Mapping[str, float] | Sequence[float] | np.ndarray | None = None, method: str = "log-linear", refine_to: int | None = None, beam: int = 8) -> tuple[float, float]:
        """Centre (lat, lon in degrees) of the densest cell, searched down to ``refine_to``.

        Beam search: the ``beam`` densest base cells are split, the ``beam`` densest children kept, and
        so on to ``refine_to`` (cheap enough to run per image and configuration in benchmarks).
        """
        w = self.weight_vector(weights)
        base = self.base_fields()
        u = pool(base.soft, w, method) + base.hard
        k = min(beam, len(u))
        top = np.argpartition(-u, k - 1)[:k]
        cells, u = base.cells.subset(top), u[top]
        for level in range(self.res + 1, (refine_to or self.res) + 1):
            kids = _children(cells.cells, level)
            f = self._cached_fields(kids)
            ku = pool(f.soft, w, method) + f.hard
            k = min(beam, len(ku))
            top = np.argpartition(-ku, k - 1)[:k]
            cells, u = kids.subset(top), ku[top]
        i = int(np.lexsort((cells.cells, -u))[0])
        return float(cells.lat[i]), float(cells.lon[i])

    # -- converged area to a known point (benchmarks) -------------------------------------------------

    def _pooled_with_bounds(self, cells: CellSet, w: np.ndarray, method: str, bounds: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Pooled log density at ``cells`` (``bounds=False``), or its lower and upper bounds over finer cells.

        Only weighted experts are evaluated. Returns (u, u) or (lo, hi), each (n,).
        """
        active = np.flatnonzero(w > 0)
        soft = self.soft_experts
        norm = self._normalisers()[active][:, None]
        if not bounds:
            raw = np.stack([self._raw(soft[i], cells) for i in active]) if len(active) else np.zeros((0, len(cells)))
            u = pool(floored(raw - norm, self.floor), w[active], method)
            for e in self.hard_experts:
                u = u + self._raw(e, cells)
            return u, u
        b = [self._raw_bounds(soft[i], cells) for i in active]
        lo_raw = np.stack([x[0] for x in b]) if b else np.zeros((0, len(cells)))
        hi_raw = np.stack([x[1] for x in b]) if b else np.zeros((0, len(cells)))
        with np.errstate(invalid="ignore"):
            lo = pool(floored(lo_raw - norm, self.floor), w[active], method)
            hi = pool(floored(hi_raw - norm, self.floor), w[active], method)
        for e in self.hard_experts:
            hlo, hhi = self._raw_bounds(e, cells)
            lo, hi = lo + hlo, hi + hhi
        return lo, hi

    def area_to_truth(
        self,
        lat: float,
        lon: float,
        weights: Mapping[str, float] | Sequence[float] | np.ndarray | None = None,
        method: str = "log-linear",
        finest: int = 7,
        rel_tol: float = 0.01,
        max_cells: int = 400_000,
    ) -> TruthArea:
        """Area (km²) to search down the density ranking until the truth's cell at ``finest`` is included.

        Adaptive refinement from the 122 resolution-0 cells: a cell whose bounds (over the finer cells
        inside it, :meth:`Expert.log_density_bounds`) settle it as denser than the truth's cell counts
        fully, as tied (a constant field equal to the truth's density) half, as less dense not at all,
        as in :func:`~geolocate.distribution.area_to_truth`, which computes the result on the final
        support. Unsettled cells are split, level by level, until they reach ``finest`` or until their
        total area is at most ``rel_tol`` times the area found so far; then they are ranked by their
        centre value and their area is reported as ``band_km2``, a bound on how far the result can
        be from the limit of ever finer cells. The truth's own ancestors are always split down to
        ``finest``. So the area depends on no area threshold, only on ``finest`` (the truth's cell)
        and the stated tolerance.

        Args:
            lat: truth latitude, degrees.
            lon: truth longitude, degrees.
            weights: see :meth:`weight_vector`.
            method: "log-linear" or "linear".
            finest: finest H3 resolution (e.g. 7).
            rel_tol: stop splitting once the unsettled area is at most this fraction of the area found.
            max_cells: stop splitting (except the truth's own cell) past this many evaluated cells.
        """
        if not self.res <= finest <= 12:
            raise ValueError(f"finest must be an H3 resolution from {self.res} to 12, got {finest}")
        w = self.weight_vector(weights)
        truth = points_to_cells(np.array([lat]), np.array([lon]), finest)
        truth_cell = CellSet.from_cells(truth)
        ut = self._pooled_with_bounds(truth_cell, w, method, bounds=False)[0][0]
        found_min = float(truth_cell.area_km2[0])
        cells: CellSet = _grid(0)
        lo, hi = self._pooled_with_bounds(cells, w, method)
        keys, areas = [], []
        truth_pos, offset, band, evaluated, stopped, capped = -1, 0, 0.0, len(cells), False, False
        above_area = tied_area = 0.0
        level = 0
        while True:
            on_chain = cells.cells == cells_to_parents(truth, level)[0]
            above, below = lo > ut, hi < ut
            tied = (lo == ut) & (hi == ut)
            open_ = ~(above | below | tied) & ~on_chain
            above_area += float(cells.area_km2[above & ~on_chain].sum())
            tied_area += float(cells.area_km2[tied & ~on_chain].sum())
            final = level >= finest
            open_area = float(cells.area_km2[open_].sum())
            if not stopped and open_area <= rel_tol * (above_area + 0.5 * tied_area + found_min):
                stopped = True
            if capped:
                stopped = True
            split = on_chain & (not final)
            if not (final or stopped):
                split |= open_
            keep = ~split
            key = np.where(above, np.inf, np.where(below, -np.inf, ut))
            ranked = keep & open_
            if ranked.any():  # unsettled cells that stay whole are ranked by their centre value
                key[ranked] = self._pooled_with_bounds(cells.subset(ranked), w, method, bounds=False)[0]
            if final:
                key[on_chain] = ut  # the truth's own cell, bit-identical to ut
                hit = np.flatnonzero(on_chain[keep])
                if len(hit):
                    truth_pos = offset + int(hit[0])
            band += float(cells.area_km2[keep & open_].sum())
            keys.append(key[keep])
            areas.append(cells.area_km2[keep])
            offset += int(keep.sum())
            if not split.any():
                break
            kids = _children(cells.cells[split], level + 1)
            level += 1
            evaluated += len(kids)
            capped = evaluated > max_cells
            cells = kids
            lo, hi = self._pooled_with_bounds(cells, w, method)
        if truth_pos < 0:  # pragma: no cover - the truth's chain always reaches ``finest``
            raise RuntimeError("the truth's cell was lost during refinement")
        area = area_to_truth(np.concatenate(keys), np.concatenate(areas), truth_pos)
        return TruthArea(float(area), band, evaluated, capped)

    # -- batches of records (benchmarks) ---------------------------------------------------------------

    def stack(self, rows: np.ndarray, progress: Progress | None = None, chunk: int = 128, max_bytes: int | None = None) -> FieldStack:
        """Evaluate every expert for records ``rows`` on the base grid (the expensive, weight-free step).

        Shared experts (``records is None``) are evaluated once; batch experts per record, in float32.

        Raises:
            ValueError: if the per-record fields would exceed ``max_bytes`` (default
                :func:`bench_memory_limit_bytes`), naming the sizes, before allocating anything.
        """
        rows = np.asarray(rows, dtype=np.int64)
        if self.hard_experts:
            raise ValueError("a stack of records takes no hard masks")
        grid = self.grid
        soft = self.soft_experts
        per = [i for i, e in enumerate(soft) if e.records is not None]
        shared = [i for i, e in enumerate(soft) if e.records is None]
        limit = bench_memory_limit_bytes() if max_bytes is None else max_bytes
        need = len(per) * len(rows) * len(grid) * 4
        if need > limit:
            raise ValueError(
                f"the expert fields of {len(rows):,} records x {len(per)} per-record experts x {len(grid):,} cells "
                f"need {need / 2**30:.1f} GiB, over the limit of {limit / 2**30:.1f} GiB (GEOLOCATE_BENCH_MAX_GIB): "
                "use fewer records (--max-samples), fewer experts or a coarser --res"
            )
        progress = progress or (lambda f, m: None)
        norm = np.zeros((len(soft), len(rows)))
        shared_fields = np.zeros((len(shared), len(grid)))
        for j, i in enumerate(shared):
            shared_fields[j], z = normalise_on_grid(self._raw_shared(soft[i], grid), grid.area_km2, self.floor)
            norm[i] = z
        fields = np.empty((len(per), len(rows), len(grid)), dtype=np.float32)
        steps = max(1, len(per) * ((len(rows) + chunk - 1) // chunk))
        done = 0
        for j, i in enumerate(per):
            for a in range(0, len(rows), chunk):
                r = rows[a : a + chunk]
                fields[j, a : a + len(r)], norm[i, a : a + len(r)] = normalise_on_grid(soft[i].batch_log_density(grid, r), grid.area_km2, self.floor)
                done += 1
                progress(done / steps, f"expert fields: {soft[i].name}")
        return FieldStack(self, rows, np.array(shared, dtype=np.int64), shared_fields, np.array(per, dtype=np.int64), fields, norm)

    @staticmethod
    def _raw_shared(e: Expert, cells: CellSet) -> np.ndarray:
        return np.asarray(e.batch_log_density(cells, np.zeros(1, dtype=np.int64))[0], dtype=np.float64)


@dataclass
class FieldStack:
    """Floored, normalised base-grid fields of an ensemble's experts for a batch of records.

    Attributes:
        ensemble: the ensemble (its experts, floor and base resolution).
        rows: (S,) the records, positions in the batch experts.
        shared_index: positions (in :attr:`Ensemble.names`) of the shared experts.
        shared: (E_shared, n) float64 fields of the shared experts.
        per_index: positions of the per-record experts.
        per_record: (E_rec, S, n) float32 fields of the per-record experts.
        log_norm: (E, S) normalisers, to evaluate finer cells on the same scale.
    """

    ensemble: Ensemble
    rows: np.ndarray
    shared_index: np.ndarray
    shared: np.ndarray
    per_index: np.ndarray
    per_record: np.ndarray
    log_norm: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    def pooled(self, weights: np.ndarray, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Log-linear pooled log densities of records ``start:stop`` on the base grid, float32 (S', n)."""
        w = np.asarray(weights, dtype=np.float64)
        stop = len(self.rows) if stop is None else stop
        prior = weighted_sum(w[self.shared_index], self.shared).astype(np.float32)
        wp = w[self.per_index].astype(np.float32)
        active = np.flatnonzero(wp)
        if len(active):  # one BLAS call: this is the inner loop of weight fitting
            out = np.tensordot(wp[active], self.per_record[active, start:stop], axes=1)
            out += prior[None, :]
        else:
            out = np.repeat(prior[None, :], stop - start, axis=0)
        return out

    def base_areas(self, weights: np.ndarray, truth_cell: np.ndarray, chunk: int = 256) -> np.ndarray:
        """Area to truth (km², ties half) on the base grid of every record, log-linear pooling.

        Args:
            weights: (E,) in :attr:`Ensemble.names` order.
            truth_cell: (S,) base-grid position of each record's truth.
            chunk: records pooled at a time (bounds the float32 scratch: chunk x n cells).
        """
        area = self.ensemble.grid.area_km2
        out = np.empty(len(self.rows))
        for a in range(0, len(self.rows), chunk):
            b = min(len(self.rows), a + chunk)
            out[a:b] = area_to_truth_batch(self.pooled(weights, a, b), area, truth_cell[a:b])
        return out

    def record(self, k: int) -> Ensemble:
        """The ensemble of record ``rows[k]``, its base fields taken from the stack."""
        ens = self.ensemble
        soft = np.empty((len(ens.names), self.shared.shape[1]))
        soft[self.shared_index] = self.shared
        soft[self.per_index] = self.per_record[:, k]
        grid = ens.grid
        return Ensemble(ens.experts, ens.floor, ens.res, int(self.rows[k]), self.log_norm[:, k].copy(), ExpertFields(grid, soft, np.zeros(len(grid))))
