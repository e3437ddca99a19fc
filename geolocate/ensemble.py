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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .distribution import CellDistribution, area_to_truth_batch, logsumexp
from .experts.base import Expert
from .experts.point import PointExpert, PointPredictions, kernel_log_density, kernel_log_density_bounds
from .grid import (
    DEFAULT_RESOLUTION,
    EARTH_AREA_KM2,
    EARTH_RADIUS_KM,
    CellSet,
    child_cells,
    global_grid,
    latlon_to_xyz,
    points_to_cells,
)
from .metrics import haversine_km

Progress = Callable[[float, str], None]

MAX_SAMPLE_POINTS = 65_536
"""Most sample points one area to truth reads for its unsettled cells (an even subset of them beyond)."""
SAMPLE_POINTS_PER_CHUNK = 131_072
"""Sample points evaluated at once when measuring how much of a cell is denser than the truth."""

DEFAULT_FLOOR = 1e-3
"""Mixing weight of the uniform floor."""

METHODS = ("log-linear", "linear")


def floored(log_density: np.ndarray, floor: float) -> np.ndarray:
    """log((1 - floor) p + floor / A_earth) for a normalised log density per km² (float64)."""
    if floor <= 0:
        return log_density
    ld = np.asarray(log_density, dtype=np.float64)
    # In the linear domain: one exp and one log per value (np.logaddexp costs four times as much).
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.log(np.exp(ld) * (1.0 - floor) + floor / EARTH_AREA_KM2)
    huge = ld > 700.0  # exp overflows; the floor is negligible there
    if np.any(huge):
        out = np.where(huge, np.log1p(-floor) + ld, out)
    return out


