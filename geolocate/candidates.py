"""Candidate areas: the ranked cells inside the budget grouped into a few named, connected areas.

An analyst searches areas, not hexagons: "Kauai, Hawaii, United States: 38 %". The cells inside the
budget (a :class:`~geolocate.distribution.RankedRegions`, mixed resolutions) are linked when they touch
or nearly touch (centres closer than :data:`LINK` times the sum of their circumradii: H3 neighbours
at any resolution, and cells across a gap of about one cell), the linked groups are ranked by
probability and the first :data:`MAX_AREAS` become candidate areas. Each gets a name from the offline
gazetteer, its probability, area, extent, centre and "why": the experts that favour it most, measured
by how much of each expert's own probability lies in the area against the area's share of the Earth.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .distribution import RankedRegions
from .grid import EARTH_AREA_KM2, EARTH_RADIUS_KM, CellSet, global_grid, latlon_to_xyz

if TYPE_CHECKING:
    from .ensemble import Ensemble

MAX_AREAS = 5
"""Most candidate areas (the rest of the budget's cells belong to none)."""

LINK = 1.75
"""Cells are linked when their centres are closer than LINK x (circumradius 1 + circumradius 2): 1.15
would link only touching cells; 1.75 also bridges a gap of one cell of the same size."""

SMALL_AREA_KM2 = 2_500.0
"""An area up to this size is named after the place at its densest cell ("Lihue, Kauai, Hawaii, ...");
larger ones after the region holding most of their probability ("Kauai, Hawaii, United States")."""

DOMINANT_SHARE = 0.6
"""A region names an area when it holds at least this share of the area's probability."""

WHY_EXPERTS = 3
"""Most experts listed as an area's "why"."""

MIN_WHY_PROB = 0.01
"""An expert is a "why" only when it puts at least this much of its own probability on the area (a broad
prior slightly denser there than on average is not a reason)."""

_CIRCUMRADIUS_PER_SQRT_AREA = float(np.sqrt(2.0 / (3.0 * np.sqrt(3.0))))
"""Circumradius of a regular hexagon of unit area (H3 cells are near-regular hexagons)."""


@dataclass(frozen=True)
class Support:
    """How much one expert favours a candidate area.

    Attributes:
        name: the expert's name (the sliders' key).
        label: its display label.
        prob: the probability the expert on its own puts on the area (0..1).
        lift: ``prob`` divided by the area's share of the Earth's surface (1 = no preference).
    """

    name: str
    label: str
    prob: float
    lift: float


@dataclass(frozen=True)
class CandidateArea:
    """One connected group of ranked cells.

    Attributes:
        id: 1-based rank of the area by probability.
        name: a short name from the gazetteer (plain text).
        prob: probability of the area's cells (0..1).
        area_km2: total area of its cells, km².
        west, south, east, north: extent in degrees (``west > east`` when it crosses ±180°).
        lat, lon: probability-weighted centre, degrees.
        peak_lat, peak_lon: centre of its densest cell, degrees.
        cells: the cells' H3 indexes (uint64), in rank order.
        why: the experts that favour it most, strongest first.
    """

    id: int
    name: str
    prob: float
    area_km2: float
    west: float
    south: float
    east: float
    north: float
    lat: float
    lon: float
    peak_lat: float
    peak_lon: float
    cells: np.ndarray = field(repr=False, compare=False)
    why: tuple[Support, ...] = ()

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(west, south, east, north), degrees."""
        return (self.west, self.south, self.east, self.north)

    @property
    def label(self) -> str:
        """"Area 1: Kauai, Hawaii, United States"."""
        return f"Area {self.id}: {self.name}"

    def why_text(self) -> str:
        """The "why" as plain text: "GeoCLIP puts 62 % here; analyst: guess 40 %"."""
        if not self.why:
            return "no expert favours it in particular"
        first, *rest = self.why
        parts = [f"{first.label} puts {first.prob:.0%} here"] + [f"{s.label} {s.prob:.0%}" for s in rest]
        return "; ".join(parts)


def _components(xyz: np.ndarray, radius_km: np.ndarray, link: float) -> np.ndarray:
    """Connected-component label of each cell (cells linked by centre distance < link x (r_i + r_j)).

    Pairs are searched per pair of size classes (resolutions) so a few coarse cells do not make every
    fine cell a candidate partner of every other one.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    n = len(xyz)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    # cells of one resolution have nearly one radius: group by rounded log radius
    cls = np.round(np.log(radius_km) / np.log(np.sqrt(7.0))).astype(np.int64)
    groups = [np.flatnonzero(cls == c) for c in np.unique(cls)]
    trees = [cKDTree(xyz[g]) for g in groups]
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    for a in range(len(groups)):
        for b in range(a, len(groups)):
            ga, gb = groups[a], groups[b]
            reach_km = link * (radius_km[ga].max() + radius_km[gb].max())
            chord = 2.0 * np.sin(min(reach_km / EARTH_RADIUS_KM, np.pi) / 2.0)
            m = trees[a].sparse_distance_matrix(trees[b], chord, output_type="ndarray")
            if len(m) == 0:
                continue
            i, j, d = ga[m["i"]], gb[m["j"]], m["v"]
            km = 2.0 * EARTH_RADIUS_KM * np.arcsin(np.clip(d / 2.0, 0.0, 1.0))
            ok = km < link * (radius_km[i] + radius_km[j])
            rows.append(i[ok])
            cols.append(j[ok])
    r = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
    graph = coo_matrix((np.ones(len(r), dtype=np.int8), (r, c)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return np.asarray(labels, dtype=np.int64)


def _extent(lat: np.ndarray, lon: np.ndarray, radius_km: np.ndarray, centre_lon: float) -> tuple[float, float, float, float]:
    """(west, south, east, north) of cells given by centre and circumradius, degrees; lon unwrapped around the centre."""
    dlat = np.degrees(radius_km / EARTH_RADIUS_KM)
    rel = (lon - centre_lon + 180.0) % 360.0 - 180.0
    dlon = dlat / np.maximum(np.cos(np.radians(lat)), 0.01)
    south = float(max(-90.0, (lat - dlat).min()))
    north = float(min(90.0, (lat + dlat).max()))
    lo, hi = float((rel - dlon).min()), float((rel + dlon).max())
    if hi - lo >= 360.0:
        return -180.0, south, 180.0, north

    def wrap(x: float) -> float:
        return (x + 180.0) % 360.0 - 180.0

    return wrap(centre_lon + lo), south, wrap(centre_lon + hi), north


def _area_name(lat: np.ndarray, lon: np.ndarray, prob: np.ndarray, area_km2: float) -> str:
    """The name of an area from its cells (rank order): a place when small, else its dominant region."""
    from . import gazetteer

    if area_km2 <= SMALL_AREA_KM2:
        return gazetteer.describe(float(lat[0]), float(lon[0]))
    names = gazetteer.admin_names(lat, lon)
    w = prob / prob.sum()

    def top(keys: np.ndarray) -> tuple[str, float]:
        uniq, inv = np.unique(keys.astype(str), return_inverse=True)
        share = np.bincount(inv, weights=w, minlength=len(uniq))
        k = int(np.argmax(share))
        return str(uniq[k]), float(share[k])

    country = names["country_name"].astype(str)
    a1 = np.char.add(np.char.add(country, "\x1f"), names["admin1"].astype(str))
    a2 = np.char.add(np.char.add(a1, "\x1f"), names["admin2"].astype(str))
    key2, share2 = top(a2)
    c, r1, r2 = key2.split("\x1f")
    if r2 and share2 >= DOMINANT_SHARE:
        return ", ".join(x for x in (gazetteer.short_admin2(r2), r1, c) if x)
    key1, share1 = top(a1)
    c, r1 = key1.split("\x1f")
    if r1 and share1 >= DOMINANT_SHARE:
        return f"{r1}, {c}"
    keyc, sharec = top(country)
    if sharec >= DOMINANT_SHARE:
        # the country's two leading regions say which part of it
        in_c = country == keyc
        uniq, inv = np.unique(names["admin1"][in_c].astype(str), return_inverse=True)
        share = np.bincount(inv, weights=w[in_c], minlength=len(uniq))
        lead = [str(uniq[k]) for k in np.argsort(-share)[:2] if uniq[k]]
        return f"{' and '.join(lead)}, {keyc}" if lead else keyc
    uniq, inv = np.unique(country, return_inverse=True)
    share = np.bincount(inv, weights=w, minlength=len(uniq))
    return " and ".join(str(uniq[k]) for k in np.argsort(-share)[:2])


def _support(ensemble: Ensemble, weights: Mapping[str, float] | None, cells: CellSet, labels_of: np.ndarray,
             n_areas: int) -> list[tuple[Support, ...]]:
    """Per area, the weighted experts that favour it most (lift > 1), strongest first.

    Measured on the base grid, where every expert is normalised exactly: an area stands for the base
    cells holding its cells (refined cells of a sharp expert do not keep its base-grid mass exactly).
    """
    from .experts.base import expert_label

    soft = ensemble.soft_experts
    if not soft or n_areas == 0:
        return [() for _ in range(n_areas)]
    w = ensemble.weight_vector(weights) if weights is not None else np.ones(len(soft))
    base = ensemble.base_fields()
    grid = global_grid(ensemble.res)
    anc = grid.index_of_any(cells.cells)
    out: list[tuple[Support, ...]] = []
    for a in range(n_areas):
        pos = np.unique(anc[(labels_of == a) & (anc >= 0)])
        if len(pos) == 0:
            out.append(())
            continue
        area = grid.area_km2[pos]
        mass = np.exp(base.soft[:, pos]) @ area  # (E,) each expert's probability of these base cells
        lift = mass / (area.sum() / EARTH_AREA_KM2)
        order = [e for e in np.argsort(-lift).tolist() if w[e] > 0 and lift[e] > 1.0 and mass[e] >= MIN_WHY_PROB][:WHY_EXPERTS]
        out.append(tuple(Support(soft[e].name, expert_label(soft[e]), float(min(mass[e], 1.0)), float(lift[e])) for e in order))
    return out


def candidate_areas(regions: RankedRegions, ensemble: Ensemble | None = None, weights: Mapping[str, float] | None = None,
                    *, max_areas: int = MAX_AREAS, link: float = LINK) -> list[CandidateArea]:
    """Group ranked cells into at most ``max_areas`` connected, named candidate areas.

    Args:
        regions: the cells inside the budget, in rank order (``CellDistribution.within_budget``).
        ensemble: the ensemble the cells come from, for the "why" (None: no "why").
        weights: the experts' weights (experts at weight 0 are never a "why"; None: all count).
        max_areas: most areas returned.
        link: linking distance in circumradii (see :data:`LINK`).

    Returns:
        Areas by probability, largest first (ids 1, 2, ...); empty when ``regions`` is.
    """
    k = len(regions)
    if k == 0 or max_areas <= 0:
        return []
    cells = CellSet(np.asarray(regions.cells, dtype=np.uint64), np.asarray(regions.lat), np.asarray(regions.lon),
                    np.asarray(regions.area_km2, dtype=np.float64))
    radius = _CIRCUMRADIUS_PER_SQRT_AREA * np.sqrt(cells.area_km2)
    comp = _components(latlon_to_xyz(cells.lat, cells.lon), radius, link)
    prob = np.asarray(regions.prob, dtype=np.float64)
    comp_prob = np.bincount(comp, weights=prob)
    # largest probability first; ties by the best rank inside (the first cell of a component)
    first_rank = np.full(len(comp_prob), k, dtype=np.int64)
    np.minimum.at(first_rank, comp, np.arange(k))
    order = np.lexsort((first_rank, -comp_prob))[:max_areas]
    area_of = np.full(len(comp_prob), -1, dtype=np.int64)
    area_of[order] = np.arange(len(order))
    labels_of = area_of[comp]  # area position per cell, -1 outside the chosen areas
    n = len(order)
    area_km2 = np.bincount(labels_of[labels_of >= 0], weights=cells.area_km2[labels_of >= 0], minlength=n)
    why = _support(ensemble, weights, cells, labels_of, n) if ensemble is not None else [() for _ in range(n)]
    xyz = latlon_to_xyz(cells.lat, cells.lon)
    out: list[CandidateArea] = []
    for a in range(n):
        idx = np.flatnonzero(labels_of == a)  # rank order: regions are ranked
        p = prob[idx]
        c = (xyz[idx] * p[:, None]).sum(axis=0)
        c /= np.linalg.norm(c) or 1.0
        clat, clon = float(np.degrees(np.arcsin(np.clip(c[2], -1, 1)))), float(np.degrees(np.arctan2(c[1], c[0])))
        west, south, east, north = _extent(cells.lat[idx], cells.lon[idx], radius[idx], clon)
        out.append(CandidateArea(
            id=a + 1, name=_area_name(cells.lat[idx], cells.lon[idx], p, float(area_km2[a])), prob=float(p.sum()),
            area_km2=float(area_km2[a]), west=west, south=south, east=east, north=north, lat=clat, lon=clon,
            peak_lat=float(cells.lat[idx[0]]), peak_lon=float(cells.lon[idx[0]]), cells=cells.cells[idx], why=why[a],
        ))
    return out


def region_area_ids(regions: RankedRegions, areas: Sequence[CandidateArea]) -> np.ndarray:
    """The candidate area id of each ranked region (0 for a region in none), int64 shape (k,)."""
    ids = np.zeros(len(regions), dtype=np.int64)
    cells = np.asarray(regions.cells, dtype=np.uint64)
    for a in areas:
        ids[np.isin(cells, a.cells)] = a.id
    return ids


def region_names(regions: RankedRegions) -> list[str]:
    """Each ranked region's own short name (the gazetteer's description of its centre), plain text."""
    from .gazetteer import describe_many

    return describe_many(np.asarray(regions.lat), np.asarray(regions.lon))
