"""Metrics: great-circle accuracy and Recall vs Area (RvA).

Conventions (the paper leaves them unstated; these are ours):

* Distances are haversine great-circle distances on a sphere of radius 6,371.0088 km (IUGG mean).
  GCD accuracy at r km is the fraction of samples whose prediction lies within r km (``<=``).
* **Area to truth** of one sample: the area where the distribution's density exceeds its density at
  the true location, plus half the area where it equals it (the expected area over random tie
  orders: a uniform distribution over Earth needs about half the globe, as it should). The density is
  the *continuous* one: kernels evaluated at points (not averaged over a cell), layers piecewise
  constant on their cells; so there is no floor at the area of the truth's own cell, and a truth at
  the mode has area near 0 (the AUC counts anything under 1 km² as 1 km²). For a distribution given
  only as cells (:meth:`geolocate.distribution.CellDistribution.area_to_contain`) the same rule is
  applied to the cells: denser cells, half the other cells of equal density, and the truth's cell.
  The benchmark computes it per image by adaptive refinement (:meth:`geolocate.ensemble.Ensemble.area_to_truth`):
  cells settled by bounds count fully, half or not at all; cells still unsettled at the finest
  resolution (default res 10, 0.015 km²) or once their sampling error is within 1 % of the area count
  the share of 16 points spread over them that is denser than the truth. One-expert configurations
  have closed forms (:func:`geolocate.bench.closed_form`): the spherical cap through the truth for a
  point model, sums over the layer's plateaus for priors and attribute experts.
* **Mode** (GCD accuracy of a distribution): the densest point of the continuous density
  (:meth:`geolocate.ensemble.Ensemble.peak`): kernel centres (a point model's prediction) and the
  densest cells as candidates, then a lattice search to 2 m; a point model's mode is its prediction.
* **Recall at area a**: the fraction of samples whose area to truth is ``<= a``.
* **Area at recall q**: the smallest area a with recall(a) >= q, i.e. the ceil(q n)-th smallest area.
* **AUC**: the area under recall plotted against log10(area) over [1, 5.1e8] km², divided by the
  axis length log10(5.1e8), so 1 means every truth is found within 1 km² and a uniform guess over the
  globe scores about 0.03. Closed form: mean over samples of
  (L - clip(log10 area_to_truth, 0, L)) / L with L = log10(5.1e8).
* **Intervals**: 95 % percentile bootstrap (1,000 resamples, seed 0 unless given). With ``groups``
  (the benchmark passes each photo's author) whole groups are resampled with replacement, since photos
  by one photographer are not independent; without, single samples are.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from .grid import EARTH_RADIUS_KM

ACCURACY_KM = (1, 25, 200, 750, 2500)
"""Radii (km) of the classic street / city / region / country / continent accuracies."""

RECALL_AREAS_KM2 = (1e2, 1e3, 1e4, 1e5, 1e6)
"""Areas (km²) at which recall is summarised."""

RECALL_LEVELS = (0.25, 0.5, 0.75)
"""Recall levels at which area is summarised."""

AREA_MIN_KM2 = 1.0
AREA_MAX_KM2 = 5.1e8
"""The RvA axis, km² (5.1e8 is about the whole Earth)."""


def haversine_km(lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike) -> np.ndarray:
    """Great-circle distance in km between points given in degrees (broadcasts)."""
    la1, lo1, la2, lo2 = (np.radians(np.asarray(v, dtype=np.float64)) for v in (lat1, lon1, lat2, lon2))
    h = np.sin((la2 - la1) / 2) ** 2 + np.cos(la1) * np.cos(la2) * np.sin((lo2 - lo1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def disc_area_km2(radius_km: float | np.ndarray) -> np.ndarray:
    """Area (km²) of a spherical cap of great-circle radius ``radius_km`` on the Earth."""
    return 2 * np.pi * EARTH_RADIUS_KM**2 * (1 - np.cos(np.asarray(radius_km, dtype=np.float64) / EARTH_RADIUS_KM))


DISC_AREAS_KM2 = {r: float(disc_area_km2(r)) for r in ACCURACY_KM}
"""Areas of discs of radius 1/25/200/750/2500 km, to mark on RvA plots."""


def gcd_accuracy(distances_km: np.ndarray, radii_km=ACCURACY_KM) -> dict[int, float]:
    """Fraction of distances within each radius (km), keyed by radius."""
    d = np.asarray(distances_km, dtype=np.float64)
    return {int(r): float(np.mean(d <= r)) for r in radii_km}


def recall_at_area(areas_km2: ArrayLike, area_km2: ArrayLike) -> np.ndarray:
    """Fraction of samples whose area to truth is at most each given area (km²)."""
    a = np.sort(np.asarray(areas_km2, dtype=np.float64))
    return np.searchsorted(a, np.asarray(area_km2, dtype=np.float64), side="right") / len(a)


def area_at_recall(areas_km2: ArrayLike, recall: ArrayLike) -> np.ndarray:
    """Smallest area (km²) reaching each recall level in (0, 1]."""
    a = np.sort(np.asarray(areas_km2, dtype=np.float64))
    q = np.asarray(recall, dtype=np.float64)
    k = np.clip(np.ceil(q * len(a)).astype(int) - 1, 0, len(a) - 1)
    return a[k]


def rva_auc(areas_km2: np.ndarray) -> float:
    """Normalised area under recall vs log10(area) over [1, 5.1e8] km² (see module docstring)."""
    top = np.log10(AREA_MAX_KM2)
    la = np.clip(np.log10(np.maximum(np.asarray(areas_km2, dtype=np.float64), 1e-300)), 0.0, top)
    return float(np.mean((top - la) / top))


def rva_curve(areas_km2: np.ndarray, points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """(areas, recall) sampled log-uniformly over [1, 5.1e8] km²."""
    grid = np.logspace(np.log10(AREA_MIN_KM2), np.log10(AREA_MAX_KM2), points)
    return grid, recall_at_area(areas_km2, grid)


def _summaries(areas: np.ndarray) -> np.ndarray:
    """Vector of the RvA summaries for one set of areas: AUC, recall at areas, area at recalls."""
    return np.concatenate([[rva_auc(areas)], recall_at_area(areas, RECALL_AREAS_KM2), area_at_recall(areas, RECALL_LEVELS)])


def resample_indices(n: int, n_boot: int, seed: int = 0, groups: ArrayLike | None = None) -> list[np.ndarray]:
    """Index arrays of ``n_boot`` bootstrap resamples of n samples.

    Args:
        n: number of samples.
        n_boot: resamples.
        seed: random seed.
        groups: (n,) group key per sample (e.g. the photographer); whole groups are drawn with
            replacement (a resample holds about n samples, not exactly n). None: single samples.
    """
    rng = np.random.default_rng(seed)
    if groups is None:
        return list(rng.integers(0, n, size=(n_boot, n)))
    _, code = np.unique(np.asarray(groups), return_inverse=True)
    order = np.argsort(code, kind="stable")
    starts = np.r_[0, np.cumsum(np.bincount(code))]
    members = [order[starts[g] : starts[g + 1]] for g in range(len(starts) - 1)]
    picks = rng.integers(0, len(members), size=(n_boot, len(members)))
    return [np.concatenate([members[g] for g in p]) for p in picks]


def bootstrap_intervals(
    values: np.ndarray,
    statistic: Callable[[np.ndarray], np.ndarray],
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    groups: ArrayLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval of a vector-valued statistic of per-sample values.

    Args:
        values: (n, ...) per-sample values.
        statistic: maps a resample of ``values`` to a vector.
        n_boot: resamples.
        seed: random seed.
        level: coverage.
        groups: (n,) cluster key per sample; clusters are resampled whole (see :func:`resample_indices`).

    Returns:
        (low, high) arrays shaped like ``statistic(values)``.
    """
    v = np.asarray(values)
    stats = np.array([statistic(v[i]) for i in resample_indices(len(v), n_boot, seed, groups)])
    alpha = (1 - level) / 2
    return np.quantile(stats, alpha, axis=0), np.quantile(stats, 1 - alpha, axis=0)


