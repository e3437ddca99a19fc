"""Text clues as experts: one expert of kind ``text`` per clue type ("text: phone", "text: place", ...).

Each clue is a likelihood over countries (``Clue.likelihood`` and ``Clue.floor``), optionally with place
kernels. As a density per km² it is the likelihood divided by its integral over the Earth:
``p(x) = L(country(x)) / Z`` (:func:`country_probs` turns it into the per-country probabilities of a
:class:`~geolocate.experts.CountryProbabilityExpert`), mixed with von Mises-Fisher kernels at the places
(``place_weight`` of the mass). Within one type:

* phone numbers, web addresses, currencies and place names are *mixed* (the photo is near one of the
  places the numbers name), each distinct clue once: the same number read twice is one clue;
* languages and scripts *multiply* (a sign in English and Portuguese is where both are used), each
  language or script once however many lines show it.

A type whose clues say nothing (a generic domain) is uniform, never zero; the ensemble's floor keeps
every expert from ruling out the world anyway.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import numpy as np

from ..experts.base import Expert, ExpertKind
from ..experts.point import PointExpert
from ..experts.region import CountryProbabilityExpert, country_areas_km2, country_codes
from ..grid import EARTH_AREA_KM2, CellSet
from .clues import CLUE_KINDS, Clue

MIXED_KINDS = ("phone", "web", "currency", "place")
"""Clue types whose distinct clues are mixed (near one of them); the others multiply."""

KIND_LABELS = {"phone": "phone numbers", "web": "web addresses", "language": "languages", "script": "scripts", "currency": "currencies", "place": "place names"}


def expert_name(kind: str) -> str:
    """Expert name of a clue type (also its weight key in links): "text: phone"."""
    return f"text: {kind}"


def country_probs(likelihood: Mapping[str, float], floor: float, areas: Mapping[str, float] | None = None) -> dict[str, float]:
    """Per-country probabilities whose :class:`CountryProbabilityExpert` density is proportional to the likelihood.

    ``p_c = L_c A_c / Z`` with ``Z = sum_c L_c A_c + floor * (A_earth - sum_c A_c)``: the density is then
    ``L_c / Z`` inside country c and ``floor / Z`` elsewhere.

    Args:
        likelihood: ISO-3 -> relative likelihood (values below ``floor`` are raised to it).
        floor: likelihood outside the named countries (> 0).
        areas: ISO-3 -> km² (default: the country layer's areas).
    """
    areas = country_areas_km2() if areas is None else areas
    lik = {c: max(float(v), floor) for c, v in likelihood.items() if c in areas}
    named_area = sum(areas[c] for c in lik)
    z = sum(v * areas[c] for c, v in lik.items()) + floor * max(EARTH_AREA_KM2 - named_area, 0.0)
    return {c: v * areas[c] / z for c, v in lik.items()} if z > 0 else {}


_FRACTIONS: OrderedDict[bytes, object] = OrderedDict()
_FRACTIONS_LOCK = threading.Lock()
_FRACTIONS_KEEP = 4


def _country_fractions(cells: CellSet):
    """Country shares of each cell as a sparse (n, K) CSR matrix (K = "none" + the layer's countries), memoised per cell set."""
    import scipy.sparse as sp

    from ..layers import country_layer

    key = hashlib.blake2b(np.ascontiguousarray(cells.cells).tobytes(), digest_size=16).digest()
    with _FRACTIONS_LOCK:
        hit = _FRACTIONS.get(key)
        if hit is not None:
            _FRACTIONS.move_to_end(key)
            return hit
    frac = sp.csr_matrix(country_layer().values_at(cells).astype(np.float64))
    with _FRACTIONS_LOCK:
        _FRACTIONS[key] = frac
        while len(_FRACTIONS) > _FRACTIONS_KEEP:
            _FRACTIONS.popitem(last=False)
    return frac


class CountryLikelihoodExpert(CountryProbabilityExpert):
    """A :class:`CountryProbabilityExpert` evaluated through one sparse product, however many countries it names.

    Same density; the parent reads one layer column per named country, which costs ~4 ms a country on
    the base grid (a script clue names 200). Here the cell set's country shares are read once (memoised
    for the last few cell sets) and each expert is a sparse matrix-vector product.
    """

    def log_density(self, cells: CellSet) -> np.ndarray:
        """Log density per km² of the country mixture at each cell, (n,)."""
        codes = ["none"] + country_codes()
        idx = {c: i for i, c in enumerate(codes)}
        areas = country_areas_km2()
        per_km2 = np.zeros(len(codes))
        named = np.zeros(len(codes))
        for c, p in self.probs.items():
            per_km2[idx[c]] = p / max(areas[c], 1e-9)
            named[idx[c]] = 1.0
        frac = _country_fractions(cells)
        rest_p = max(0.0, 1.0 - sum(self.probs.values()))
        rest_area = max(EARTH_AREA_KM2 - sum(areas[c] for c in self.probs), 1.0)
        dens = frac @ per_km2 + rest_p * np.clip(1.0 - frac @ named, 0.0, 1.0) / rest_area
        return np.log(np.maximum(dens, 1e-300))


class UniformExpert(Expert):
    """The same density everywhere (a clue that says nothing)."""

    def __init__(self, name: str, why: str = ""):
        self.name, self.kind, self.why = name, ExpertKind.TEXT, why

    def log_density(self, cells: CellSet) -> np.ndarray:
        """-log(Earth's area) at every cell."""
        return np.full(len(cells), -np.log(EARTH_AREA_KM2))

    def log_density_bounds(self, cells: CellSet, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Exact: the constant."""
        v = self.log_density(cells)
        return (v, v) if rows is None else (v[None, :], v[None, :])

    def describe(self) -> str:
        """One line."""
        return f"{self.name}: uniform" + (f" ({self.why})" if self.why else "")


class TextClueExpert(Expert):
    """A mixture of normalised densities (country likelihoods and place kernels) from the clues of one type.

    Args:
        name: label, e.g. "text: phone".
        components: (weight, expert) pairs; weights > 0 summing to 1, each expert a proper density.
        why: one line saying what the clues imply.
        clues: the clues behind it (for reports).
    """

    kind = ExpertKind.TEXT

    def __init__(self, name: str, components: Sequence[tuple[float, Expert]], why: str = "", clues: Sequence[Clue] = ()):
        comps = [(float(w), e) for w, e in components if w > 0]
        if not comps:
            raise ValueError("a text expert needs at least one component with positive weight")
        total = sum(w for w, _ in comps)
        self.components = [(w / total, e) for w, e in comps]
        self.name, self.why, self.clues = name, why, tuple(clues)

    def log_density(self, cells: CellSet) -> np.ndarray:
        """Log of sum_k w_k p_k(cell), (n,)."""
        parts = [np.log(w) + e.log_density(cells) for w, e in self.components]
        return np.logaddexp.reduce(np.stack(parts), axis=0) if len(parts) > 1 else parts[0]

    def log_density_bounds(self, cells: CellSet, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Bounds from the components' bounds (mixtures are monotone in each component)."""
        los, his = [], []
        for w, e in self.components:
            lo, hi = e.log_density_bounds(cells)
            los.append(np.log(w) + np.asarray(lo, dtype=np.float64))
            his.append(np.log(w) + np.asarray(hi, dtype=np.float64))
        lo_t = np.logaddexp.reduce(np.stack(los), axis=0)
        hi_t = np.logaddexp.reduce(np.stack(his), axis=0)
        return (lo_t, hi_t) if rows is None else (lo_t[None, :], hi_t[None, :])

    def describe(self) -> str:
        """One line: what the clues imply."""
        return self.name + (f": {self.why}" if self.why else "")


def _country_part(clue: Clue, name: str) -> Expert:
    if not clue.likelihood or clue.floor >= 1.0:
        return UniformExpert(name)
    return CountryLikelihoodExpert(country_probs(dict(clue.likelihood), clue.floor), name=name, kind=ExpertKind.TEXT)


def _product(clues: Sequence[Clue]) -> tuple[dict[str, float], float]:
    """Country likelihood of clues that multiply: L(c) = prod_j L_j(c) (floors where a clue does not name c)."""
    codes = {c for cl in clues for c, _ in cl.likelihood}
    lik = {c: 1.0 for c in codes}
    floor = 1.0
    for cl in clues:
        mine = dict(cl.likelihood)
        for c in codes:
            lik[c] *= mine.get(c, cl.floor)
        floor *= cl.floor
    top = max(lik.values(), default=1.0)
    return {c: v / top for c, v in lik.items() if v / top > floor / top}, floor / top


def clue_experts(clues: Sequence[Clue]) -> list[Expert]:
    """One expert per clue type present in ``clues`` (in :data:`CLUE_KINDS` order), of kind ``text``.

    A type whose clues are all uninformative gives a :class:`UniformExpert` (listed, harmless).
    Duplicates (same kind and key) are dropped first, so the same evidence never counts twice.
    """
    seen: set[tuple[str, str]] = set()
    unique: list[Clue] = []
    for c in clues:
        if (c.kind, c.key) not in seen:
            seen.add((c.kind, c.key))
            unique.append(c)
    out: list[Expert] = []
    for kind in CLUE_KINDS:
        mine = [c for c in unique if c.kind == kind]
        if not mine:
            continue
        name = expert_name(kind)
        useful = [c for c in mine if c.informative]
        why = "; ".join(c.describe() for c in mine[:3]) + (f"; +{len(mine) - 3} more" if len(mine) > 3 else "")
        if not useful:
            out.append(UniformExpert(name, why="says nothing: " + why))
            continue
        if kind in MIXED_KINDS:
            comps: list[tuple[float, Expert]] = []
            for c in useful:
                w = 1.0 / len(useful)
                if c.places and c.place_weight > 0:
                    for p in c.places:
                        comps.append((w * c.place_weight * p.weight, PointExpert(p.lat, p.lon, scale_km=p.scale_km, name=p.name, kind=ExpertKind.TEXT)))
                comps.append((w * (1.0 - c.place_weight), _country_part(c, name)))
            out.append(TextClueExpert(name, comps, why=why, clues=mine))
        else:
            lik, floor = _product(useful)
            part: Expert = CountryLikelihoodExpert(country_probs(lik, floor), name=name, kind=ExpertKind.TEXT, why=why) if lik and floor < 1 else UniformExpert(name)
            out.append(TextClueExpert(name, [(1.0, part)], why=why, clues=mine))
    return out


def country_posterior(clues: Sequence[Clue], prior: Mapping[str, float] | None = None) -> dict[str, float]:
    """Probability per country of all clues together with a prior (default: people per country), summing to 1.

    Mass of country c: ``prior_c * prod_types density_type(c)``, each type's density taken at the
    country level (its place kernels counted as the country they lie in). This is what the page lists;
    the ensemble's own map agrees up to the base grid's borders and the other experts.

    Args:
        clues: clues (duplicates dropped).
        prior: ISO-3 -> prior mass (default: GeoNames population).
    """
    from .clues import _populations

    areas = country_areas_km2()
    if prior is None:
        prior = {c: float(p) for c, p in _populations().items() if c in areas}
    codes = [c for c in prior if c in areas]
    a = np.array([areas[c] for c in codes])
    log_q = np.log(np.maximum(np.array([prior[c] for c in codes], dtype=np.float64), 1e-300))
    seen: set[tuple[str, str]] = set()
    unique = [c for c in clues if c.informative and not ((c.kind, c.key) in seen or seen.add((c.kind, c.key)))]  # type: ignore[func-returns-value]
    for kind in CLUE_KINDS:
        mine = [c for c in unique if c.kind == kind]
        if not mine:
            continue
        if kind in MIXED_KINDS:
            dens = np.zeros(len(codes))
            for c in mine:
                probs = country_probs(dict(c.likelihood), c.floor) if c.likelihood and c.floor < 1 else {}
                rest = max(0.0, 1.0 - sum(probs.values()))
                rest_area = max(EARTH_AREA_KM2 - sum(areas[k] for k in probs), 1.0)
                d = np.array([probs[k] / areas[k] if k in probs else rest / rest_area for k in codes])
                if c.places and c.place_weight > 0:
                    near = np.zeros(len(codes))
                    for p in c.places:
                        if p.country in codes:
                            near[codes.index(p.country)] += p.weight / a[codes.index(p.country)]
                    d = (1 - c.place_weight) * d + c.place_weight * near
                dens += d / len(mine)
        else:
            lik, floor = _product(mine)
            probs = country_probs(lik, floor)
            rest = max(0.0, 1.0 - sum(probs.values()))
            rest_area = max(EARTH_AREA_KM2 - sum(areas[k] for k in probs), 1.0)
            dens = np.array([probs[k] / areas[k] if k in probs else rest / rest_area for k in codes])
        log_q += np.log(np.maximum(dens, 1e-300))
    q = np.exp(log_q - log_q.max())
    q /= q.sum()
    order = np.argsort(-q)
    return {codes[i]: float(q[i]) for i in order if q[i] > 1e-6}


__all__ = ["KIND_LABELS", "MIXED_KINDS", "CountryLikelihoodExpert", "TextClueExpert", "UniformExpert", "clue_experts", "country_posterior", "country_probs", "expert_name"]
