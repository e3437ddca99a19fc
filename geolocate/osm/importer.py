"""Import an OpenStreetMap extract (``.osm.pbf``) into the H3-indexed feature store.

The importer streams the file with pyosmium: pass 1 reads the multipolygon relations (their tags and
member way ids), pass 2 the nodes and ways with node locations through osmium's C++ tag filter (only
objects carrying a preset's first tag reach Python), pass 3, when a kept multipolygon has member ways
not read yet, those ways by id. It keeps the objects that match a preset (:mod:`.presets`) or a
``key=value`` tag asked for, and writes one folder per extract under ``store_dir/extracts/NAME/``:

* ``features.parquet``: one row per OSM object: ``fid``, ``osm_type`` (n, w, r), ``osm_id``, ``name``,
  a representative point ``lat``/``lon`` and ``terms`` (the presets it matches and its stored
  ``key=value`` tags);
* ``points.parquet``: the geometry as points: nodes as themselves, ways and multipolygon outlines as
  their vertices densified to at most :data:`SPACING_M` apart, each with its H3 res-12 ``cell``;
* ``coverage.parquet`` (H3 cells, compacted) and ``coverage.geojson``: where the extract has data
  (cells holding kept features, grown by about :data:`COVERAGE_REACH_M` and clipped to the header's box);
* ``meta.json``: source, counts, tags asked for, the coverage resolution.

Memory stays bounded: features are written in row groups of :data:`CHUNK_POINTS` points; what grows
with the extract is the node location index (``locations``: ``flex_mem`` in memory, or e.g.
``dense_file_array,/tmp/nodes.idx`` on disk for the planet), the member ways of kept multipolygons and
the coverage cells. The folder is written under a temporary name and renamed into place, so a failed
import (a corrupt or truncated file) leaves the store as it was; re-importing an extract of the same
name replaces it.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
import time
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h3
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from h3.api import numpy_int as h3n

from .presets import ANY_VALUES, PRESETS, STORED_KEYS, Preset

Progress = Callable[[float, str], None]

SPACING_M = 10.0
"""Largest gap between stored points along a line or outline, m (distances err by at most half of it)."""

POINT_RES = 12
"""H3 resolution of every stored point's cell (edge 9.4 m, so short distances search few candidates)."""

MATCH_RES = 10
"""Resolution of the matching places the map expert reports (0.015 km²; a point's res-10 cell is its
stored cell's ancestor)."""

CHUNK_POINTS = 200_000
"""Points buffered before a Parquet row group is written."""

EARTH_RADIUS_M = 6_371_008.8

FEATURES_SCHEMA = pa.schema(
    [
        ("fid", pa.int32()),
        ("osm_type", pa.string()),
        ("osm_id", pa.int64()),
        ("name", pa.string()),
        ("lat", pa.float64()),
        ("lon", pa.float64()),
        ("terms", pa.list_(pa.string())),
    ]
)
POINTS_SCHEMA = pa.schema([("fid", pa.int32()), ("lat", pa.float64()), ("lon", pa.float64()), ("cell", pa.uint64())])


class OsmImportError(RuntimeError):
    """An extract could not be imported (unreadable, corrupt or truncated file); the store is unchanged."""


@dataclass(frozen=True)
class ImportSummary:
    """What one import wrote.

    Attributes:
        name: the extract's name in the store (its file name without ``.osm.pbf``).
        path: the extract's folder.
        features: OSM objects kept.
        points: geometry points stored.
        coverage_km2: covered area, km².
        seconds: wall time of the import, s.
        per_preset: features per preset name.
    """

    name: str
    path: Path
    features: int
    points: int
    coverage_km2: float
    seconds: float
    per_preset: dict[str, int]


def extract_name(pbf: str | Path) -> str:
    """The store name of an extract: its file name without ``.osm.pbf`` / ``.pbf``, safe characters only."""
    base = Path(pbf).name
    for suffix in (".osm.pbf", ".pbf", ".osm"):
        if base.lower().endswith(suffix):
            base = base[: -len(suffix)]
            break
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", base).strip("._") or "extract"


def parse_tag(text: str) -> tuple[str, str]:
    """``key=value`` (``key=*`` for any value) -> (key, value).

    Raises:
        ValueError: not of that form.
    """
    key, sep, value = text.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key or not value or any(c in key + value for c in ";\n"):
        raise ValueError(f"a tag must be written key=value (or key=*), got {text[:60]!r}")
    return key, value