def rva_summary(areas_km2: np.ndarray, n_boot: int = 1000, seed: int = 0, groups: ArrayLike | None = None) -> dict:
    """RvA summary with 95 % bootstrap intervals, in the JSON schema of ``python -m geolocate bench``.

    Returns:
        {"n", "auc": {"value", "lo", "hi"}, "recall_at_area": {"1e+02": {...}, ...},
         "area_at_recall": {"0.25": {...}, ...}} — areas in km², recall as fractions.
    """
    a = np.asarray(areas_km2, dtype=np.float64)
    if not len(a):
        raise ValueError("no samples")
    val = _summaries(a)
    lo, hi = bootstrap_intervals(a, _summaries, n_boot=n_boot, seed=seed, groups=groups) if n_boot else (val, val)

    def entry(i: int) -> dict:
        return {"value": float(val[i]), "lo": float(lo[i]), "hi": float(hi[i])}

    nr = len(RECALL_AREAS_KM2)
    return {
        "n": int(len(a)),
        "auc": entry(0),
        "recall_at_area": {f"{x:.0e}": entry(1 + i) for i, x in enumerate(RECALL_AREAS_KM2)},
        "area_at_recall": {f"{q:g}": entry(1 + nr + i) for i, q in enumerate(RECALL_LEVELS)},
    }


