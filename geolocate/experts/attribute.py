"""Attribute experts: what a photo says about a place, turned into a map through a layer.

Attributes are land cover, population, scene or country; a layer holds per-cell class fractions.

With class probabilities P(c | photo), layer fractions f(cell, c) and class priors pi(c) (the class
frequencies among photos in general), the likelihood of a cell is

    L(cell) = sum_c f(cell, c) * P(c | photo) / pi(c),

which is Bayes' rule for a photo whose attribute is c with probability f(cell, c) when taken in that
cell. A ``temperature`` T sharpens (T < 1) or flattens (T > 1) P(c | photo) first.
"""

from __future__ import annotations

import numpy as np

from ..grid import CellSet
from ..layers import Layer
from .base import BatchExpert, Expert, ExpertKind, descendant_value_range, kind_and_name


def attribute_log_likelihood(fractions: np.ndarray, probs: np.ndarray, class_prior: np.ndarray) -> np.ndarray:
    """Log sum_c f(cell, c) P(c|photo) / pi(c) for S photos at n cells.

    Args:
        fractions: (n, K) layer fractions.
        probs: (S, K) class probabilities per photo.
        class_prior: (K,) class prior pi(c) > 0.

    Returns:
        float64 array (S, n).
    """
    ratio = np.asarray(probs, dtype=np.float64) / np.asarray(class_prior, dtype=np.float64)[None, :]
    lik = ratio @ np.asarray(fractions, dtype=np.float64).T
    return np.log(np.maximum(lik, 1e-300))


