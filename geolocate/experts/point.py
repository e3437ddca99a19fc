"""Point estimates with uncertainty: great-circle kernels (von Mises-Fisher on the sphere).

A point expert says "near (lat, lon), give or take ``scale_km``". Its density is a mixture of
von Mises-Fisher kernels with scales sigma_k (km) and weights pi_k:

    f(x) = sum_k pi_k * kappa_k / (2 pi R^2 (1 - exp(-2 kappa_k))) * exp(-kappa_k (1 - cos theta)),
    kappa_k = R^2 / sigma_k^2,

which for small sigma is a 2-D Gaussian with per-axis standard deviation sigma (about 39 % of the mass
within sigma, 86 % within 2 sigma). When evaluated on cells, each kernel is widened by the cell's own
spread (variance area/(4 pi), that of a disc of the cell's area), so a cell's value approximates the
kernel's mean over the cell rather than its value at the centre: a 1 km kernel still puts its mass in
the 12,000 km² cell that holds it.

A single scale rarely fits a geolocation model's errors (10 % within 1 km and 34 % beyond 2,500 km for
the best GeoEstimation model), so :func:`fit_scale_mixture` fits the weights of a fixed ladder of scales
to observed errors by maximum likelihood (EM).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from ..grid import EARTH_RADIUS_KM, CellSet, latlon_to_xyz
from ..metrics import haversine_km
from .base import DESCENDANT_RADIUS, BatchExpert, Expert, ExpertKind, kind_and_name

DEFAULT_SCALES_KM = (1.0, 5.0, 25.0, 100.0, 300.0, 750.0, 2500.0)
"""Scale ladder (km) for mixtures fitted to a model's errors."""


def _log_vmf_norm(kappa: np.ndarray) -> np.ndarray:
    """Log of kappa / (2 pi R^2 (1 - exp(-2 kappa))) per km²."""
    return np.log(kappa) - np.log(2 * np.pi * EARTH_RADIUS_KM**2) - np.log(-np.expm1(-2.0 * kappa))


KERNEL_CHUNK_ELEMENTS = 1 << 19
"""Kernel values computed at once (rows x cells): about 4 MB of float64, so the passes of one chunk stay in cache."""


NEGLIGIBLE_WEIGHT = 1e-12
"""Mixture components below this fraction of a kernel's largest weight are dropped (see kernel_log_density)."""