NORMALISE_CHUNK_ELEMENTS = 1 << 19
"""Values normalised at once by :func:`normalise_on_grid` (a few MB: the passes stay in cache)."""


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
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim != 2:
        z = logsumexp(raw + np.log(area_km2), axis=-1)
        return floored(raw - z, floor), z[..., 0]
    out = np.empty_like(raw)
    zs = np.empty(len(raw))
    log_area = np.log(area_km2)
    step = max(1, NORMALISE_CHUNK_ELEMENTS // max(raw.shape[1], 1))
    for a in range(0, len(raw), step):  # row chunks keep every pass in cache
        r = raw[a : a + step]
        z = logsumexp(r + log_area, axis=-1)
        out[a : a + step] = floored(r - z, floor)
        zs[a : a + step] = z[:, 0]
    return out, zs


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
    """Area to the truth of one record (see :meth:`Ensemble.area_to_truth`).

    Attributes:
        area_km2: area where the continuous density exceeds the truth's (ties half).
        band_km2: area of the cells still unsettled when refinement stopped (their share denser than
            the truth is estimated from points inside them): the error is at most this.
        cells: cells evaluated.
        capped: refinement stopped early at ``max_cells`` (then ``band_km2`` says how much is open).
    """

    area_km2: float
    band_km2: float
    cells: int
    capped: bool = False


@dataclass(frozen=True)
class Peak:
    """The mode of an ensemble's continuous density (see :meth:`Ensemble.peak`).

    Attributes:
        lat: latitude, degrees.
        lon: longitude, degrees.
        log_density: pooled log density per km² there (unnormalised, the scale of the ensemble's cells).
        candidates: points the local search could start from (cell centres and kernel centres).
    """

    lat: float
    lon: float
    log_density: float
    candidates: int


AREA_FINEST = 10
"""Default finest resolution of :meth:`Ensemble.area_to_truth` (0.015 km² cells; areas below 1 km² do
not enter the AUC, so the result no longer depends on it: docs/benchmark.md, convergence)."""

MAX_BAND_SHARE = 0.2
"""Refinement also goes on while the unsettled cells hold more than this share of the area found."""

SUBCELL_SAMPLES = 16
"""Points per unsettled cell for its share denser than the truth (:meth:`Ensemble.area_to_truth`)."""

POLISH_STOP_KM = 2e-3
"""The mode's local search stops once its lattice spacing is below this (2 m)."""

POLISH_SHRINK = 5.0
"""The mode's lattice spacing shrinks by this when no lattice point is denser (4 rings cover 4/5 of a step)."""

SAMPLE_OWN_CELL_RES = 7
"""Sample points inside unsettled cells this fine read the layers at that cell (every shipped layer is
constant inside a res-7 cell); inside coarser cells each point reads its own finest cell."""

POINT_RES = 15
"""Points are looked up in layers through their cell at this (the finest) H3 resolution."""


def _hex_lattice(rings: int) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (x east, y north; unit spacing) of a hexagonal lattice of ``rings`` rings, centre first."""
    qq, rr = np.meshgrid(np.arange(-rings, rings + 1), np.arange(-rings, rings + 1))
    q, r = qq.ravel(), rr.ravel()
    keep = np.maximum(np.maximum(np.abs(q), np.abs(r)), np.abs(q + r)) <= rings
    q, r = q[keep], r[keep]
    x, y = q + 0.5 * r, r * np.sqrt(3.0) / 2
    order = np.lexsort((np.arctan2(y, x), np.hypot(x, y)))
    return x[order], y[order]


_HEX_LATTICE = _hex_lattice(4)


def _offset_xyz(xyz: np.ndarray, dx_km: np.ndarray, dy_km: np.ndarray) -> np.ndarray:
    """Unit vectors of points ``dx_km`` east and ``dy_km`` north (along the great circle) of ``xyz``, (m, 3)."""
    xyz = np.asarray(xyz, dtype=np.float64)
    east = np.stack([-xyz[:, 1], xyz[:, 0], np.zeros(len(xyz))], axis=1)
    norm = np.linalg.norm(east, axis=1, keepdims=True)
    polar = norm[:, 0] < 1e-12
    east = np.where(polar[:, None], np.array([[0.0, 1.0, 0.0]]), east / np.where(polar[:, None], 1.0, norm))
    north = np.cross(xyz, east)
    d = np.hypot(dx_km, dy_km) / EARTH_RADIUS_KM
    with np.errstate(invalid="ignore", divide="ignore"):
        ux, uy = np.where(d > 0, dx_km / EARTH_RADIUS_KM / d, 0.0), np.where(d > 0, dy_km / EARTH_RADIUS_KM / d, 0.0)
    direction = ux[:, None] * east + uy[:, None] * north
    return np.cos(d)[:, None] * xyz + np.sin(d)[:, None] * direction


def offset_points(lat: float, lon: float, dx_km: np.ndarray, dy_km: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points ``dx_km`` east and ``dy_km`` north of (lat, lon) along great circles, as (lat, lon) degrees."""
    dx, dy = np.asarray(dx_km, dtype=np.float64), np.asarray(dy_km, dtype=np.float64)
    xyz = _offset_xyz(np.repeat(latlon_to_xyz(np.array([lat]), np.array([lon])), len(dx), axis=0), dx, dy)
    return np.degrees(np.arcsin(np.clip(xyz[:, 2], -1.0, 1.0))), np.degrees(np.arctan2(xyz[:, 1], xyz[:, 0]))


def point_cells(lat: np.ndarray, lon: np.ndarray) -> CellSet:
    """Points as cells of zero area, to evaluate experts' *continuous* densities.

    Kernels read the exact coordinates (no widening: area 0), layers the point's own cell at
    :data:`POINT_RES`. Longitudes are wrapped into [-180, 180].
    """
    lat = np.clip(np.asarray(lat, dtype=np.float64).ravel(), -90.0, 90.0)
    lon = (np.asarray(lon, dtype=np.float64).ravel() + 180.0) % 360.0 - 180.0
    return CellSet(points_to_cells(lat, lon, POINT_RES), lat, lon, np.zeros(len(lat)))


_DENSITY_METHODS = ("log_density", "batch_log_density", "log_density_bounds", "record_log_density", "record_log_density_bounds")


def _own_methods(t: type, cls: type) -> bool:
    """``t`` (a subclass of ``cls``) keeps ``cls``'s density methods, so ``cls``'s kernels describe it."""
    return all(getattr(t, m, None) is getattr(cls, m, None) for m in _DENSITY_METHODS)


def worker_threads() -> int:
    """Threads for the benchmark's numpy-heavy loops (``GEOLOCATE_THREADS``, default: the CPUs, at most 2)."""
    return max(1, int(os.environ.get("GEOLOCATE_THREADS", min(2, os.cpu_count() or 1))))


def map_threads(fn: Callable, items: Sequence) -> Iterator:
    """``map(fn, items)`` in :func:`worker_threads` threads, results in order.

    numpy releases the GIL in its loops, so chunks of array work overlap; one thread is plain ``map``.
    """
    n = worker_threads()
    if n <= 1 or len(items) <= 1:
        yield from map(fn, items)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(n) as ex:
        yield from ex.map(fn, items)


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
    _kernels: list | None = field(default=None, repr=False)
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
        return global_grid(self.res)

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

    def _kernel_specs(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray] | None]:
        """Per soft expert: (centre xyz (3,), scales (K,), weights (K,)) of a plain kernel mixture, else None.

        Plain: a PointExpert or PointPredictions whose methods are not overridden, present for this
        record. Kernel experts sharing a scale ladder are evaluated in one call (values, bounds, points).
        """
        if self._kernels is None:
            specs: list[tuple[np.ndarray, np.ndarray, np.ndarray] | None] = []
            for e in self.soft_experts:
                spec = None
                t = type(e)
                if isinstance(e, PointExpert) and _own_methods(t, PointExpert) and e.records is None:
                    spec = (latlon_to_xyz(np.array([e.lat]), np.array([e.lon]))[0], e.scales_km, e.weights)
                elif isinstance(e, PointPredictions) and self.row is not None and _own_methods(t, PointPredictions) and bool(e.present[self.row]):
                    spec = (e.centres[self.row], e.scales_km, e.weights)
                specs.append(spec)
            self._kernels = specs
        return self._kernels

    def _kernel_groups(self, active: np.ndarray) -> tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]], np.ndarray]:
        """Active kernel experts grouped by scale ladder and active scales, and the experts left over.

        Returns:
            ([(positions, centres (m, 3), scales (K,), weights (m, K))], positions evaluated one by one).
        """
        specs = self._kernel_specs()
        groups: dict = {}
        rest = []
        for i in active.tolist():
            sp = specs[i]
            if sp is None:
                rest.append(i)
                continue
            key = (tuple(np.asarray(sp[1]).tolist()), tuple((np.asarray(sp[2]) > 0).tolist()))
            groups.setdefault(key, []).append(i)
        out = []
        for idx in groups.values():
            out.append((np.array(idx), np.stack([specs[i][0] for i in idx]), np.asarray(specs[idx[0]][1]), np.stack([specs[i][2] for i in idx])))
        return out, np.array(rest, dtype=np.int64)

    def _soft_raw(self, cells: CellSet, active: np.ndarray) -> np.ndarray:
        """Raw log densities of the soft experts ``active`` at ``cells``, (len(active), n)."""
        out = np.empty((len(active), len(cells)))
        groups, rest = self._kernel_groups(active)
        pos = {int(i): j for j, i in enumerate(active.tolist())}
        soft = self.soft_experts
        for idx, centres, scales, weights in groups:
            vals = kernel_log_density(cells.xyz, cells.area_km2, centres, scales, weights)
            for j, i in enumerate(idx.tolist()):
                out[pos[i]] = vals[j]
        for i in rest.tolist():
            out[pos[i]] = self._raw(soft[i], cells)
        return out

    def _soft_raw_bounds(self, cells: CellSet, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bounds over finer cells of the soft experts ``active`` at ``cells``, (len(active), n) each."""
        lo = np.empty((len(active), len(cells)))
        hi = np.empty_like(lo)
        groups, rest = self._kernel_groups(active)
        pos = {int(i): j for j, i in enumerate(active.tolist())}
        soft = self.soft_experts
        for idx, centres, scales, weights in groups:
            glo, ghi = kernel_log_density_bounds(cells.xyz, cells.area_km2, centres, scales, weights)
            for j, i in enumerate(idx.tolist()):
                lo[pos[i]], hi[pos[i]] = glo[j], ghi[j]
        for i in rest.tolist():
            lo[pos[i]], hi[pos[i]] = self._raw_bounds(soft[i], cells)
        return lo, hi

    def _evaluate(self, cells: CellSet) -> ExpertFields:
        experts = self.soft_experts
        raw = self._soft_raw(cells, np.arange(len(experts))) if experts else np.zeros((0, len(cells)))
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

        Its :meth:`~geolocate.distribution.CellDistribution.mode` is the continuous mode
        (:meth:`peak`, computed on first use), not the centre of the densest cell.

        Args:
            weights: see :meth:`weight_vector`.
            method: "log-linear" or "linear".
            refine_to: finest resolution of refinement (e.g. 7, up to 12), or None for the base grid only.
            refine_cells: how many of the densest cells coarser than ``refine_to`` are split, one
                resolution down, at each of the ``refine_to - res`` steps.
        """
        if refine_to is not None and not self.res <= refine_to <= 12:
            raise ValueError(f"refine_to must be an H3 resolution from {self.res} to 12, got {refine_to}")
        w = self.weight_vector(weights)
        base = self.base_fields()
        cells, u = base.cells, pool(base.soft, w, method) + base.hard
        if refine_to is not None and refine_to > self.res:
            cells, u = self._refine(cells, u, w, method, refine_to, refine_cells)
        dist = CellDistribution.from_log_density(cells, u)
        dist.peak_finder = lambda: self.peak(w, method, refine_to)
        return dist

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
        """Split the densest cells one resolution at a time down to ``to_res``, re-evaluating every expert at the children.

        ``u`` is the pooled log density (per km², unnormalised) of ``cells``; at each of the
        ``to_res - res`` steps the ``per_level`` densest cells coarser than ``to_res`` are replaced by
        their children one resolution finer (kernels at child centres; layers at the child's own or
        its ancestor's value). A cell never jumps several resolutions at once (at res 10 that would
        be 7^7 children of a base cell), so the support stays a few thousand cells.
        """
        for _ in range(self.res + 1, to_res + 1):
            coarse = np.flatnonzero(cells.resolution < to_res)
            if not len(coarse):
                break
            top = coarse[np.lexsort((cells.cells[coarse], -u[coarse]))][:per_level]
            parents = cells.subset(top)
            parts = [child_cells(parents.cells[parents.resolution == r], int(r) + 1) for r in np.unique(parents.resolution).tolist()]
            kids = CellSet.concat(parts) if len(parts) > 1 else parts[0]
            f = self._cached_fields(kids)
            keep = np.ones(len(cells), bool)
            keep[top] = False
            cells = CellSet.concat([cells.subset(keep), kids])
            u = np.concatenate([u[keep], pool(f.soft, weights, method) + f.hard])
        return cells, u

    # -- the continuous density: values at points, mode ----------------------------------------------

    def point_density(self, lat: np.ndarray, lon: np.ndarray, weights: Mapping[str, float] | Sequence[float] | np.ndarray | None = None, method: str = "log-linear") -> np.ndarray:
        """Pooled log density per km² (unnormalised, on the scale of :meth:`distribution`'s cells) at points.

        The *continuous* density: kernels at the exact point (no widening by a cell's spread), layers
        at the point's own cell (finest H3 resolution).

        Args:
            lat: latitudes, degrees, (m,).
            lon: longitudes, degrees, (m,).
            weights: see :meth:`weight_vector`.
            method: "log-linear" or "linear".

        Returns:
            (m,) float64.
        """
        return self._pooled_at(point_cells(lat, lon), self.weight_vector(weights), method)

    def _pooled_at(self, cells: CellSet, w: np.ndarray, method: str) -> np.ndarray:
        """Pooled log density at ``cells`` (their centre values), only the weighted experts evaluated."""
        active = np.flatnonzero(w > 0)
        raw = self._soft_raw(cells, active) if len(active) else np.zeros((0, len(cells)))
        u = pool(floored(raw - self._normalisers()[active][:, None], self.floor), w[active], method)
        for e in self.hard_experts:
            u = u + self._raw(e, cells)
        return u

    def _candidates(self, w: np.ndarray) -> np.ndarray:
        """Kernel centres (lat, lon) of the weighted experts that expose them (``mode_candidates``), (m, 2)."""
        out = []
        for i, e in enumerate(self.soft_experts):
            fn = getattr(e, "mode_candidates", None)
            if w[i] <= 0 or fn is None:
                continue
            c = np.asarray(fn(None if self.row is None else np.array([self.row])), dtype=np.float64)
            out.append(c.reshape(-1, 2))
        c = np.concatenate(out) if out else np.zeros((0, 2))
        return c[np.isfinite(c).all(axis=1)]

    def peak(self, weights: Mapping[str, float] | Sequence[float] | np.ndarray | None = None, method: str = "log-linear", refine_to: int | None = None, beam: int = 8, starts: int = 2) -> Peak:
        """The mode of the continuous density: where to look first, and its coordinates.

        1. Beam search over cells: the ``beam`` densest base cells are split, the ``beam`` densest
           children kept, and so on down to ``refine_to`` (default: the base resolution).
        2. Candidates: the centres of those cells and every weighted expert's kernel centres
           (``mode_candidates``: a point expert's prediction, a model's answers).
        3. Local search from the ``starts`` densest candidates: a hexagonal lattice of 61 points
           around the current best, moving to a strictly denser point and shrinking the spacing by 5
           from half the searched cells' width to 2 m (a derivative-free optimiser; it
           never leaves a candidate that no nearby point beats, so a point expert's mode is exactly
           its prediction).

        Returns:
            the :class:`Peak` (lat, lon in degrees; pooled log density per km² there).
        """
        w = self.weight_vector(weights)
        base = self.base_fields()
        u = pool(base.soft, w, method) + base.hard
        k = min(beam, len(u))
        top = np.argpartition(-u, k - 1)[:k]
        cells, u = base.cells.subset(top), u[top]
        for level in range(self.res + 1, (refine_to or self.res) + 1):
            kids = child_cells(cells.cells, level)
            f = self._cached_fields(kids)
            ku = pool(f.soft, w, method) + f.hard
            k = min(beam, len(ku))
            top = np.argpartition(-ku, k - 1)[:k]
            cells, u = kids.subset(top), ku[top]
        order = np.lexsort((cells.cells, -u))
        cand = np.concatenate([np.stack([cells.lat[order], cells.lon[order]], axis=1), self._candidates(w)])
        vals = self._pooled_at(point_cells(cand[:, 0], cand[:, 1]), w, method)
        best = np.argsort(-vals, kind="stable")
        step0 = 0.5 * float(np.sqrt(np.max(cells.area_km2)))
        # Distinct starts (candidates closer than a metre are one), densest first.
        picked: list[int] = []
        for i in best.tolist():
            if len(picked) == starts:
                break
            if all(float(haversine_km(cand[i, 0], cand[i, 1], cand[j, 0], cand[j, 1])) > POLISH_STOP_KM for j in picked):
                picked.append(i)
        lat, lon, val = self._polish(cand[picked, 0], cand[picked, 1], vals[picked], w, method, step0)
        j = int(np.argmax(val))  # first of equals: the densest candidate's
        return Peak(float(lat[j]), float(lon[j]), float(val[j]), len(cand))

    def _polish(self, lat: np.ndarray, lon: np.ndarray, val: np.ndarray, w: np.ndarray, method: str, step_km: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Lattice search (see :meth:`peak`) from several points at once; returns their (lat, lon, log density)."""
        lat, lon, val = lat.astype(np.float64), lon.astype(np.float64), val.astype(np.float64)
        step = np.full(len(lat), step_km)
        dx, dy = _HEX_LATTICE
        m = len(dx)
        while True:
            go = np.flatnonzero(step > POLISH_STOP_KM)
            if not len(go):
                return lat, lon, val
            xyz = _offset_xyz(np.repeat(latlon_to_xyz(lat[go], lon[go]), m, axis=0), (step[go, None] * dx).ravel(), (step[go, None] * dy).ravel())
            plat = np.degrees(np.arcsin(np.clip(xyz[:, 2], -1.0, 1.0)))
            plon = np.degrees(np.arctan2(xyz[:, 1], xyz[:, 0]))
            v = self._pooled_at(point_cells(plat, plon), w, method).reshape(len(go), m)
            j = np.argmax(v, axis=1)
            vj = v[np.arange(len(go)), j]
            better = vj > val[go]
            moved, stay = go[better], go[~better]
            k = np.arange(len(go))[better] * m + j[better]
            lat[moved], lon[moved], val[moved] = plat[k], plon[k], vj[better]
            step[stay] /= POLISH_SHRINK

    def mode(self, weights: Mapping[str, float] | Sequence[float] | np.ndarray | None = None, method: str = "log-linear", refine_to: int | None = None, beam: int = 8) -> tuple[float, float]:
        """(lat, lon) in degrees of the continuous mode (:meth:`peak`)."""
        p = self.peak(weights, method, refine_to, beam)
        return p.lat, p.lon

    # -- converged area to a known point (benchmarks) -------------------------------------------------

    def _pooled_bounds(self, cells: CellSet, w: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds of the pooled log density over everything inside each cell, (n,) each."""
        active = np.flatnonzero(w > 0)
        norm = self._normalisers()[active][:, None]
        if len(active):
            lo_raw, hi_raw = self._soft_raw_bounds(cells, active)
        else:
            lo_raw = hi_raw = np.zeros((0, len(cells)))
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
        finest: int = AREA_FINEST,
        rel_tol: float = 0.01,
        max_cells: int = 400_000,
        samples: int = SUBCELL_SAMPLES,
    ) -> TruthArea:
        """Area (km²) denser than the truth: the super-level set of the continuous density through the truth.

        ``area = |{x : q(x) > q(truth)}| + 1/2 |{x : q(x) = q(truth)}|`` for the pooled density q at
        points (kernels unwidened; layers piecewise constant), computed by adaptive refinement from
        the 122 resolution-0 cells: a cell whose bounds (over everything inside it,
        :meth:`Expert.log_density_bounds`) settle it as denser than the truth counts fully, as tied (a
        constant field equal to the truth's density, e.g. a prior's plateau) half, as less dense not
        at all. Unsettled cells are split, level by level, until they reach ``finest`` or until the
        error of their estimated shares is at most ``rel_tol`` times the area found; each cell still
        unsettled then counts the fraction of its area denser than the truth, estimated from
        ``samples`` points spread evenly over a disc of the cell's area around its centre (layers
        read at the cell from res 7 on, at each point's own cell in coarser cells). The error estimate is sqrt(sum of their squared areas) / (2 sqrt(samples))
        (each share off by at most half its cell, sampling errors independent between cells); their
        total area is ``band_km2``, a hard bound on the error, kept under :data:`MAX_BAND_SHARE` of
        the area found. The truth's own cell gets no special
        treatment, so there is no floor at its area: a truth at the mode has area near 0.

        Args:
            lat: truth latitude, degrees.
            lon: truth longitude, degrees.
            weights: see :meth:`weight_vector`.
            method: "log-linear" or "linear".
            finest: finest H3 resolution of the refinement (default 10: cells of 0.015 km²).
            rel_tol: stop splitting once the unsettled cells' estimated error is at most this fraction of
                the area found (0: refine every unsettled cell to ``finest``).
            max_cells: stop splitting past this many evaluated cells (then ``capped``).
            samples: points per unsettled cell for its fraction denser than the truth (1: its centre).
        """
        if not self.res <= finest <= 15:
            raise ValueError(f"finest must be an H3 resolution from {self.res} to 15, got {finest}")
        w = self.weight_vector(weights)
        ut = float(self._pooled_at(point_cells(np.array([lat]), np.array([lon])), w, method)[0])
        cells: CellSet = global_grid(0)
        lo, hi = self._pooled_bounds(cells, w, method)
        above_area = tied_area = 0.0
        level, evaluated, capped = 0, len(cells), False
        while True:
            above, below = lo > ut, hi < ut
            tied = (lo == ut) & (hi == ut)
            open_ = ~(above | below | tied)
            area = cells.area_km2
            above_area += float(area[above].sum())
            tied_area += float(area[tied].sum())
            open_area = float(area[open_].sum())
            found = above_area + 0.5 * tied_area
            # Sampling error of the unsettled cells' shares: at most half a cell each, over sqrt(samples)
            # points, independent between cells (the cells straddle different stretches of the level set).
            error = float(np.sqrt(np.sum(area[open_] ** 2)) / (2.0 * np.sqrt(max(1, samples))))
            settled = error <= rel_tol * found and open_area <= MAX_BAND_SHARE * found
            if level >= finest or settled or capped or not open_.any():
                break
            kids = child_cells(cells.cells[open_], level + 1)
            level += 1
            evaluated += len(kids)
            capped = evaluated > max_cells
            cells = kids
            lo, hi = self._pooled_bounds(cells, w, method)
        partial = 0.0
        if open_.any():
            idx = np.flatnonzero(open_)
            m = max(1, int(samples))
            if len(idx) * m > MAX_SAMPLE_POINTS:
                # A capped refinement of a flat field (every cell tied within its bounds) leaves hundreds of
                # thousands of cells open: estimate their share from an even subset of them (area-weighted)
                # instead of sampling all (millions of layer reads per image).
                pick = idx[np.linspace(0, len(idx) - 1, max(1, MAX_SAMPLE_POINTS // m)).astype(np.int64)]
                frac = self._fraction_denser(cells.subset(pick), ut, w, method, m)
                partial = open_area * float(np.dot(area[pick], frac) / max(float(area[pick].sum()), 1e-300))
            else:
                frac = self._fraction_denser(cells.subset(idx), ut, w, method, m)
                partial = float(np.dot(area[idx], frac))
        return TruthArea(above_area + 0.5 * tied_area + partial, open_area, evaluated, capped)

    def _fraction_denser(self, cells: CellSet, ut: float, w: np.ndarray, method: str, samples: int) -> np.ndarray:
        """Fraction of each cell's area where the pooled density exceeds ``ut`` (ties half), (n,).

        From ``samples`` points evenly spread (Vogel's spiral) over a disc of the cell's area. Evaluated in
        chunks of at most :data:`SAMPLE_POINTS_PER_CHUNK` points: a wide class layer (the 246 countries) read
        at millions of points at once would need gigabytes.
        """
        m = max(1, int(samples))
        step = max(1, SAMPLE_POINTS_PER_CHUNK // m)
        if len(cells) > step:
            return np.concatenate([self._fraction_denser(cells.subset(np.arange(a, min(a + step, len(cells)))), ut, w, method, m)
                                   for a in range(0, len(cells), step)])
        j = np.arange(m)
        r = np.sqrt((j + 0.5) / m) if m > 1 else np.zeros(1)
        phi = j * np.pi * (3.0 - np.sqrt(5.0))
        radius = np.sqrt(cells.area_km2 / np.pi)  # km
        dx = (radius[:, None] * (r * np.cos(phi))[None, :]).ravel()
        dy = (radius[:, None] * (r * np.sin(phi))[None, :]).ravel()
        xyz = _offset_xyz(np.repeat(cells.xyz, m, axis=0), dx, dy)
        lat = np.degrees(np.arcsin(np.clip(xyz[:, 2], -1.0, 1.0)))
        lon = np.degrees(np.arctan2(xyz[:, 1], xyz[:, 0]))
        ids = np.repeat(cells.cells, m)
        coarse = np.repeat(cells.resolution < SAMPLE_OWN_CELL_RES, m)
        if coarse.any():  # layers vary inside coarse cells: each point reads its own finest cell
            ids[coarse] = points_to_cells(lat[coarse], lon[coarse], POINT_RES)
        pts = CellSet(ids, lat, lon, np.zeros(len(lat)), xyz)
        v = self._pooled_at(pts, w, method).reshape(len(cells), m)
        return ((v > ut).sum(axis=1) + 0.5 * (v == ut).sum(axis=1)) / m

    # -- batches of records (benchmarks) ---------------------------------------------------------------

    def stack(self, rows: np.ndarray, progress: Progress | None = None, chunk: int = 32, max_bytes: int | None = None) -> FieldStack:
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
        tasks = [(j, i, a) for j, i in enumerate(per) for a in range(0, len(rows), chunk)]

        def work(task: tuple[int, int, int]) -> str:
            j, i, a = task  # each task writes its own slice
            r = rows[a : a + chunk]
            fields[j, a : a + len(r)], norm[i, a : a + len(r)] = normalise_on_grid(soft[i].batch_log_density(grid, r), grid.area_km2, self.floor)
            return soft[i].name

        for done, name in enumerate(map_threads(work, tasks), 1):
            progress(done / max(1, len(tasks)), f"expert fields: {name}")
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

    def base_areas(self, weights: np.ndarray, truth_cell: np.ndarray, chunk: int = 32) -> np.ndarray:
        """Area to truth (km², ties half) on the base grid of every record, log-linear pooling.

        Args:
            weights: (E,) in :attr:`Ensemble.names` order.
            truth_cell: (S,) base-grid position of each record's truth.
            chunk: records pooled at a time (bounds the float32 scratch, chunk x n cells, and the copy of the
                weighted fields the product reads, experts x chunk x n).
        """
        area = self.ensemble.grid.area_km2
        out = np.empty(len(self.rows))
        for a in range(0, len(self.rows), chunk):
            b = min(len(self.rows), a + chunk)
            out[a:b] = area_to_truth_batch(self.pooled(weights, a, b), area, truth_cell[a:b])
        return out

    def areas_along(self, weights: np.ndarray, i: int, values: Sequence[float], truth_cell: np.ndarray, chunk: int = 16) -> np.ndarray:
        """Base-grid areas to truth for weight vectors that differ from ``weights`` in entry ``i`` only.

        One coordinate of :func:`~geolocate.bench.fit_weights` at once: per chunk of records the pool
        of the other experts is made once, and each value ``c`` adds ``c`` times expert ``i``'s field
        (the pooled density is linear in each weight). Same convention as :meth:`base_areas`.

        Args:
            weights: (E,) in :attr:`Ensemble.names` order.
            i: the entry that takes each of ``values``.
            values: the weights tried for expert ``i``.
            truth_cell: (S,) base-grid position of each record's truth.
            chunk: records at a time (a chunk's float32 scratch stays in cache).

        Returns:
            (len(values), S) float64 areas in km².
        """
        w = np.asarray(weights, dtype=np.float64).copy()
        w[i] = 0.0
        area = self.ensemble.grid.area_km2
        half = (area / 2).astype(np.float32)
        shared = np.flatnonzero(self.shared_index == i)
        per = np.flatnonzero(self.per_index == i)
        out = np.empty((len(values), len(self.rows)))

        def work(a: int) -> None:  # one chunk of records; writes its own columns of ``out``
            b = min(len(self.rows), a + chunk)
            idx = np.asarray(truth_cell[a:b])
            r = np.arange(b - a)
            d = self.pooled(w, a, b)
            d -= d[r, idx][:, None]
            if len(per):
                g = np.array(self.per_record[per[0], a:b], dtype=np.float32)
            else:
                g = np.broadcast_to(self.shared[shared[0]].astype(np.float32), d.shape).copy()
            g -= g[r, idx][:, None]
            s = np.empty_like(d)
            for ci, c in enumerate(values):
                np.multiply(g, np.float32(c), out=s)
                s += d
                np.sign(s, out=s)
                s += 1  # 2 denser, 1 tied, 0 less dense: non-negative terms (no cancellation in float32)
                out[ci, a:b] = (s @ half).astype(np.float64) + area[idx] / 2

        for _ in map_threads(work, range(0, len(self.rows), chunk)):
            pass
        return out

    def record(self, k: int) -> Ensemble:
        """The ensemble of record ``rows[k]``, its base fields taken from the stack."""
        ens = self.ensemble
        soft = np.empty((len(ens.names), self.shared.shape[1]))
        soft[self.shared_index] = self.shared
        soft[self.per_index] = self.per_record[:, k]
        grid = ens.grid
        return Ensemble(ens.experts, ens.floor, ens.res, int(self.rows[k]), self.log_norm[:, k].copy(), ExpertFields(grid, soft, np.zeros(len(grid))))