class _Matcher:
    """Tag matching for the presets and the extra tags, indexed by key (cheap per object)."""

    def __init__(self, presets: Sequence[Preset], extra: Sequence[tuple[str, str]]):
        self.by_key: dict[str, list[Preset]] = {}
        self.by_kv: dict[tuple[str, str], list[Preset]] = {}  # first condition (key, value) -> presets
        self.by_any: dict[str, list[Preset]] = {}  # first condition "key=any but no" -> presets
        for p in presets:
            for k in {alt[0][0] for alt in p.alternatives}:
                self.by_key.setdefault(k, []).append(p)
            for k, vals in {alt[0] for alt in p.alternatives}:
                if vals is None:
                    self.by_any.setdefault(k, []).append(p)
                else:
                    for v in vals:
                        self.by_kv.setdefault((k, v), []).append(p)
        self.extra = list(extra)
        self.presets = list(presets)
        self.keys = frozenset({k for p in presets for k in p.keys} | set(STORED_KEYS) | {k for k, _ in extra})
        self.trigger = frozenset(set(self.by_key) | {k for k, _ in extra})

    def filter_pairs(self) -> list[tuple[str, str]] | None:
        """(key, value) pairs of which a kept object has at least one (for osmium's TagFilter).

        None when only a key filter can say it (an extra ``key=*`` tag, or an "any value" key not in
        :data:`~.presets.ANY_VALUES`).
        """
        pairs: set[tuple[str, str]] = set()
        for p in self.presets:
            for alt in p.alternatives:
                k, vals = alt[0]
                if vals is None:
                    known = ANY_VALUES.get(k)
                    if known is None:
                        return None
                    vals = known
                pairs.update((k, v) for v in vals)
        for k, v in self.extra:
            if v == "*":
                return None
            pairs.add((k, v))
        return sorted(pairs)

    def terms(self, tags: dict[str, str]) -> list[str]:
        """Preset names and ``key=value`` terms of a kept object; [] when it is not kept."""
        names: list[str] = []
        seen: set[str] = set()
        by_kv, by_any = self.by_kv, self.by_any
        for k, v in tags.items():
            for p in (*by_kv.get((k, v), ()), *by_any.get(k, ())):
                if p.name not in seen and p.matches(tags):
                    seen.add(p.name)
                    names.append(p.name)
        kept = bool(names) or any(tags.get(k) is not None and (v == "*" or tags[k] == v) for k, v in self.extra)
        if not kept:
            return []
        return names + [f"{k}={v}" for k, v in tags.items()]


