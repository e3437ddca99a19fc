"""Reading the feature store written by :mod:`.importer`: every extract merged, indexed for queries.

:func:`load_store` reads every extract of a store folder once per process (memoised on the folder and
the extracts' modification times) into a :class:`FeatureStore`: feature attributes, one sorted feature
index per term (preset or ``key=value``), the points in feature order, and the union of the coverages
as a :class:`CellArea` (disjoint cells of mixed resolution, for exact covered areas of any cell).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..grid import cell_areas_km2, cell_resolutions, cells_to_parents


def default_store_dir() -> Path:
    """The store ``osm import`` writes by default: ``GEOLOCATE_OSM_STORE``, else the user data dir's ``osm``."""
    env = os.environ.get("GEOLOCATE_OSM_STORE")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("geolocate")) / "osm"


class CellArea:
    """A region given as disjoint H3 cells of mixed resolutions, with the exact area it shares with any cell.

    Args:
        cells: H3 cells (any resolutions); a cell inside another one of the set is dropped.
    """

    def __init__(self, cells: np.ndarray):
        cells = np.unique(np.asarray(cells, dtype=np.uint64))
        res = cell_resolutions(cells)
        keep = np.ones(len(cells), bool)
        levels = sorted(set(res.tolist()))
        for r in levels:  # drop cells with an ancestor in the set
            coarse = cells[res < r]
            sel = np.flatnonzero(res == r)
            for rr in {int(x) for x in res[res < r].tolist()}:
                anc = np.sort(coarse[cell_resolutions(coarse) == rr])
                par = cells_to_parents(cells[sel], rr)
                pos = np.clip(np.searchsorted(anc, par), 0, max(len(anc) - 1, 0))
                keep[sel[anc[pos] == par]] = False
        cells, res = cells[keep], res[keep]
        self.levels: dict[int, np.ndarray] = {int(r): np.sort(cells[res == r]) for r in np.unique(res).tolist()}
        self._areas = {r: cell_areas_km2(c) for r, c in self.levels.items()}
        self._tables: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._lock = threading.Lock()

    @property
    def cells(self) -> np.ndarray:
        """Every cell of the set, sorted."""
        return np.sort(np.concatenate([c for c in self.levels.values()])) if self.levels else np.zeros(0, np.uint64)

    @property
    def area_km2(self) -> float:
        """Total area, km²."""
        return float(sum(a.sum() for a in self._areas.values()))

    def __len__(self) -> int:
        return sum(len(c) for c in self.levels.values())

    def _table(self, level: int, res: int) -> tuple[np.ndarray, np.ndarray]:
        """(ancestors at ``res`` of the level's cells, summed area per ancestor), memoised."""
        key = (level, res)
        with self._lock:
            hit = self._tables.get(key)
            if hit is None:
                par = cells_to_parents(self.levels[level], res)  # sorted: parents of sorted cells are sorted
                starts = np.flatnonzero(np.r_[True, par[1:] != par[:-1]]) if len(par) else np.zeros(0, np.int64)
                sums = np.add.reduceat(self._areas[level], starts) if len(par) else np.zeros(0)
                hit = self._tables[key] = (par[starts], sums)
            return hit

    def overlap_km2(self, cells: np.ndarray, area_km2: np.ndarray) -> np.ndarray:
        """Area of each cell inside the region, km² (exact: a sum of H3 cell areas), shape (n,).

        Args:
            cells: H3 cells of any resolution 0..15.
            area_km2: their areas (``CellSet.area_km2``).
        """
        cells = np.asarray(cells, dtype=np.uint64)
        area_km2 = np.asarray(area_km2, dtype=np.float64)
        out = np.zeros(len(cells))
        res = cell_resolutions(cells)
        for level, members in self.levels.items():
            if not len(members):
                continue
            fine = res >= level
            if fine.any():
                par = cells_to_parents(cells[fine], level)
                pos = np.clip(np.searchsorted(members, par), 0, len(members) - 1)
                out[fine] += np.where(members[pos] == par, area_km2[fine], 0.0)
            for r in np.unique(res[~fine]).tolist():
                sel = np.flatnonzero(res == r)
                anc, sums = self._table(level, int(r))
                pos = np.clip(np.searchsorted(anc, cells[sel]), 0, len(anc) - 1)
                out[sel] += np.where(anc[pos] == cells[sel], sums[pos], 0.0)
        return np.minimum(out, area_km2)

    def contains(self, cells: np.ndarray) -> np.ndarray:
        """True for cells (at or finer than every level) lying inside the region, shape (n,)."""
        cells = np.asarray(cells, dtype=np.uint64)
        out = np.zeros(len(cells), bool)
        for level, members in self.levels.items():
            if len(members):
                par = cells_to_parents(cells, level)
                pos = np.clip(np.searchsorted(members, par), 0, len(members) - 1)
                out |= (members[pos] == par) & (cell_resolutions(cells) >= level)
        return out


