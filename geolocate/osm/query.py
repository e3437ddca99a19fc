"""The query syntax shared by the app and the CLI, and its evaluation on the feature store.

A query is clauses separated by ``;``: first the anchor feature, then any number of
``FEATURE within N m`` (or ``km``), each meaning "some FEATURE lies within N of the anchor"::

    amenity=pharmacy; railway=tram_stop within 60 m
    church; river within 200 m; railway within 500 m

A FEATURE is a preset name (:mod:`.presets`, any case) or a ``key=value`` tag. A place matches where a
point of an anchor feature has, for every later clause, a point of that clause's feature within its
distance (great-circle distance on the mean-radius sphere between stored points: nodes, and vertices of
ways and multipolygon outlines densified to 10 m, so a distance to a line errs by under 5 m at the line
and by less farther off; a point inside a polygon is measured to its outline).

Evaluation is vectorised: points are grouped by H3 cell at a resolution chosen for the distance, a
grid disk is expanded around the distinct cells of the smaller side (memoised), candidate pairs are
found by binary search in the other side's sorted cells and their haversine distances computed in
numpy blocks.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

import h3
import numpy as np
from h3.api import numpy_int as h3n

from ..grid import cells_to_parents, latlon_to_xyz
from .importer import EARTH_RADIUS_M, MATCH_RES, POINT_RES
from .presets import BY_NAME, closest_presets, normalise_name, preset
from .store import FeatureStore, TermPoints

MAX_DISTANCE_M = 20_000.0
"""Largest distance a clause may ask for, m."""

MAX_CLAUSES = 8
MAX_QUERY_CHARS = 500

_CLAUSE = re.compile(r"^(?P<feat>.+?)\s+within\s+(?P<num>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(?P<unit>m|km|meters?|metres?)\.?$", re.IGNORECASE)
_TAG = re.compile(r"^[A-Za-z0-9_:.-]+=[^;=|\s][^;=|]*$")


class QueryError(ValueError):
    """A query that cannot be read; the message names every bad term and the closest presets."""


@dataclass(frozen=True)
class Clause:
    """One clause: a feature term and, after the anchor, the distance to it.

    Attributes:
        term: a preset name (canonical form) or ``key=value``.
        distance_m: the distance, m (None for the anchor).
    """

    term: str
    distance_m: float | None = None

    @property
    def is_tag(self) -> bool:
        """True for a ``key=value`` term."""
        return "=" in self.term

    def text(self) -> str:
        """The clause in query syntax."""
        if self.distance_m is None:
            return self.term
        d = self.distance_m
        dist = f"{d / 1000:g} km" if d >= 1000 and (d / 1000) == round(d / 1000, 3) else f"{d:g} m"
        return f"{self.term} within {dist}"


@dataclass(frozen=True)
class Query:
    """A parsed query: the anchor clause first.

    Attributes:
        clauses: the clauses (at least one).
    """

    clauses: tuple[Clause, ...]

    @property
    def anchor(self) -> Clause:
        """The anchor clause."""
        return self.clauses[0]

    def text(self) -> str:
        """The canonical query text (parses back to an equal query)."""
        return "; ".join(c.text() for c in self.clauses)

    def __str__(self) -> str:
        return self.text()


def _clip(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _term(raw: str) -> tuple[str | None, str | None]:
    """(canonical term, None) or (None, problem)."""
    raw = raw.strip()
    if "=" in raw:
        k, _, v = raw.partition("=")
        t = f"{k.strip()}={v.strip()}"
        if _TAG.match(t):
            return t, None
        return None, f"{_clip(raw)!r} is not a key=value tag"
    p = preset(raw)
    if p is not None:
        return p.name, None
    close = closest_presets(raw)
    hint = f"; closest presets: {', '.join(close)}" if close else "; see the preset list (`osm presets`)"
    return None, f"unknown feature {_clip(raw)!r}{hint}"


def parse_query(text: str) -> Query:
    """Parse the query syntax.

    Args:
        text: e.g. ``"pharmacy; tram stop within 60 m"``.

    Returns:
        The query.

    Raises:
        QueryError: with every problem found (unknown features with the closest presets, a clause
            without ``within N m``, a distance out of range).
    """
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"a query has at most {MAX_QUERY_CHARS} characters (got {len(text)})")
    parts = [p.strip() for p in text.split(";") if p.strip()]
    if not parts:
        raise QueryError("empty query: name a feature, e.g. 'pharmacy; tram stop within 60 m'")
    if len(parts) > MAX_CLAUSES:
        raise QueryError(f"a query has at most {MAX_CLAUSES} clauses (got {len(parts)})")
    problems: list[str] = []
    clauses: list[Clause] = []
    for i, part in enumerate(parts):
        m = _CLAUSE.match(part)
        if i == 0:
            if m:
                problems.append(f"the first clause is the anchor feature, without a distance (got {_clip(part)!r})")
                feat = m.group("feat")
            else:
                feat = part
            term, prob = _term(feat)
            if prob:
                problems.append(prob)
            elif term:
                clauses.append(Clause(term))
            continue
        if not m:
            problems.append(f"clause {i + 1} {_clip(part)!r} must read 'FEATURE within N m' (or km)")
            continue
        d = float(m.group("num")) * (1000.0 if m.group("unit").lower() == "km" else 1.0)
        if not 0 < d <= MAX_DISTANCE_M:
            problems.append(f"clause {i + 1}: the distance must be more than 0 and at most {MAX_DISTANCE_M / 1000:g} km (got {d:g} m)")
        term, prob = _term(m.group("feat"))
        if prob:
            problems.append(prob)
        elif term and 0 < d <= MAX_DISTANCE_M:
            clauses.append(Clause(term, d))
    if problems:
        raise QueryError("; ".join(problems))
    return Query(tuple(clauses))


def check_terms(query: Query, store: FeatureStore) -> list[str]:
    """Problems with a valid query against one store: ``key=value`` tags no import kept."""
    from .presets import PRESETS, STORED_KEYS

    out = []
    for c in query.clauses:
        if not c.is_tag or c.term in store.terms:
            continue
        k, _, v = c.term.partition("=")
        covered = k in STORED_KEYS or c.term in store.extra_tags or f"{k}=*" in store.extra_tags
        covered |= any(k == kk and (vals is None or v in vals) for p in PRESETS for alt in p.alternatives for kk, vals in alt)
        if not covered:
            out.append(f"{c.term!r} was not imported: run 'osm import EXTRACT --tag {c.term}' to keep it")
    return out


@dataclass
class QueryResult:
    """The places where a query holds.

    Attributes:
        query: the query.
        points: the anchor points that satisfy every clause (cells at res 12).
        fids: the matching anchor features (sorted feature indexes).
        nearest_m: (len(fids), clauses - 1): per matching feature, the distance to the nearest
            feature of each later clause, m (over the feature's satisfying points).
        where: (len(fids), 2) lat, lon of one satisfying point of each feature, degrees.
        anchors: how many anchor features the store holds.
    """

    query: Query
    points: TermPoints
    fids: np.ndarray
    nearest_m: np.ndarray
    where: np.ndarray
    anchors: int

    def __len__(self) -> int:
        return len(self.fids)

    @property
    def cells(self) -> np.ndarray:
        """Distinct res-10 cells of the satisfying anchor points, sorted."""
        return np.unique(cells_to_parents(self.points.cell, MATCH_RES))  # coarser cells map to themselves


def haversine_m(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle distances on the mean-radius sphere, m (element-wise)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


# Measured over 3,000 random cells and the 12 pentagons at res 4, 6, 8, 10: neighbouring centres lie
# at least 1.204 average edges apart and no boundary vertex is more than 1.102 average edges from its
# centre. The constants below keep a margin of about 5 %.
_SPACING_MIN, _RADIUS_MAX = 1.14, 1.16
_CELLS_PER_DISTANCE = 6.0


def search_plan(distance_m: float, finest: int = POINT_RES) -> tuple[int, int]:
    """(H3 resolution, disk radius k) used to find every point within ``distance_m`` of another.

    A point q within d of p lies in a cell whose centre is within d + 2 R of p's cell centre (R the
    largest circumradius); cells j rings away have centres at least j s (√3 / 2) away (s the least
    spacing of neighbouring centres). The resolution is the finest (<= the stored points' res 12)
    whose average edge is at least d / 6, so the disk covers about 5 times the circle's area.
    ``finest`` is the resolution of the points' cells.
    """
    res = finest
    while res > 0 and h3.average_hexagon_edge_length(res, "m") < distance_m / _CELLS_PER_DISTANCE:
        res -= 1
    e = h3.average_hexagon_edge_length(res, "m")
    k = math.ceil((distance_m + 2 * _RADIUS_MAX * e) / (_SPACING_MIN * e * math.sqrt(3) / 2))
    return res, max(k, 1)


def _parents(tp: TermPoints, res: int) -> tuple[np.ndarray, np.ndarray]:
    """(ancestor at ``res`` of every point's cell, the distinct ones), kept with the points."""
    hit = tp.cache.get(("parents", res))
    if hit is None:
        par = cells_to_parents(tp.cell, res)  # sorted, as the cells are
        distinct = par[np.flatnonzero(np.r_[True, par[1:] != par[:-1]])] if len(par) else par
        hit = _remember(tp, ("parents", res), (par, distinct), BIN_CACHE_SIZES)
    return hit


def _remember(tp: TermPoints, key: tuple, value: tuple, keep: int = 4) -> tuple:
    """Keep ``value`` with the points under ``key``, dropping the oldest of the same kind beyond ``keep``."""
    same = [k for k in tp.cache if k[0] == key[0]]
    for old in same[: max(0, len(same) - keep + 1)]:
        tp.cache.pop(old, None)
    tp.cache[key] = value
    return value


@functools.lru_cache(maxsize=50_000)  # about 1 KB a disk
def _disk(cell: int, k: int) -> np.ndarray:
    return np.asarray(h3n.grid_disk(cell, k), dtype=np.uint64)


PAIR_BLOCK = 2_000_000
"""Candidate pairs whose distances are computed at once."""


DISK_CELLS_MAX = 2_000
"""Above this many distinct cells on the smaller side, :func:`within` joins 3-D bins instead of H3 disks
(each disk is one call into h3; the bin join has no Python loop at all). Measured on the 1,000-tile
store (benchmarks/bench_osm.py): church/water 200 m, 10,000 cells a side: disks 1.47 s, bins 0.61 s;
restaurant/tram line 30 m, 201,000 cells: disks 17.8 s, bins 2.3 s."""


def within(a: TermPoints, b: TermPoints, distance_m: float, finest: int = POINT_RES, method: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """For each point of ``a``: is some point of ``b`` within ``distance_m``, and the nearest such distance.

    Args:
        a: points sorted by cell.
        b: points sorted by cell.
        distance_m: the distance, m.
        finest: resolution of the points' cells.
        method: "h3" (grid disks around the smaller side's distinct cells), "bins" (:func:`within_bins`)
            or "auto" (bins when the smaller side has over :data:`DISK_CELLS_MAX` distinct cells).

    Returns:
        (hit bool (len(a),), nearest distance in m (len(a),), inf where no hit).
    """
    hit = np.zeros(len(a), bool)
    best = np.full(len(a), np.inf)
    if not len(a) or not len(b):
        return hit, best
    if method == "bins":
        return within_bins(a, b, distance_m)
    res, k = search_plan(distance_m, finest)
    (pa_, ua), (pb, ub) = _parents(a, res), _parents(b, res)
    # expand disks around the side with fewer distinct cells
    if method == "auto" and min(len(ua), len(ub)) > DISK_CELLS_MAX:
        return within_bins(a, b, distance_m)
    swap = len(ub) < len(ua)
    src_par, dst_par, src_u = (pb, pa_, ub) if swap else (pa_, pb, ua)
    src_start = np.searchsorted(src_par, src_u, side="left")
    src_count = np.searchsorted(src_par, src_u, side="right") - src_start
    disks = [_disk(int(c), k) for c in src_u.tolist()]
    sizes = np.fromiter((len(d) for d in disks), dtype=np.int64, count=len(disks))
    disk_cells = np.concatenate(disks)
    owner = np.repeat(np.arange(len(src_u)), sizes)
    lo = np.searchsorted(dst_par, disk_cells, side="left")
    hi = np.searchsorted(dst_par, disk_cells, side="right")
    cnt = hi - lo
    nz = cnt > 0
    lo, cnt, owner = lo[nz], cnt[nz], owner[nz]
    # pairs per disk entry: src_count[owner] x cnt; process in blocks of entries
    per_entry = src_count[owner] * cnt
    cum = np.cumsum(per_entry)
    start = 0
    while start < len(lo):
        done = int(cum[start - 1]) if start else 0
        stop = max(int(np.searchsorted(cum, done + PAIR_BLOCK, side="right")), start + 1)
        e_lo, e_cnt, e_own = lo[start:stop], cnt[start:stop], owner[start:stop]
        start = stop
        # destination indexes of each entry
        dst_idx = np.repeat(e_lo - np.r_[0, np.cumsum(e_cnt)[:-1]], e_cnt) + np.arange(e_cnt.sum())
        dst_own = np.repeat(e_own, e_cnt)
        # times every source point of the owner cell
        sc = src_count[dst_own]
        dst_rep = np.repeat(dst_idx, sc)
        src_idx = np.repeat(src_start[dst_own] - np.r_[0, np.cumsum(sc)[:-1]], sc) + np.arange(sc.sum())
        ai, bi = (dst_rep, src_idx) if swap else (src_idx, dst_rep)
        d = haversine_m(a.lat[ai], a.lon[ai], b.lat[bi], b.lon[bi])
        ok = d <= distance_m
        hit[ai[ok]] = True
        np.minimum.at(best, ai[ok], d[ok])
    return hit, best


BIN_CACHE_SIZES = 4
"""Bin sizes (and H3 resolutions) whose search structures are kept per term (8-32 bytes a point each)."""

_BIN_BITS = 21
_BIN_MIN_M = 2 * EARTH_RADIUS_M / (1 << _BIN_BITS) * 1.01
_OFFSETS = np.array([(dx, dy, dz) for dx in (-1, 0, 1) for dy in (-1, 0, 1) for dz in (-1, 0, 1)], dtype=np.int64)


def _bin_keys(lat: np.ndarray, lon: np.ndarray, size_m: float) -> np.ndarray:
    """(n, 3) integer bin coordinates of points on the sphere (Earth-centred, ``size_m`` cubes)."""
    return np.floor(latlon_to_xyz(lat, lon) * (EARTH_RADIUS_M / size_m)).astype(np.int64) + (1 << (_BIN_BITS - 1))


def _pack(ijk: np.ndarray) -> np.ndarray:
    return (ijk[:, 0] << (2 * _BIN_BITS)) | (ijk[:, 1] << _BIN_BITS) | ijk[:, 2]


def within_bins(a: TermPoints, b: TermPoints, distance_m: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`within` by a join of 3-D bins, fully vectorised.

    Points fall in Earth-centred cubes at least ``distance_m`` wide; a chord is never longer than its
    arc, so every neighbour lies in one of the 27 cubes around a point. Candidates are found by binary
    search on the packed cube keys and checked by their chord (a monotonic function of the
    great-circle distance on the sphere, so the test is exact; the nearest chord becomes a distance).
    """
    hit = np.zeros(len(a), bool)
    best = np.full(len(a), np.inf)
    if not len(a) or not len(b):
        return hit, best
    size = max(float(distance_m), _BIN_MIN_M)
    prep = b.cache.get(("bins", size))
    if prep is None:  # sorted keys of b, and each distinct bin's run (kept with b: its term's points are cached)
        kb = _pack(_bin_keys(b.lat, b.lon, size))
        order = np.argsort(kb, kind="stable")
        kb = kb[order]
        starts = np.flatnonzero(np.r_[True, kb[1:] != kb[:-1]])
        # kept for the last few distances (a slider must not fill memory)
        prep = _remember(b, ("bins", size), (order, kb[starts], starts, np.diff(np.r_[starts, len(kb)])), BIN_CACHE_SIZES)
    order, ub, ustart, ucount = prep
    xb = b.cache.get(("xyz",))
    if xb is None:
        xb = b.cache[("xyz",)] = latlon_to_xyz(b.lat, b.lon) * EARTH_RADIUS_M
    xa = latlon_to_xyz(a.lat, a.lon) * EARTH_RADIUS_M
    # the chord is a monotonic function of the arc: compare chords, convert the nearest one at the end
    chord_max2 = (2 * EARTH_RADIUS_M * np.sin(min(float(distance_m), np.pi * EARTH_RADIUS_M) / (2 * EARTH_RADIUS_M))) ** 2
    best2 = np.full(len(a), np.inf)
    ka = _bin_keys(a.lat, a.lon, size)
    step = max(1, PAIR_BLOCK // 27 // 8)
    for s0 in range(0, len(a), step):
        blk = ka[s0 : s0 + step]
        keys = _pack((blk[:, None, :] + _OFFSETS[None, :, :]).reshape(-1, 3))
        pos = np.clip(np.searchsorted(ub, keys), 0, len(ub) - 1)
        found = ub[pos] == keys
        lo = ustart[pos]
        cnt = np.where(found, ucount[pos], 0)
        owner = np.repeat(np.arange(s0, s0 + len(blk)), 27)
        nz = cnt > 0
        lo, cnt, owner = lo[nz], cnt[nz], owner[nz]
        bi = order[np.repeat(lo - np.r_[0, np.cumsum(cnt)[:-1]], cnt) + np.arange(cnt.sum())]
        ai = np.repeat(owner, cnt)
        diff = xa[ai] - xb[bi]
        d2 = np.einsum("ij,ij->i", diff, diff)
        ok = d2 <= chord_max2
        hit[ai[ok]] = True
        np.minimum.at(best2, ai[ok], d2[ok])
    best[hit] = 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(np.sqrt(best2[hit]) / (2 * EARTH_RADIUS_M), 1.0))
    return hit, best


def evaluate(query: Query, store: FeatureStore) -> QueryResult:
    """The places where ``query`` holds in ``store``.

    Raises:
        QueryError: a ``key=value`` term no import kept (see :func:`check_terms`).
    """
    problems = check_terms(query, store)
    if problems:
        raise QueryError("; ".join(problems))
    pts = store.points_of(query.anchor.term)
    anchors = len(store.features_of(query.anchor.term))
    later = list(query.clauses[1:])
    # conjunction: evaluate the shortest distances first (fewest candidates, usually most selective)
    order = sorted(range(len(later)), key=lambda i: (later[i].distance_m or 0.0, i))
    found: dict[int, np.ndarray] = {}
    for i in order:
        c = later[i]
        assert c.distance_m is not None
        hit, best = within(pts, store.points_of(c.term), c.distance_m, store.point_res)
        pts = pts.subset(hit)
        found = {j: v[hit] for j, v in found.items()}
        found[i] = best[hit]
    nearest = [found[i] for i in range(len(later))]
    fids, first = np.unique(pts.fid, return_index=True)
    n = len(nearest)
    near = np.full((len(fids), n), np.inf)
    if len(pts.fid):
        inv = np.searchsorted(fids, pts.fid)
        for j, col in enumerate(nearest):
            np.minimum.at(near[:, j], inv, col)
    where = np.stack([pts.lat[first], pts.lon[first]], axis=1) if len(fids) else np.zeros((0, 2))
    return QueryResult(query, pts, fids, near, where, anchors)


def run_query(text: str, store: FeatureStore) -> QueryResult:
    """Parse and evaluate a query (see :func:`parse_query`, :func:`evaluate`)."""
    return evaluate(parse_query(text), store)


def preset_names() -> list[str]:
    """Every preset name, for pickers and help."""
    return list(BY_NAME)


__all__ = [
    "MAX_DISTANCE_M", "Clause", "Query", "QueryError", "QueryResult", "check_terms", "evaluate", "haversine_m",
    "normalise_name", "parse_query", "preset_names", "run_query", "search_plan", "within", "within_bins",
]