def gcd_summary(distances_km: np.ndarray, n_boot: int = 1000, seed: int = 0, groups: ArrayLike | None = None) -> dict:
    """GCD accuracies keyed by km with 95 % bootstrap intervals, plus median and mean error (km)."""
    d = np.asarray(distances_km, dtype=np.float64)

    def stat(x: np.ndarray) -> np.ndarray:
        return np.array([np.mean(x <= r) for r in ACCURACY_KM])

    val = stat(d)
    lo, hi = bootstrap_intervals(d, stat, n_boot=n_boot, seed=seed, groups=groups) if n_boot else (val, val)
    return {
        "accuracy": {str(r): {"value": float(val[i]), "lo": float(lo[i]), "hi": float(hi[i])} for i, r in enumerate(ACCURACY_KM)},
        "median_km": float(np.median(d)),
        "mean_km": float(np.mean(d)),
    }


def paired_comparison(areas_a: np.ndarray, areas_b: np.ndarray, n_boot: int = 1000, seed: int = 0, groups: ArrayLike | None = None) -> dict:
    """Paired bootstrap of A against B on the same samples.

    Gives the AUC difference (A - B) and the ratio of areas at 50 % recall (A / B), each with a 95 %
    interval; ``groups`` resamples clusters (authors) whole. A is better when the AUC difference is
    positive and the area ratio below 1.
    """
    a, b = np.asarray(areas_a, dtype=np.float64), np.asarray(areas_b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError("paired comparison needs the same samples")

    def stat(idx: np.ndarray) -> np.ndarray:
        return np.array([rva_auc(a[idx]) - rva_auc(b[idx]), area_at_recall(a[idx], 0.5) / area_at_recall(b[idx], 0.5)])

    val = stat(np.arange(len(a)))
    lo, hi = bootstrap_intervals(np.arange(len(a)), stat, n_boot=n_boot, seed=seed, groups=groups) if n_boot else (val, val)
    return {
        "auc_difference": {"value": float(val[0]), "lo": float(lo[0]), "hi": float(hi[0])},
        "area_at_50pct_ratio": {"value": float(val[1]), "lo": float(lo[1]), "hi": float(hi[1])},
    }


__all__ = [
    "ACCURACY_KM", "AREA_MAX_KM2", "AREA_MIN_KM2", "DISC_AREAS_KM2", "RECALL_AREAS_KM2", "RECALL_LEVELS",
    "area_at_recall", "bootstrap_intervals", "paired_comparison", "disc_area_km2", "gcd_accuracy", "gcd_summary", "haversine_km",
    "recall_at_area", "resample_indices", "rva_auc", "rva_curve", "rva_summary",
]