@dataclass
class TermPoints:
    """The points of every feature of one term, sorted by their res-12 cell.

    Attributes:
        cell: H3 res-12 cells, sorted, uint64 (n,).
        lat: latitudes, degrees (n,).
        lon: longitudes, degrees (n,).
        fid: feature index of each point (n,).
    """

    cell: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    fid: np.ndarray
    cache: dict = field(default_factory=dict, repr=False, compare=False)
    """Search structures derived from these points (e.g. sorted bin keys per bin size), kept with them."""

    def __len__(self) -> int:
        return len(self.cell)

    def subset(self, index: np.ndarray) -> TermPoints:
        """The points at ``index`` (positions or mask), order kept."""
        return TermPoints(self.cell[index], self.lat[index], self.lon[index], self.fid[index])


@dataclass
class FeatureStore:
    """Every extract of a store folder, merged.

    Attributes:
        folder: the store folder.
        extracts: each extract's ``meta.json``.
        osm_type, osm_id, name, lat, lon: per feature (global feature index).
        terms: term -> sorted feature indexes.
        point_fid, point_lat, point_lon, point_cell: the points, in feature order.
        coverage: the union of the extracts' coverages.
    """

    folder: Path
    extracts: list[dict]
    osm_type: np.ndarray
    osm_id: np.ndarray
    name: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    terms: dict[str, np.ndarray]
    point_fid: np.ndarray
    point_lat: np.ndarray
    point_lon: np.ndarray
    point_cell: np.ndarray
    coverage: CellArea
    _term_points: dict[str, TermPoints] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def is_empty(self) -> bool:
        """True when no extract has been imported."""
        return not self.extracts

    @property
    def point_res(self) -> int:
        """Resolution of the points' cells (the coarsest over the extracts; 10 for stores older than res 12)."""
        return min((int(m.get("point_res", 10)) for m in self.extracts), default=12)

    @property
    def extra_tags(self) -> set[str]:
        """The ``key=value`` tags some import asked for."""
        return {t for m in self.extracts for t in m.get("extra_tags", [])}

    def __len__(self) -> int:
        return len(self.osm_id)

    def features_of(self, term: str) -> np.ndarray:
        """Sorted feature indexes holding ``term`` (empty when none)."""
        return self.terms.get(term, np.zeros(0, np.int64))

    def points_of(self, term: str) -> TermPoints:
        """The points of every feature holding ``term``, sorted by cell (memoised per term)."""
        with self._lock:
            hit = self._term_points.get(term)
        if hit is not None:
            return hit
        fids = self.features_of(term)
        start = np.searchsorted(self.point_fid, fids, side="left")
        stop = np.searchsorted(self.point_fid, fids, side="right")
        counts = stop - start
        idx = np.repeat(start - np.r_[0, np.cumsum(counts)[:-1]], counts) + np.arange(counts.sum())
        order = np.argsort(self.point_cell[idx], kind="stable")
        idx = idx[order]
        tp = TermPoints(self.point_cell[idx], self.point_lat[idx], self.point_lon[idx], self.point_fid[idx])
        with self._lock:
            self._term_points[term] = tp
        return tp

    def coverage_geojson(self) -> dict:
        """The extracts' coverages as one GeoJSON FeatureCollection (one feature per extract, for the Layers page)."""
        feats = []
        for m in self.extracts:
            path = self.folder / "extracts" / str(m["name"]) / "coverage.geojson"
            if path.is_file():
                f = json.loads(path.read_text())
                f["properties"] = {"extract": m["name"], "features": m.get("features", 0), "coverage_km2": m.get("coverage_km2", 0.0)}
                feats.append(f)
        return {"type": "FeatureCollection", "features": feats}

    def url(self, fid: int) -> str:
        """The feature's page on openstreetmap.org."""
        kind = {"n": "node", "w": "way", "r": "relation"}[str(self.osm_type[fid])]
        return f"https://www.openstreetmap.org/{kind}/{int(self.osm_id[fid])}"


