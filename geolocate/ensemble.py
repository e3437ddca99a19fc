"""Ensembles of experts: weighted log-linear pooling (product of experts) or linear pooling.

Every expert's density is first normalised over the base grid and mixed with a uniform floor,

    p_i <- (1 - eps) p_i + eps / A_earth,

so no expert can zero the world. Then, with weights w_i >= 0,

    log-linear:  log q(x) = sum_i w_i log p_i(x) + const
    linear:      q(x) = sum_i w_i p_i(x) / sum_i w_i

and q is renormalised over the cells. Hard region constraints multiply q afterwards, outside weights
and floor. Weight changes only re-run the pooling (a matrix-vector product over the stored expert
fields), which is what keeps live sliders fast.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from .distribution import CellDistribution, logsumexp
from .experts.base import Expert
from .grid import DEFAULT_RESOLUTION, EARTH_AREA_KM2, CellSet, children, global_grid

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


def pool(log_densities: np.ndarray, weights: np.ndarray, method: str = "log-linear") -> np.ndarray:
    """Pool E expert log densities at n cells into one unnormalised log density.

    Args:
        log_densities: (E, n) normalised (and floored) log densities per km².
        weights: (E,) non-negative weights.
        method: "log-linear" (weighted product) or "linear" (weighted mixture).

    Returns:
        (n,) log density per km² (up to a constant).
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or len(w) != len(log_densities):
        raise ValueError(f"expected {len(log_densities)} weights, got {w.shape}")
    if np.any(~np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and non-negative")
    if method == "log-linear":
        # Expert fields are finite (floored), so zero weights need no masking: 0 * log p = 0.
        return w @ log_densities
    if method == "linear":
        if not w.sum() > 0:
            raise ValueError("linear pooling needs at least one positive weight")
        active = w > 0
        return logsumexp(np.log(w[active] / w.sum())[:, None] + log_densities[active], axis=0)[0]
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
class Ensemble:
    """A set of experts evaluated once on the base grid, pooled on demand.

    Args:
        experts: the experts; names must be unique. Experts with ``hard = True`` are masks.
        floor: uniform mixing weight per expert.
        res: base grid resolution.
    """

    experts: Sequence[Expert]
    floor: float = DEFAULT_FLOOR
    res: int = DEFAULT_RESOLUTION
    _log_norm: np.ndarray | None = field(default=None, repr=False)
    _base: ExpertFields | None = field(default=None, repr=False)
    _refine_cache: dict = field(default_factory=dict, repr=False)
    # Streamlit's fast reruns let two runs of one session use the same Ensemble at once; every lazy
    # update (base fields, refinement cache) happens under this lock so readers never see half of one.
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    def __post_init__(self):
        names = [e.name for e in self.experts]
        if len(set(names)) != len(names):
            raise ValueError(f"expert names must be unique, got {names}")
        if not 0 <= self.floor < 1:
            raise ValueError("floor must be in [0, 1)")

    @property
    def soft_experts(self) -> list[Expert]:
        return [e for e in self.experts if not getattr(e, "hard", False)]

    @property
    def names(self) -> list[str]:
        """Names of the weighted experts, in weight order."""
        return [e.name for e in self.soft_experts]

    @property
    def grid(self):
        return global_grid(self.res)

    def weight_vector(self, weights: Mapping[str, float] | Sequence[float] | None) -> np.ndarray:
        """Weights aligned with :attr:`names`; a mapping may omit experts (weight 1) and None means all 1."""
        if weights is None:
            return np.ones(len(self.names))
        if isinstance(weights, Mapping):
            unknown = set(weights) - set(self.names)
            if unknown:
                raise ValueError(f"weights for unknown experts {sorted(unknown)}; experts are {self.names}")
            return np.array([float(weights.get(n, 1.0)) for n in self.names])
        return np.asarray(weights, dtype=np.float64)

    def _evaluate(self, cells: CellSet) -> ExpertFields:
        experts = self.soft_experts
        raw = np.stack([np.asarray(e.log_density(cells), dtype=np.float64) for e in experts]) if experts else np.zeros((0, len(cells)))
        if cells is self.grid and self._log_norm is None:
            soft, self._log_norm = normalise_on_grid(raw, cells.area_km2, self.floor)
        else:
            self.base_fields()  # normalisers come from the base grid so refined cells share its scale
            soft = floored(raw - self._log_norm[:, None], self.floor)
        hard = np.zeros(len(cells))
        for e in self.experts:
            if getattr(e, "hard", False):
                hard += e.log_density(cells)
        return ExpertFields(cells, soft, hard)

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

    def distribution(self, weights: Mapping[str, float] | Sequence[float] | None = None, method: str = "log-linear", refine_to: int | None = None, refine_cells: int = 600) -> CellDistribution:
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
        """Fields at refinement cells, memoised per cell (sorted arrays, binary search) so that slider
        moves re-use earlier evaluations instead of re-running every expert."""
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

    def _refine(self, cells: CellSet, u: np.ndarray, weights: np.ndarray, method: str, to_res: int, per_level: int):
        """Split the densest cells level by level down to ``to_res``, re-evaluating every expert at the
        children (kernels at child centres; layers at the child's own or its ancestor's value).

        ``u`` is the pooled log density (per km², unnormalised) of ``cells``; at each level the
        ``per_level`` densest cells coarser than that level are replaced by their children.
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
