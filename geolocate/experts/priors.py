"""Priors: where photos are taken regardless of their content.

Each prior is a density field on the layer grid (res 4); coarser cells take the area-weighted mean and
finer cells inherit their ancestor's value.

    * ``UniformLandPrior``: proportional to land fraction (MODIS), plus 1 % of that on open sea.
    * ``PopulationPrior``: people per km² (GeoNames places, or any population GeoTIFF) plus 1 person/km²
      on land, so empty land is unlikely but possible.
    * ``PhotoDensityPrior``: the GeoCLIP 100K GPS gallery (sampled from MP-16 Flickr photo locations),
      counted per cell and divided by the cell's area, plus 0.01 photo per cell on land.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from ..grid import LAYER_RESOLUTION, CellSet, global_grid
from ..layers import Layer, _geonames_counts, land_fraction, population_counts_geotiff
from .base import Expert, ExpertKind, descendant_value_range

SEA_FLOOR = 0.01
"""Density of open sea relative to land for the land-based priors."""


class DensityFieldExpert(Expert):
    """An expert given by a non-negative density (any unit per km²) on the layer grid.

    Args:
        name: label.
        density: (n,) values on ``global_grid(LAYER_RESOLUTION)``.
        kind: expert kind.
    """

    def __init__(self, name: str, density: np.ndarray, kind: ExpertKind = ExpertKind.PRIOR, source: str = ""):
        grid = global_grid(LAYER_RESOLUTION)
        density = np.asarray(density, dtype=np.float64)
        if density.shape != (len(grid),) or np.any(~np.isfinite(density)) or np.any(density < 0) or not density.sum() > 0:
            raise ValueError(f"{name}: density must be finite, non-negative, with shape ({len(grid)},)")
        self.name, self.kind, self.source = name, kind, source
        self._layer = Layer(name, ["density"], grid, density[:, None].astype(np.float32), source)

    def log_density(self, cells: CellSet) -> np.ndarray:
        """Log of the field's value (area-weighted mean for coarser cells, the ancestor's for finer)."""
        return np.log(np.maximum(self._layer.values_at(cells)[:, 0].astype(np.float64), 1e-30))

    def log_density_bounds(self, cells: CellSet, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Exact bounds: the min and max of the field's cells below each cell (equal from res 4 on)."""
        lo, hi = descendant_value_range(self._layer.fractions, self._layer.grid.cells, cells.cells)
        lo, hi = (np.log(np.maximum(v[:, 0], 1e-30)) for v in (lo, hi))
        return (lo, hi) if rows is None else (lo[None, :], hi[None, :])


@functools.lru_cache(maxsize=1)
def _land_density() -> np.ndarray:
    land = land_fraction()
    return land + SEA_FLOOR * (1 - land)


class UniformLandPrior(DensityFieldExpert):
    """Uniform over land (MODIS land fraction), open sea at 1 % of land."""

    def __init__(self):
        super().__init__("uniform land", _land_density(), source="MODIS MCD12C1 2019 land fraction")


class PopulationPrior(DensityFieldExpert):
    """Proportional to population density (people per km²) plus 1 person/km² on land.

    Args:
        geotiff: optional population-count GeoTIFF (LandScan, GHS-POP, WorldPop) in lat/lon;
            default GeoNames places with >= 1,000 people.
    """

    def __init__(self, geotiff: str | Path | None = None):
        grid = global_grid(LAYER_RESOLUTION)
        counts = population_counts_geotiff(geotiff) if geotiff else _geonames_counts()
        density = counts / grid.area_km2 + _land_density()
        source = f"population GeoTIFF {Path(geotiff).name}" if geotiff else "GeoNames places >= 1,000 people"
        super().__init__("population", density, source=source)


@functools.lru_cache(maxsize=1)
def geoclip_gallery() -> np.ndarray:
    """The 100K (lat, lon) GPS gallery shipped in the ``geoclip`` wheel, float64 (100000, 2), degrees.

    Read once per process.
    """
    import importlib.util

    import pandas as pd

    spec = importlib.util.find_spec("geoclip")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the geoclip package is not installed (pip install geoclip)")
    path = Path(list(spec.submodule_search_locations)[0]) / "model" / "gps_gallery" / "coordinates_100K.csv"
    df = pd.read_csv(path)
    out = df[["LAT", "LON"]].to_numpy(dtype=np.float64)
    out.setflags(write=False)
    return out


@functools.lru_cache(maxsize=1)
def gallery_cells() -> np.ndarray:
    """Position in ``global_grid(LAYER_RESOLUTION)`` of each gallery photo, int64 (100000,) (computed once)."""
    g = geoclip_gallery()
    out = global_grid(LAYER_RESOLUTION).locate(g[:, 0], g[:, 1])
    out.setflags(write=False)
    return out


def _gallery_counts() -> np.ndarray:
    return np.bincount(gallery_cells(), minlength=len(global_grid(LAYER_RESOLUTION))).astype(np.float64)


class PhotoDensityPrior(DensityFieldExpert):
    """Where photos are taken: GeoCLIP gallery photos (MP-16 locations) per km² of each cell.

    Plus 0.01 photo per cell on land (0.0001 at sea) so unvisited places stay possible.
    """

    def __init__(self):
        grid = global_grid(LAYER_RESOLUTION)
        density = (_gallery_counts() + 0.01 * _land_density()) / grid.area_km2
        super().__init__("photo density", density, source="GeoCLIP 100K gallery (MP-16)")


PRIORS: dict[str, type[Expert]] = {"uniform land": UniformLandPrior, "population": PopulationPrior, "photo density": PhotoDensityPrior}
"""The prior registry: expert name -> class (no arguments). A new prior is one entry here (and its
default weight in a preset, :mod:`geolocate.presets`)."""


def list_priors() -> list[str]:
    """Names of the registered priors, in registry order."""
    return list(PRIORS)


def get_prior(name: str) -> Expert:
    """A new instance of the prior registered as ``name``.

    Raises:
        ValueError: no such prior (the message lists the known ones).
    """
    if name not in PRIORS:
        raise ValueError(f"unknown prior {name!r}; choose from {list(PRIORS)}")
    return PRIORS[name]()


def standard_priors(names: list[str] | None = None) -> list[Expert]:
    """The registered priors (all, or ``names``); those whose data is missing are skipped with a warning."""
    out: list[Expert] = []
    for name in list(PRIORS) if names is None else names:
        try:
            out.append(get_prior(name))
        except (FileNotFoundError, ImportError) as err:  # pragma: no cover - depends on the install
            import warnings

            warnings.warn(f"prior {name!r} unavailable: {err}", stacklevel=2)
    return out
