"""Region constraints: include or exclude countries, polygons or circles, softly or hard.

The share s(cell) of a cell inside the allowed region (country area shares from the country layer,
1/0 for a polygon test of the cell centre, the overlap of a circle with the cell taken as a disc of the
same area) gives the density s + (1 - s) * leak. A soft constraint
leaks (default 5 %); a hard one (``hard=True``) leaks nothing and the ensemble applies it as a mask
after pooling, outside the weights and the floor, so it really zeroes the excluded area.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

from ..grid import EARTH_RADIUS_KM, CellSet
from ..layers import country_layer, country_table
from ..metrics import haversine_km
from .base import Expert, ExpertKind

HARD_LEAK = 1e-12

Circle = tuple[float, float, float]
"""(lat, lon, radius_km): a circle on the Earth, degrees and km."""


def circle_share(cells: CellSet, lat: float, lon: float, radius_km: float) -> np.ndarray:
    """Fraction of each cell's area inside a circle, (n,) in [0, 1].

    Each cell is taken as a disc of its own area: exact for cells wholly inside or outside, and a
    smooth overlap on the rim, so a circle smaller than a coarse cell still gives that cell its share
    (a centre-in-circle test would miss it and a hard include would rule out the whole Earth).
    """
    d = np.asarray(haversine_km(cells.lat, cells.lon, lat, lon), dtype=np.float64)
    # A zero area (a cell set's placeholder) counts as a point: inside or outside.
    r = np.maximum(np.sqrt(np.asarray(cells.area_km2, dtype=np.float64) / np.pi), 1e-9)
    big = float(radius_km)
    out = np.zeros(len(d))
    inside = d <= np.abs(big - r)
    out[inside] = np.minimum(r[inside], big) ** 2 / r[inside] ** 2
    rim = ~inside & (d < r + big)
    if rim.any():
        dd, rr = d[rim], r[rim]
        a1 = rr**2 * np.arccos(np.clip((dd**2 + rr**2 - big**2) / (2 * dd * rr), -1, 1))
        a2 = big**2 * np.arccos(np.clip((dd**2 + big**2 - rr**2) / (2 * dd * big), -1, 1))
        a3 = 0.5 * np.sqrt(np.clip((-dd + rr + big) * (dd + rr - big) * (dd - rr + big) * (dd + rr + big), 0, None))
        out[rim] = (a1 + a2 - a3) / (np.pi * rr**2)
    return np.clip(out, 0.0, 1.0)


def circle_ring(lat: float, lon: float, radius_km: float, n: int = 72) -> list[list[float]]:
    """A circle as a closed ring of ``n + 1`` [lon, lat] points (degrees), longitudes continuous around ``lon``."""
    phi1, lam1 = np.radians(lat), np.radians(lon)
    delta = float(radius_km) / EARTH_RADIUS_KM
    theta = np.linspace(0.0, 2 * np.pi, n + 1)
    phi2 = np.arcsin(np.clip(np.sin(phi1) * np.cos(delta) + np.cos(phi1) * np.sin(delta) * np.cos(theta), -1, 1))
    lam2 = lam1 + np.arctan2(np.sin(theta) * np.sin(delta) * np.cos(phi1), np.cos(delta) - np.sin(phi1) * np.sin(phi2))
    lons = np.degrees(lam2)
    lons = lon + (lons - lon + 180.0) % 360.0 - 180.0
    ring = [[round(float(a), 5), round(float(b), 5)] for a, b in zip(lons, np.degrees(phi2))]
    ring[-1] = ring[0]
    return ring


def country_codes() -> list[str]:
    """ISO-3 codes known to the country layer."""
    return [c["iso3"] for c in country_table()]


class RegionExpert(Expert):
    """Allowed region = (included countries/polygons, or everywhere if none) minus excluded ones.

    Args:
        include: ISO-3 codes the photo is in (any of).
        exclude: ISO-3 codes the photo is not in.
        include_polygons: shapely (multi)polygons in lon/lat degrees.
        exclude_polygons: likewise.
        include_circles: (lat, lon, radius_km) circles the photo is in (any of; with countries and polygons).
        exclude_circles: circles the photo is not in.
        hard: zero the excluded area instead of down-weighting it.
        leak: density outside the region relative to inside, for soft constraints.
        name: label.
    """

    kind = ExpertKind.ANALYST

    def __init__(
        self,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        include_polygons: Sequence[BaseGeometry] = (),
        exclude_polygons: Sequence[BaseGeometry] = (),
        include_circles: Sequence[Circle] = (),
        exclude_circles: Sequence[Circle] = (),
        hard: bool = False,
        leak: float = 0.05,
        name: str = "region",
    ):
        known = set(country_codes())
        unknown = [c for c in (*include, *exclude) if c not in known]
        if unknown:
            raise ValueError(f"unknown country codes {unknown}: use ISO-3 codes such as FRA, USA, JPN")
        if not 0 <= leak < 1:
            raise ValueError("leak must be in [0, 1)")
        self.include, self.exclude = list(include), list(exclude)
        self.include_polygons, self.exclude_polygons = list(include_polygons), list(exclude_polygons)
        self.include_circles, self.exclude_circles = [tuple(map(float, c)) for c in include_circles], [tuple(map(float, c)) for c in exclude_circles]
        if any(not (-90 <= c[0] <= 90 and np.isfinite(c[1]) and c[2] > 0) for c in (*self.include_circles, *self.exclude_circles)):
            raise ValueError("a circle needs a latitude in [-90, 90], a finite longitude and a positive radius in km")
        self.hard = bool(hard)
        self.leak = HARD_LEAK if hard else float(leak)
        self.name = name

    def share(self, cells: CellSet) -> np.ndarray:
        """Fraction of each cell inside the allowed region, (n,) in [0, 1]."""
        import shapely

        codes = ["none"] + country_codes()
        col = {c: i for i, c in enumerate(codes)}
        named = [col[c] for c in dict.fromkeys([*self.include, *self.exclude])]
        # only the named countries' columns: the layer has ~250 classes and the support may be large
        frac = country_layer().values_at(cells, classes=named) if named else np.zeros((len(cells), 0))
        col = {codes[k]: j for j, k in enumerate(named)}
        has_include = bool(self.include or self.include_polygons or self.include_circles)
        inside = np.zeros(len(cells)) if has_include else np.ones(len(cells))
        if self.include:
            inside += frac[:, [col[c] for c in self.include]].sum(axis=1)
        pts = None
        if self.include_polygons or self.exclude_polygons:
            pts = shapely.points(cells.lon, cells.lat)
        for poly in self.include_polygons:
            inside = np.maximum(inside, shapely.contains(poly, pts).astype(float))
        for c in self.include_circles:
            inside = np.maximum(inside, circle_share(cells, *c))
        if self.exclude:
            inside -= frac[:, [col[c] for c in self.exclude]].sum(axis=1)
        for poly in self.exclude_polygons:
            inside = np.where(shapely.contains(poly, pts), 0.0, inside)
        for c in self.exclude_circles:
            inside = inside * (1.0 - circle_share(cells, *c))
        return np.clip(inside, 0.0, 1.0)

    def log_density(self, cells: CellSet) -> np.ndarray:
        """log(s + (1 - s) * leak) per cell, s the share inside the allowed region."""
        s = self.share(cells)
        return np.log(s + (1 - s) * self.leak)

    def describe(self) -> str:
        """One line: the included and excluded countries and polygons, soft or hard."""
        parts = []
        if self.include:
            parts.append("in " + ", ".join(self.include))
        if self.exclude:
            parts.append("not in " + ", ".join(self.exclude))
        if self.include_polygons or self.exclude_polygons:
            parts.append(f"{len(self.include_polygons)} include / {len(self.exclude_polygons)} exclude polygons")
        for word, circles in (("in", self.include_circles), ("not in", self.exclude_circles)):
            parts += [f"{word} {lat:.4g}, {lon:.4g} ± {r:g} km" for lat, lon, r in circles]
        return f"{self.name} ({'hard' if self.hard else 'soft'}): " + "; ".join(parts or ["everywhere"])


@functools.lru_cache(maxsize=1)
def country_areas_km2() -> dict[str, float]:
    """Area of every country of the country layer, km² (its class shares weighted by res-4 cell areas; 0.35 s)."""
    from ..grid import global_grid

    totals = country_layer().weighted_sum(global_grid(4).area_km2)
    return {c: float(a) for c, a in zip(country_layer().classes, totals) if c != "none"}


class CountryProbabilityExpert(Expert):
    """A probability per country, spread evenly over each country's area; the rest over the rest of the Earth.

    ``p(cell) = sum_c share(cell, c) * p_c / A_c + (1 - sum_c p_c) * (1 - sum_c share(cell, c)) / A_rest``
    (densities per km²; ``A_c`` the country's area, ``A_rest`` the Earth's area outside the named
    countries). Probabilities that sum to less than 1 leave the remainder to the unnamed world, so a clue
    that names a few countries never rules out the others.

    Args:
        probs: ISO-3 code -> probability (>= 0, summing to at most 1; larger sums are normalised).
        name: label.
        kind: expert kind (e.g. "text", "model").
        why: one line saying what the probabilities came from (shown by :meth:`describe`).
    """

    def __init__(self, probs: dict[str, float], name: str = "countries", kind: ExpertKind = ExpertKind.ANALYST, why: str = ""):
        known = set(country_codes())
        unknown = [c for c in probs if c not in known]
        if unknown:
            raise ValueError(f"unknown country codes {unknown}: use ISO-3 codes such as FRA, USA, JPN")
        clean = {c: float(p) for c, p in probs.items() if p > 0}
        if any(not np.isfinite(p) for p in clean.values()):
            raise ValueError("country probabilities must be finite")
        total = sum(clean.values())
        if total > 1.0:
            clean = {c: p / total for c, p in clean.items()}
        self.probs = clean
        self.name, self.kind, self.why = name, kind, why

    def log_density(self, cells: CellSet) -> np.ndarray:
        """Log density per km² of the country mixture at each cell."""
        from ..grid import EARTH_AREA_KM2

        codes = ["none"] + country_codes()
        idx = {c: i for i, c in enumerate(codes)}
        named = list(self.probs)
        areas = country_areas_km2()
        rest_p = max(0.0, 1.0 - sum(self.probs.values()))
        rest_area = max(EARTH_AREA_KM2 - sum(areas[c] for c in named), 1.0)
        dens = np.zeros(len(cells))
        share_named = np.zeros(len(cells))
        if named:
            frac = country_layer().values_at(cells, classes=[idx[c] for c in named]).astype(np.float64)
            per_km2 = np.array([self.probs[c] / max(areas[c], 1e-9) for c in named])
            dens = frac @ per_km2
            share_named = frac.sum(axis=1)
        dens = dens + rest_p * np.clip(1.0 - share_named, 0.0, 1.0) / rest_area
        return np.log(np.maximum(dens, 1e-300))

    def describe(self) -> str:
        """One line: the three most probable countries and what the probabilities came from."""
        top = sorted(self.probs.items(), key=lambda kv: -kv[1])[:3]
        head = ", ".join(f"{c} {p:.0%}" for c, p in top) or "no country"
        prefix = self.name if self.name.lower().startswith(str(self.kind).lower()) else f"{self.kind}: {self.name}"
        return f"{prefix}: {head}" + (f" ({self.why})" if self.why else "")