def attribute_bounds(layer: Layer, cells: CellSet, probs: np.ndarray, class_prior: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of :func:`attribute_log_likelihood` over every finer cell inside each cell.

    The likelihood is linear in the fractions with non-negative coefficients, so for a dense layer
    (finer cells inherit their ancestor's fractions) the per-class minimum (maximum) of the layer's
    cells below each cell bounds it from below (above). For layers stored finer than their dense grid,
    the fractions of a cell sum to 1, so the smallest and largest ratio P(c | photo) / pi(c) bound it.

    Returns:
        (lo, hi), float64 (S, n) each.
    """
    if layer.grid.res >= layer.res:
        fmin, fmax = descendant_value_range(layer.fractions, layer.grid.cells, cells.cells)
        return attribute_log_likelihood(fmin, probs, class_prior), attribute_log_likelihood(fmax, probs, class_prior)
    ratio = np.asarray(probs, dtype=np.float64) / np.asarray(class_prior, dtype=np.float64)[None, :]
    shape = (len(ratio), len(cells))
    return (np.broadcast_to(np.log(np.maximum(ratio.min(axis=1), 1e-300))[:, None], shape).copy(),
            np.broadcast_to(np.log(np.maximum(ratio.max(axis=1), 1e-300))[:, None], shape).copy())


def tempered(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities raised to 1/T and renormalised along the last axis."""
    if not temperature > 0:
        raise ValueError("temperature must be positive")
    p = np.asarray(probs, dtype=np.float64)
    if temperature == 1.0:
        return p / p.sum(axis=-1, keepdims=True)
    lp = np.log(np.maximum(p, 1e-300)) / temperature
    lp -= lp.max(axis=-1, keepdims=True)
    q = np.exp(lp)
    return q / q.sum(axis=-1, keepdims=True)


class AttributeExpert(Expert):
    """Class probabilities for one photo mapped through a layer.

    Args:
        layer: the layer of class fractions (K classes).
        probs: (K,) P(c | photo); need not be normalised (it is, here).
        class_prior: (K,) pi(c); default uniform (1/K), i.e. the plain mixture sum_c f P.
        temperature: see module docstring.
        name: label.
        kind: "attribute" for model outputs, "analyst" for an analyst's override.
    """

    def __init__(self, layer: Layer, probs, class_prior=None, temperature: float = 1.0, name: str | None = None, kind: ExpertKind = ExpertKind.ATTRIBUTE):
        p = np.asarray(probs, dtype=np.float64)
        k = len(layer.classes)
        if p.shape != (k,):
            raise ValueError(f"{layer.name}: expected {k} class probabilities ({', '.join(layer.classes[:5])}...), got shape {p.shape}")
        if np.any(~np.isfinite(p)) or np.any(p < 0) or not p.sum() > 0:
            raise ValueError(f"{layer.name}: class probabilities must be finite, non-negative and not all zero")
        prior = np.full(k, 1.0 / k) if class_prior is None else np.asarray(class_prior, dtype=np.float64)
        if prior.shape != (k,) or np.any(prior <= 0):
            raise ValueError(f"{layer.name}: class prior must be {k} positive numbers")
        self.layer, self.class_prior = layer, prior / prior.sum()
        self.probs = tempered(p, temperature)
        self.name = name or layer.name
        self.kind = kind

    def log_density(self, cells: CellSet) -> np.ndarray:
        """Log likelihood of each cell, sum_c f(cell, c) P(c | photo) / pi(c)."""
        return attribute_log_likelihood(self.layer.values_at(cells), self.probs[None, :], self.class_prior)[0]

    def log_density_bounds(self, cells: CellSet, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Bounds over finer cells from the per-class min and max of the layer below each cell."""
        lo, hi = attribute_bounds(self.layer, cells, self.probs[None, :], self.class_prior)
        return (lo[0], hi[0]) if rows is None else (lo, hi)

    def top_classes(self, k: int = 3) -> list[tuple[str, float]]:
        """The k most probable classes with their probabilities."""
        idx = np.argsort(-self.probs)[:k]
        return [(self.layer.classes[i], float(self.probs[i])) for i in idx]

    def describe(self) -> str:
        """Name and the three most probable classes."""
        tops = ", ".join(f"{c} {p:.0%}" for c, p in self.top_classes())
        return f"{kind_and_name(self.kind, self.name)} ({tops})"


def override_probs(layer: Layer, wanted: list[str], confidence: float = 0.9) -> np.ndarray:
    """Class probabilities for an analyst's statement "the photo shows one of ``wanted``".

    ``confidence`` of the mass is spread over the wanted classes, the rest over the others.
    """
    k = len(layer.classes)
    missing = [w for w in wanted if w not in layer.classes]
    if missing or not wanted:
        raise ValueError(f"unknown {layer.name} classes {missing}; choose from {layer.classes}")
    mask = np.isin(np.array(layer.classes), wanted)
    p = np.where(mask, confidence / mask.sum(), (1 - confidence) / max(k - mask.sum(), 1))
    return p / p.sum()


class AttributePredictions(BatchExpert):
    """A model's class probabilities for N records (a benchmark), mapped through a layer.

    Args:
        name: label.
        layer: layer of class fractions (K classes), in the column order of ``probs``.
        probs: (N, K) class probabilities; rows with NaN have none (uniform density).
        class_prior: (K,) pi(c).
        source: where the probabilities came from (a file path).
    """

    kind = ExpertKind.ATTRIBUTE

    def __init__(self, name: str, layer: Layer, probs: np.ndarray, class_prior: np.ndarray, source: str = ""):
        probs = np.asarray(probs, dtype=np.float64)
        if probs.ndim != 2 or probs.shape[1] != len(layer.classes):
            raise ValueError(f"{name}: expected (N, {len(layer.classes)}) class probabilities, got shape {probs.shape}")
        prior = np.asarray(class_prior, dtype=np.float64)
        if prior.shape != (len(layer.classes),) or np.any(prior <= 0):
            raise ValueError(f"{name}: class prior must be {len(layer.classes)} positive numbers")
        self.name, self.layer, self.source = name, layer, source
        self.present = np.isfinite(probs).all(axis=1)
        self.probs = np.where(self.present[:, None], probs, 1.0 / probs.shape[1])
        self.class_prior = prior / prior.sum()
        self.records = len(probs)

    def record_log_density(self, cells: CellSet, rows: np.ndarray) -> np.ndarray:
        """Attribute likelihoods of records ``rows``, (len(rows), n)."""
        return attribute_log_likelihood(self.layer.values_at(cells), self.probs[rows], self.class_prior)

    def record_log_density_bounds(self, cells: CellSet, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bounds over finer cells (see :func:`attribute_bounds`)."""
        return attribute_bounds(self.layer, cells, self.probs[rows], self.class_prior)