def kernel_log_density(
    cell_xyz: np.ndarray,
    cell_area_km2: np.ndarray | None,
    centre_xyz: np.ndarray,
    scales_km: np.ndarray,
    weights: np.ndarray,
) -> np.ndarray:
    """Log density per km² of vMF scale mixtures centred at S points, at n cells.

    Args:
        cell_xyz: unit vectors of cell centres, (n, 3).
        cell_area_km2: cell areas (n,) used to widen kernels; None (or zeros) evaluates at points exactly.
        centre_xyz: unit vectors of kernel centres, (S, 3).
        scales_km: (K,) kernel scales sigma in km.
        weights: (K,) mixture weights (sum 1) or (S, K) per centre.

    Returns:
        float64 array (S, n).
    """
    scales_km = np.asarray(scales_km, dtype=np.float64)
    centre_xyz = np.asarray(centre_xyz, dtype=np.float64).reshape(-1, 3)
    weights = np.broadcast_to(np.asarray(weights, dtype=np.float64), (len(centre_xyz), len(scales_km)))
    # Components carrying under 1e-12 of a row's largest weight change no density by more than 1e-12
    # relatively, but one such as the 2,500 km kernel at 1e-307 (EM on near-exact errors) would be taken as
    # the mixture's reference and cap the narrow kernels' ratio to it (e^80): a plateau instead of a peak.
    weights = np.where(weights >= NEGLIGIBLE_WEIGHT * weights.max(axis=1, keepdims=True), weights, 0.0)
    active = [k for k in range(len(scales_km)) if np.any(weights[:, k] > 0)]
    if not active:
        raise ValueError("kernel mixture has no positive weight")
    n = len(cell_xyz)
    out = np.empty((len(centre_xyz), n))
    step = max(1, KERNEL_CHUNK_ELEMENTS // max(n, 1))
    shared = bool(np.all(weights == weights[:1])) if len(weights) else True
    for a in range(0, len(centre_xyz), step):  # row chunks: every pass below runs in cache
        b = min(a + step, len(centre_xyz))
        out[a:b] = _kernel_chunk(cell_xyz, cell_area_km2, centre_xyz[a:b], scales_km, weights[:1] if shared else weights[a:b], active)
    return out


def _kernel_chunk(cell_xyz: np.ndarray, cell_area_km2: np.ndarray | None, centre_xyz: np.ndarray, scales_km: np.ndarray, weights: np.ndarray, active: list[int]) -> np.ndarray:
    """:func:`kernel_log_density` of a few rows; ``weights`` (1, K) when every row shares them, else (S, K)."""
    # 1 - cos(theta) straight from the dot product is exact enough in float64 even for 1 km kernels
    # (error ~1e-16 times kappa ~4e7).
    one_minus_cos = np.maximum(1.0 - centre_xyz @ cell_xyz.T, 0.0)
    spread = 0.0 if cell_area_km2 is None else np.asarray(cell_area_km2, dtype=np.float64)[None, :] / (4 * np.pi)
    broad = max(active, key=lambda k: scales_km[k])
    kappa_b = EARTH_RADIUS_KM**2 / (scales_km[broad] ** 2 + spread)
    with np.errstate(divide="ignore"):
        log_broad = np.log(weights[:, broad : broad + 1]) + _log_vmf_norm(kappa_b) - kappa_b * one_minus_cos
    if len(active) == 1:
        return log_broad
    missing = np.flatnonzero(weights[:, broad] <= 0) if len(weights) > 1 else np.zeros(0, np.int64)
    if len(missing):  # rows without the reference component: a plain log-sum-exp over their own components
        out = _kernel_chunk_fast(one_minus_cos, spread, scales_km, weights, active, broad, kappa_b, log_broad)
        comps = []
        for k in active:
            kappa = EARTH_RADIUS_KM**2 / (scales_km[k] ** 2 + spread)
            with np.errstate(divide="ignore"):
                comps.append(np.log(weights[missing, k : k + 1]) + _log_vmf_norm(kappa) - kappa * one_minus_cos[missing])
        out[missing] = np.logaddexp.reduce(np.stack(comps), axis=0)
        return out
    return _kernel_chunk_fast(one_minus_cos, spread, scales_km, weights, active, broad, kappa_b, log_broad)


def _kernel_chunk_fast(one_minus_cos: np.ndarray, spread, scales_km: np.ndarray, weights: np.ndarray, active: list[int], broad: int,
                       kappa_b, log_broad: np.ndarray) -> np.ndarray:
    """The mixture relative to its broadest component (rows whose weight for it is 0 give -inf: see the caller)."""
    # Sum the mixture in the linear domain relative to the broadest component (one exp per component
    # instead of a log-add-exp); where that ratio overflows the narrow kernels dominate, and where
    # they underflow the broad one alone is exact.
    # float32 is plenty for the ratio (it only shifts log densities by < 1e-6) and twice as fast.
    omc32 = one_minus_cos.astype(np.float32)
    ratio = np.ones_like(omc32)
    expo = np.empty_like(omc32)
    for k in active:
        if k == broad:
            continue
        kappa = EARTH_RADIUS_KM**2 / (scales_km[k] ** 2 + spread)
        with np.errstate(divide="ignore", invalid="ignore"):  # rows without the broad component: fixed by the caller
            rel = np.log(weights[:, k : k + 1] / weights[:, broad : broad + 1]) + _log_vmf_norm(kappa) - _log_vmf_norm(kappa_b)
        np.multiply(np.asarray(kappa - kappa_b, dtype=np.float32), omc32, out=expo)
        np.subtract(np.asarray(rel, dtype=np.float32), expo, out=expo)
        np.minimum(expo, 80.0, out=expo)
        np.exp(expo, out=expo)
        ratio += expo
    return log_broad + np.log(ratio, dtype=np.float64)


def kernel_log_density_bounds(
    cell_xyz: np.ndarray,
    cell_area_km2: np.ndarray,
    centre_xyz: np.ndarray,
    scales_km: np.ndarray,
    weights: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of :func:`kernel_log_density` over every finer cell (and every point) inside each cell.

    A finer cell's centre lies within ``DESCENDANT_RADIUS * sqrt(area)`` of the cell's centre and its
    kernels are widened by a spread between 0 and the cell's own, so each component is bounded by its
    value at the nearest / farthest distance and the extreme kappa (log kappa - kappa a is concave in
    kappa; the (1 - exp(-2 kappa)) term is bounded by its value at the interval's ends). Spread 0 is
    the kernel at a point, so the bounds hold for the continuous density too.

    Returns:
        (lo, hi), float64 arrays (S, n).
    """
    scales_km = np.asarray(scales_km, dtype=np.float64)
    centre_xyz = np.asarray(centre_xyz, dtype=np.float64).reshape(-1, 3)
    weights = np.broadcast_to(np.asarray(weights, dtype=np.float64), (len(centre_xyz), len(scales_km)))
    keep = np.flatnonzero(np.any(weights > 0, axis=0))
    if not len(keep):
        raise ValueError("kernel mixture has no positive weight")
    area = np.asarray(cell_area_km2, dtype=np.float64)
    lo = np.empty((len(centre_xyz), len(cell_xyz)))
    hi = np.empty_like(lo)
    step = max(1, BOUNDS_CHUNK_ELEMENTS // max(1, len(keep) * len(centre_xyz)))
    for a in range(0, len(cell_xyz), step):  # cell chunks keep the (K, S, chunk) temporaries in cache
        b = min(a + step, len(cell_xyz))
        lo[:, a:b], hi[:, a:b] = _bounds_chunk(cell_xyz[a:b], area[a:b], centre_xyz, scales_km[keep], weights[:, keep])
    return lo, hi


BOUNDS_CHUNK_ELEMENTS = 1 << 15
"""(scale, centre, cell) triples bounded at once by :func:`kernel_log_density_bounds`."""


def _bounds_chunk(cell_xyz: np.ndarray, area: np.ndarray, centre_xyz: np.ndarray, scales_km: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`kernel_log_density_bounds` of a few cells, the scales with some positive weight only."""
    theta = np.arccos(np.clip(centre_xyz @ cell_xyz.T, -1.0, 1.0))
    rho = DESCENDANT_RADIUS * np.sqrt(area)[None, :] / EARTH_RADIUS_KM
    a_near = (1.0 - np.cos(np.maximum(theta - rho, 0.0)))[None]
    a_far = (1.0 - np.cos(np.minimum(theta + rho, np.pi)))[None]
    # All components at once: axis 0 is the scale, (K, S, n).
    s2 = scales_km[:, None, None] ** 2
    k_hi = EARTH_RADIUS_KM**2 / s2  # no widening: the sharpest kernel
    k_lo = EARTH_RADIUS_KM**2 / (s2 + area[None, None, :] / (4 * np.pi))
    with np.errstate(divide="ignore"):
        logw = np.log(weights.T)[:, :, None]
    low = np.minimum(np.log(k_lo) - k_lo * a_far, np.log(k_hi) - k_hi * a_far) - np.log(-np.expm1(-2 * k_hi))
    k_star = np.clip(1.0 / np.maximum(a_near, 1e-300), k_lo, k_hi)
    high = np.log(k_star) - k_star * a_near - np.log(-np.expm1(-2 * k_lo))
    norm = np.log(2 * np.pi * EARTH_RADIUS_KM**2)
    return _logsumexp0(logw + low) - norm, _logsumexp0(logw + high) - norm


def _logsumexp0(x: np.ndarray) -> np.ndarray:
    """log(sum(exp(x))) over axis 0 (-inf entries allowed)."""
    m = np.max(x, axis=0)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.sum(np.exp(x - m), axis=0)) + m


def fit_scale_mixture(errors_km: ArrayLike, scales_km: ArrayLike = DEFAULT_SCALES_KM, iterations: int = 200) -> np.ndarray:
    """Maximum-likelihood weights of a fixed vMF scale ladder for observed great-circle errors (EM).

    Args:
        errors_km: distances (km) between predictions and truth, shape (m,).
        scales_km: the K kernel scales.
        iterations: EM iterations.

    Returns:
        (K,) weights summing to 1.
    """
    d = np.asarray(errors_km, dtype=np.float64)
    d = d[np.isfinite(d)]
    if not len(d):
        raise ValueError("no finite errors to fit a scale mixture to")
    theta = d / EARTH_RADIUS_KM
    scales = np.asarray(scales_km, dtype=np.float64)
    kappa = EARTH_RADIUS_KM**2 / scales**2
    # Density of the angular distance theta under a vMF: kappa sin(theta) exp(-kappa (1 - cos)) / (1 - e^-2kappa).
    log_p = (
        np.log(kappa)[None, :]
        + np.log(np.maximum(np.sin(theta), 1e-12))[:, None]
        - kappa[None, :] * (1 - np.cos(theta))[:, None]
        - np.log(-np.expm1(-2 * kappa))[None, :]
    )
    w = np.full(len(scales), 1.0 / len(scales))
    for _ in range(iterations):
        joint = log_p + np.log(np.maximum(w, 1e-300))
        resp = np.exp(joint - joint.max(axis=1, keepdims=True))
        resp /= resp.sum(axis=1, keepdims=True)
        w = resp.mean(axis=0)
    return w


class PointExpert(Expert):
    """A point estimate with uncertainty: an analyst's guess, or an external model's prediction.

    Args:
        lat: latitude in degrees.
        lon: longitude in degrees.
        scale_km: kernel scale sigma in km (single kernel), or a sequence for a mixture.
        weights: mixture weights matching ``scale_km`` (default: equal).
        name: label.
        kind: "point" for models, "analyst" for a person's guess.
    """

    def __init__(self, lat: float, lon: float, scale_km: float | Sequence[float] = 25.0, weights: Sequence[float] | None = None, name: str = "point", kind: ExpertKind = ExpertKind.POINT):
        if not (np.isfinite(lat) and np.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
            raise ValueError(f"point ({lat}, {lon}) is out of range: latitude must be in [-90, 90], longitude in [-180, 180]")
        scales = np.atleast_1d(np.asarray(scale_km, dtype=np.float64))
        if not np.all(scales > 0):
            raise ValueError(f"kernel scale must be positive km, got {scale_km}")
        w = np.full(len(scales), 1.0 / len(scales)) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != scales.shape or np.any(w < 0) or not w.sum() > 0:
            raise ValueError("mixture weights must be non-negative, one per scale, not all zero")
        self.lat, self.lon = float(lat), float(lon)
        self.scales_km, self.weights = scales, w / w.sum()
        self.name, self.kind = name, kind

    def log_density(self, cells: CellSet) -> np.ndarray:
        """The kernel mixture at each cell, widened by the cell's spread."""
        centre = latlon_to_xyz(np.array([self.lat]), np.array([self.lon]))
        return kernel_log_density(cells.xyz, cells.area_km2, centre, self.scales_km, self.weights)[0]

    def log_density_bounds(self, cells: CellSet, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Bounds over finer cells (see :func:`kernel_log_density_bounds`)."""
        centre = latlon_to_xyz(np.array([self.lat]), np.array([self.lon]))
        lo, hi = kernel_log_density_bounds(cells.xyz, cells.area_km2, centre, self.scales_km, self.weights)
        return (lo[0], hi[0]) if rows is None else (lo, hi)

    def mode_candidates(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Where the density peaks: the kernel centre, (1, 2) lat/lon degrees ((len(rows), 1, 2) for rows)."""
        c = np.array([[self.lat, self.lon]])
        return c if rows is None else np.repeat(c[None], len(np.asarray(rows)), axis=0)

    def describe(self) -> str:
        """Name, centre and the range of kernel scales."""
        lo, hi = float(self.scales_km.min()), float(self.scales_km.max())
        sigma = f"sigma {lo:g} km" if lo == hi else f"sigma {lo:g}-{hi:g} km"
        return f"{kind_and_name(self.kind, self.name)} at ({self.lat:.4f}, {self.lon:.4f}), {sigma}"


class PointPredictions(BatchExpert):
    """A model's point predictions for N records (a benchmark), each widened by one scale mixture.

    Args:
        name: label (the model).
        latlon: (N, 2) predicted points in degrees; rows with NaN have no prediction (uniform density).
        scales_km: (K,) kernel scales.
        weights: (K,) mixture weights (default equal); :meth:`fit` replaces them.
        source: where the predictions came from (a file path).
    """

    kind = ExpertKind.POINT

    def __init__(self, name: str, latlon: np.ndarray, scales_km: Sequence[float] = DEFAULT_SCALES_KM, weights: Sequence[float] | None = None, source: str = ""):
        latlon = np.asarray(latlon, dtype=np.float64)
        if latlon.ndim != 2 or latlon.shape[1] != 2:
            raise ValueError(f"{name}: expected (N, 2) predicted points, got shape {latlon.shape}")
        self.name, self.source = name, source
        self.latlon = latlon
        self.present = np.isfinite(latlon).all(axis=1)
        self.records: int = len(latlon)
        self.centres = latlon_to_xyz(np.where(self.present, latlon[:, 0], 0.0), np.where(self.present, latlon[:, 1], 0.0))
        self.scales_km = np.asarray(scales_km, dtype=np.float64)
        w = np.full(len(self.scales_km), 1.0 / len(self.scales_km)) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != self.scales_km.shape or np.any(w < 0) or not w.sum() > 0:
            raise ValueError(f"{name}: mixture weights must be non-negative, one per scale, not all zero")
        self.weights = w / w.sum()

    def errors_km(self, rows: np.ndarray, truth_latlon: np.ndarray) -> np.ndarray:
        """Great-circle errors (km) of the records ``rows`` that have a prediction; truth (len(rows), 2)."""
        ok = self.present[rows]
        p, t = self.latlon[rows][ok], np.asarray(truth_latlon)[ok]
        return haversine_km(t[:, 0], t[:, 1], p[:, 0], p[:, 1])

    def fit(self, rows: np.ndarray, truth_latlon: np.ndarray) -> bool:
        """Fit the scale mixture to the errors on records ``rows`` (EM); False when none has a prediction."""
        err = self.errors_km(rows, truth_latlon)
        if not len(err):
            return False
        self.weights = fit_scale_mixture(err, self.scales_km)
        return True

    def record_log_density(self, cells: CellSet, rows: np.ndarray) -> np.ndarray:
        """Kernel mixtures at each record's prediction, (len(rows), n)."""
        return kernel_log_density(cells.xyz, cells.area_km2, self.centres[rows], self.scales_km, self.weights)

    def mode_candidates(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Each record's prediction (the kernels' centre), (len(rows), 1, 2) lat/lon degrees; NaN where none.

        The ensemble's mode search starts from these (:meth:`~geolocate.ensemble.Ensemble.peak`).
        """
        rows = np.arange(self.records) if rows is None else np.asarray(rows)
        return np.where(self.present[rows][:, None], self.latlon[rows], np.nan)[:, None, :]

    def record_log_density_bounds(self, cells: CellSet, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bounds over finer cells, (len(rows), n) each (see :func:`kernel_log_density_bounds`)."""
        return kernel_log_density_bounds(cells.xyz, cells.area_km2, self.centres[rows], self.scales_km, self.weights)