def _densify(fid: np.ndarray, lat: np.ndarray, lon: np.ndarray, spacing_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Insert points along consecutive vertices of the same feature so no gap exceeds ``spacing_m``."""
    if len(fid) < 2:
        return fid, lat, lon
    same = fid[1:] == fid[:-1]
    la0, la1, lo0, lo1 = np.radians(lat[:-1]), np.radians(lat[1:]), np.radians(lon[:-1]), np.radians(lon[1:])
    dlon = (lo1 - lo0 + np.pi) % (2 * np.pi) - np.pi
    x = dlon * np.cos((la0 + la1) / 2)
    length = EARTH_RADIUS_M * np.hypot(x, la1 - la0)
    extra = np.where(same, np.ceil(length / spacing_m).astype(np.int64) - 1, 0).clip(0, 100_000)
    if not extra.any():
        return fid, lat, lon
    # every vertex i is followed by extra[i] interpolated points (fraction k / (extra + 1))
    reps = np.r_[extra + 1, 1]
    start = np.repeat(np.arange(len(fid)), reps)
    k = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)
    nxt = np.minimum(start + 1, len(fid) - 1)
    t = k / np.repeat(reps, reps)
    dlon_all = np.r_[(lon[1:] - lon[:-1] + 180) % 360 - 180, 0.0]
    out_lat = lat[start] + t * (lat[nxt] - lat[start])
    out_lon = lon[start] + t * dlon_all[start]
    out_lon = (out_lon + 180) % 360 - 180
    return fid[start], out_lat, out_lon


def _cells(lat: np.ndarray, lon: np.ndarray, res: int) -> np.ndarray:
    f = h3n.latlng_to_cell
    return np.fromiter((f(a, b, res) for a, b in zip(lat.tolist(), lon.tolist())), dtype=np.uint64, count=len(lat))


def coverage_resolution(box: tuple[float, float, float, float] | None) -> int:
    """H3 resolution of the coverage of an extract whose header box is ``box`` (W, S, E, N in degrees).

    The finest of res 6..10 that keeps the box under 200,000 cells (a city: res 10; a country: res 7);
    res 8 without a box.
    """
    if box is None:
        return 8
    w, s, e, n = box
    area = (math.radians(e - w) % (2 * math.pi) or 2 * math.pi) * abs(math.sin(math.radians(n)) - math.sin(math.radians(s))) * 6371.0088**2
    for res in range(10, 5, -1):
        if area / h3.average_hexagon_area(res, "km^2") <= 200_000:
            return res
    return 6


class _Writer:
    """Buffers features and points, writes Parquet row groups, collects coverage cells."""

    def __init__(self, folder: Path, cov_res: int, spacing_m: float):
        self.features_w = pq.ParquetWriter(folder / "features.parquet", FEATURES_SCHEMA, compression="zstd")
        self.points_w = pq.ParquetWriter(folder / "points.parquet", POINTS_SCHEMA, compression="zstd")
        self.cov_res, self.spacing = cov_res, spacing_m
        self.quantum = max(h3.average_hexagon_edge_length(cov_res, "m") / 3.0 / 111_000.0, 1e-5)
        self.cov_cells: set[int] = set()
        self.n_features = self.n_points = 0
        self.per_preset: dict[str, int] = {p.name: 0 for p in PRESETS}
        self._reset()

    def _reset(self) -> None:
        self.f_rows: dict[str, list] = {k: [] for k in FEATURES_SCHEMA.names}
        self.run_fid: list[int] = []
        self.v_run: list[int] = []
        self.v_lat: list[float] = []
        self.v_lon: list[float] = []
        self.s_lat: list[float] = []
        self.s_lon: list[float] = []

    def feature(self, osm_type: str, osm_id: int, name: str | None, terms: list[str], runs: Sequence[tuple[Sequence[float], Sequence[float]]]) -> None:
        """One kept object: its terms and its geometry as runs of (lat, lon) vertices (one per way)."""
        fid = self.n_features
        self.n_features += 1
        for t in terms:
            if t in self.per_preset:
                self.per_preset[t] += 1
        r = self.f_rows
        r["fid"].append(fid)
        r["osm_type"].append(osm_type)
        r["osm_id"].append(osm_id)
        r["name"].append(name)
        r["lat"].append(runs[0][0][0])
        r["lon"].append(runs[0][1][0])
        r["terms"].append(terms)
        for lat, lon in runs:
            self.run_fid.append(fid)
            self.v_run += [len(self.run_fid) - 1] * len(lat)
            self.v_lat += lat
            self.v_lon += lon
        if len(self.v_run) >= CHUNK_POINTS:
            self.flush()

    def flush_samples(self, lat: np.ndarray, lon: np.ndarray) -> None:
        """Add the coverage cells of locations (quantised first, so H3 sees few distinct points)."""
        if not len(lat):
            return
        q = self.quantum
        key = np.unique(np.stack([np.round(lat / q), np.round(lon / q)], axis=1), axis=0)
        self.cov_cells.update(_cells(np.clip(key[:, 0] * q, -90, 90), ((key[:, 1] * q + 180) % 360) - 180, self.cov_res).tolist())

    def flush(self) -> None:
        """Write the buffered features and points as one row group each."""
        if self.f_rows["fid"]:
            self.features_w.write_table(pa.table(self.f_rows, schema=FEATURES_SCHEMA))
        if self.v_run:
            run, lat, lon = _densify(np.asarray(self.v_run, np.int64), np.asarray(self.v_lat), np.asarray(self.v_lon), self.spacing)
            fid = np.asarray(self.run_fid, np.int32)[run]
            cells = _cells(lat, lon, POINT_RES)
            self.points_w.write_table(pa.table({"fid": fid, "lat": lat, "lon": lon, "cell": cells}, schema=POINTS_SCHEMA))
            self.n_points += len(fid)
            self.flush_samples(lat, lon)
        self._reset()

    def close(self) -> None:
        self.flush()
        self.flush_samples(np.asarray(self.s_lat), np.asarray(self.s_lon))
        self.features_w.close()
        self.points_w.close()


COVERAGE_REACH_M = 300.0
"""The coverage is the cells holding kept features, grown by about this much (and clipped to the box)."""


def _coverage(cells: set[int], res: int, box: tuple[float, float, float, float] | None) -> np.ndarray:
    """Footprint cells grown by :data:`COVERAGE_REACH_M` (at least one ring), clipped to the header box, compacted."""
    rings = max(1, round(COVERAGE_REACH_M / h3.average_hexagon_edge_length(res, "m") / 1.5))
    grown: set[int] = set()
    for c in cells:
        grown.update(h3n.grid_disk(c, rings).tolist())
    arr = np.fromiter(grown, dtype=np.uint64, count=len(grown))
    if box is not None and len(arr):
        w, s, e, n = box
        lat = np.empty(len(arr))
        lon = np.empty(len(arr))
        for i, c in enumerate(arr.tolist()):
            lat[i], lon[i] = h3n.cell_to_latlng(c)
        inside = (lat >= s) & (lat <= n) & ((lon >= w) & (lon <= e) if w <= e else ((lon >= w) | (lon <= e)))
        # keep the footprint itself even where a cell's centre falls just outside the box
        inside |= np.isin(arr, np.fromiter(cells, dtype=np.uint64, count=len(cells)))
        arr = arr[inside]
    if not len(arr):
        return arr
    return np.sort(np.asarray(h3n.compact_cells(arr), dtype=np.uint64))


def _header_box(pbf: str) -> tuple[float, float, float, float] | None:
    import osmium

    reader = osmium.io.Reader(pbf, osmium.osm.osm_entity_bits.NOTHING)
    try:
        box = reader.header().box()
    finally:
        reader.close()
    if not box.valid():
        return None
    return (box.bottom_left.lon, box.bottom_left.lat, box.top_right.lon, box.top_right.lat)


def _trim() -> None:
    """Give freed heap back to the system (glibc keeps what the reader threads freed in their arenas)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


NODE_ID_RANGE, WAY_ID_RANGE = 1.4e10, 1.5e9
"""Roughly the largest node and way ids in OpenStreetMap (2026), for the progress estimate only."""


def _way_coords(way: Any) -> tuple[list[float], list[float]]:
    lat: list[float] = []
    lon: list[float] = []
    for nd in way.nodes:
        loc = nd.location
        if loc.valid():
            lat.append(loc.lat)
            lon.append(loc.lon)
    return lat, lon


def _tags(obj: object, keys: frozenset[str]) -> tuple[dict[str, str], str | None]:
    tags: dict[str, str] = {}
    name = None
    for t in obj.tags:  # type: ignore[attr-defined]
        k = t.k
        if k in keys:
            tags[k] = t.v
        elif k == "name":
            name = t.v
    return tags, name


def import_extract(
    pbf: str | Path,
    store_dir: str | Path,
    extra_tags: Iterable[str | tuple[str, str]] = (),
    progress: Progress | None = None,
    locations: str = "flex_mem",
    spacing_m: float = SPACING_M,
) -> ImportSummary:
    """Import one extract into the feature store (replacing an earlier import of the same name).

    Args:
        pbf: the ``.osm.pbf`` file (any extract: a city, a Geofabrik country, the planet).
        store_dir: the store folder (created when missing); other extracts in it are kept.
        extra_tags: ``key=value`` (or ``key=*``) tags kept besides the presets.
        progress: called with (fraction 0..1, message); the fraction is estimated from the file size.
        locations: pyosmium node location index (``flex_mem``; ``dense_file_array,FILE`` for the planet).
        spacing_m: largest gap between stored points along lines and outlines, m.

    Returns:
        What was written.

    Raises:
        OsmImportError: the file is missing, unreadable, corrupt or truncated (nothing is written).
        ValueError: a tag is not ``key=value``.
    """
    import osmium

    t0 = time.perf_counter()
    pbf = str(pbf)
    extra = [parse_tag(t) if isinstance(t, str) else (str(t[0]), str(t[1])) for t in extra_tags]
    if not os.path.isfile(pbf):
        raise OsmImportError(f"no such extract: {pbf}")
    size = max(os.path.getsize(pbf), 1)
    report = progress or (lambda f, m: None)
    name = extract_name(pbf)
    store = Path(store_dir).expanduser()
    (store / "extracts").mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".import-{name}-", dir=store))
    os.chmod(tmp, 0o755)
    matcher = _Matcher(PRESETS, extra)
    try:
        try:
            box = _header_box(pbf)
            cov_res = coverage_resolution(box)
            writer = _Writer(tmp, cov_res, spacing_m)
            # pass 1: multipolygon relations that match, and their member ways
            report(0.0, "reading relations")
            relations: list[tuple[int, dict[str, str], str | None, list[str], list[int]]] = []
            member_ways: dict[int, tuple[array, array] | None] = {}  # way id -> (lat, lon), 16 bytes a point
            rel: Any
            for rel in osmium.FileProcessor(pbf, osmium.osm.RELATION):
                if rel.tags.get("type") not in ("multipolygon", "boundary"):
                    continue
                tags, nm = _tags(rel, matcher.keys)
                if not tags.keys() & matcher.trigger:
                    continue
                terms = matcher.terms(tags)
                if not terms:
                    continue
                ways = [m.ref for m in rel.members if m.type == "w"]
                relations.append((rel.id, tags, nm, terms, ways))
                for w in ways:
                    member_ways[w] = None
            # pass 2: the nodes and ways that may match (a C++ tag filter: only candidates reach Python)
            fp = osmium.FileProcessor(pbf, osmium.osm.NODE | osmium.osm.WAY).with_locations(locations)
            pairs = matcher.filter_pairs()
            fp = fp.with_filter(osmium.filter.TagFilter(*pairs) if pairs is not None else osmium.filter.KeyFilter(*sorted(matcher.trigger)))
            seen = 0
            obj: Any
            for obj in fp:
                seen += 1
                if seen % 5_000 == 0:
                    # PBF files are sorted by type and id; ids grow over the whole planet's range
                    frac = 0.05 + 0.85 * (0.5 * min(obj.id / NODE_ID_RANGE, 1.0) if obj.is_node() else 0.5 + 0.5 * min(obj.id / WAY_ID_RANGE, 1.0))
                    report(frac, f"{writer.n_features:,} features")
                tags, nm = _tags(obj, matcher.keys)
                terms = matcher.terms(tags)
                if not terms:
                    continue
                if obj.is_node():
                    if obj.location.valid():
                        loc = obj.location
                        writer.feature("n", obj.id, nm, terms, [([loc.lat], [loc.lon])])
                    continue
                lat, lon = _way_coords(obj)
                if lat:
                    writer.feature("w", obj.id, nm, terms, [(lat, lon)])
                    if obj.id in member_ways:
                        member_ways[obj.id] = (array("d", lat), array("d", lon))
            del fp
            _trim()
            # pass 3: the member ways of kept multipolygons not read yet (untagged outers, mostly)
            missing = [w for w, v in member_ways.items() if v is None]
            if missing:
                report(0.9, "multipolygon members")
                only_ways = osmium.filter.EntityFilter(osmium.osm.WAY)
                fp3 = osmium.FileProcessor(pbf, osmium.osm.NODE | osmium.osm.WAY).with_locations(locations).with_filter(only_ways).with_filter(osmium.filter.IdFilter(missing))
                for obj in fp3:
                    lat, lon = _way_coords(obj)
                    if lat:
                        member_ways[obj.id] = (array("d", lat), array("d", lon))
            report(0.96, "multipolygons")
            for rid, _tags_r, nm, terms, ways in relations:
                runs = []
                for w in ways:
                    pts = member_ways.get(w)
                    if pts is not None and len(pts[0]):
                        runs.append((pts[0].tolist(), pts[1].tolist()))
                if runs:
                    writer.feature("r", rid, nm, terms, runs)
            writer.close()
        except (RuntimeError, OSError, osmium.InvalidLocationError) as err:
            raise OsmImportError(f"could not read {pbf} as an OSM PBF extract (corrupt or truncated?): {err}") from err
        report(0.97, "coverage")
        cov = _coverage(writer.cov_cells, cov_res, box)
        pq.write_table(pa.table({"cell": pa.array(cov, pa.uint64())}), tmp / "coverage.parquet")
        area = float(sum(h3n.cell_area(int(c), "km^2") for c in cov.tolist()))
        geo = h3n.cells_to_geo(np.asarray(h3n.uncompact_cells(cov, cov_res), dtype=np.uint64)) if len(cov) else {"type": "MultiPolygon", "coordinates": []}
        (tmp / "coverage.geojson").write_text(json.dumps({"type": "Feature", "properties": {"extract": name}, "geometry": geo}))
        meta = {
            "name": name,
            "source": os.path.abspath(pbf),
            "source_bytes": size,
            "header_box": box,
            "coverage_res": cov_res,
            "coverage_km2": area,
            "features": writer.n_features,
            "points": writer.n_points,
            "spacing_m": spacing_m,
            "point_res": POINT_RES,
            "extra_tags": [f"{k}={v}" for k, v in extra],
            "per_preset": writer.per_preset,
            "imported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        dest = store / "extracts" / name
        old = None
        if dest.exists():
            old = store / f".old-{name}-{os.getpid()}-{time.time_ns()}"
            os.replace(dest, old)
        os.replace(tmp, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        report(1.0, f"{writer.n_features:,} features")
        return ImportSummary(name, dest, writer.n_features, writer.n_points, area, time.perf_counter() - t0, dict(writer.per_preset))
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


__all__ = ["MATCH_RES", "POINT_RES", "SPACING_M", "ImportSummary", "OsmImportError", "coverage_resolution", "extract_name", "import_extract", "parse_tag"]