_CACHE: dict[tuple, FeatureStore] = {}
_CACHE_LOCK = threading.Lock()


def _signature(folder: Path) -> tuple:
    root = folder / "extracts"
    if not root.is_dir():
        return (str(folder),)
    parts = []
    for d in sorted(root.iterdir()):
        meta = d / "meta.json"
        if meta.is_file():
            parts.append((d.name, meta.stat().st_mtime_ns))
    return (str(folder), *parts)


def load_store(folder: str | Path | None = None) -> FeatureStore:
    """The merged store in ``folder`` (default :func:`default_store_dir`); an empty store when nothing is imported.

    Memoised per process on the folder and its extracts' modification times (a new import is seen).
    """
    folder = Path(folder).expanduser() if folder is not None else default_store_dir()
    sig = _signature(folder)
    with _CACHE_LOCK:
        hit = _CACHE.get(sig)
    if hit is not None:
        return hit
    store = _read(folder)
    with _CACHE_LOCK:
        for k in [k for k in _CACHE if k[0] == sig[0]]:
            del _CACHE[k]
        _CACHE[sig] = store
    return store


def _read(folder: Path) -> FeatureStore:
    metas: list[dict] = []
    feats: list[pa.Table] = []
    pts: list[pa.Table] = []
    cov: list[np.ndarray] = []
    offset = 0
    root = folder / "extracts"
    for d in sorted(root.iterdir()) if root.is_dir() else []:
        if not (d / "meta.json").is_file():
            continue
        meta = json.loads((d / "meta.json").read_text())
        f = pq.read_table(d / "features.parquet")
        p = pq.read_table(d / "points.parquet")
        f = f.set_column(0, "fid", pc.add(f["fid"].cast(pa.int64()), offset))
        p = p.set_column(0, "fid", pc.add(p["fid"].cast(pa.int64()), offset))
        offset += f.num_rows
        metas.append(meta)
        feats.append(f)
        pts.append(p)
        cov.append(pq.read_table(d / "coverage.parquet")["cell"].to_numpy())
    if feats:
        f = pa.concat_tables(feats)
        p = pa.concat_tables(pts)
    else:
        from .importer import FEATURES_SCHEMA, POINTS_SCHEMA

        f, p = FEATURES_SCHEMA.empty_table(), POINTS_SCHEMA.empty_table()
    terms_col = f["terms"].combine_chunks()
    flat = pc.list_flatten(terms_col)
    parent = pc.list_parent_indices(terms_col).to_numpy().astype(np.int64)
    enc = pc.dictionary_encode(flat) if len(flat) else pa.DictionaryArray.from_arrays(pa.array([], pa.int32()), pa.array([], pa.string()))
    codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    names = enc.dictionary.to_pylist()
    order = np.lexsort((parent, codes))
    codes_s, parent_s = codes[order], parent[order]
    bounds = np.searchsorted(codes_s, np.arange(len(names) + 1))
    terms = {names[i]: np.unique(parent_s[bounds[i] : bounds[i + 1]]) for i in range(len(names))}
    return FeatureStore(
        folder=folder,
        extracts=metas,
        osm_type=f["osm_type"].to_numpy(zero_copy_only=False),
        osm_id=f["osm_id"].to_numpy(),
        name=f["name"].to_numpy(zero_copy_only=False),
        lat=f["lat"].to_numpy(),
        lon=f["lon"].to_numpy(),
        terms=terms,
        point_fid=p["fid"].to_numpy(),
        point_lat=p["lat"].to_numpy(),
        point_lon=p["lon"].to_numpy(),
        point_cell=p["cell"].to_numpy(),
        coverage=CellArea(np.concatenate(cov) if cov else np.zeros(0, np.uint64)),
    )


__all__ = ["CellArea", "FeatureStore", "TermPoints", "default_store_dir", "load_store"]
