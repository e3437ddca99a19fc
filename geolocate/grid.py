"""Global H3 grids, arbitrary (mixed-resolution) cell sets, point lookup and refinement.

Conventions:
    * Cells are H3 indexes stored as ``uint64`` numpy arrays.
    * Latitudes and longitudes are WGS84 decimal degrees; areas are km² as H3
      computes them (the cells of one resolution sum to 510,065,621.7 km²).
    * ``xyz`` are unit vectors on the sphere (float64), used for great-circle kernels.
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import h3
import numpy as np
from h3.api import numpy_int as h3n

EARTH_RADIUS_KM = 6371.0088
"""Mean Earth radius (IUGG), km. Used by every great-circle computation of the project."""

EARTH_AREA_KM2 = 510_065_621.724
"""Earth's surface area in km² as the sum of H3 cell areas at any resolution."""

DEFAULT_RESOLUTION = 3
"""Base grid resolution, chosen by measurement (docs/architecture.md, benchmarks/bench_resolution.py):
res 3 (41,162 cells) pools 6 experts in ~3 ms (res 4: ~28 ms) and keeps benchmark fields in memory;
refinement of the densest cells supplies the fine scales (and the res-4 layer values) where it matters."""

LAYER_RESOLUTION = 4
"""Resolution at which geodata layers are derived and stored (assets/)."""


class CacheWarning(UserWarning):
    """The cache directory cannot be used; results are computed and kept in memory only."""


_CACHE_PROBLEMS: dict[str, str] = {}
_CACHE_LOCK = threading.Lock()
_log = logging.getLogger(__name__)


def _cache_unusable(folder: Path, err: OSError) -> None:
    """Say once per folder (logged, and kept for :func:`cache_problem`) that caching there is off."""
    reason = "a file is in the way" if folder.exists() and not folder.is_dir() else (err.strerror or type(err).__name__)
    msg = (
        f"cache directory {folder} is not usable ({reason}); derived grids and features are computed again "
        "in each process and kept in memory only. Fix: set GEOLOCATE_CACHE_DIR to a writable folder."
    )
    with _CACHE_LOCK:
        if str(folder) in _CACHE_PROBLEMS:
            return
        _CACHE_PROBLEMS[str(folder)] = msg
    _log.warning(msg)


def cache_problem() -> str | None:
    """The message about an unusable cache directory if this process met one (for the app to show), else None."""
    with _CACHE_LOCK:
        return next(iter(_CACHE_PROBLEMS.values()), None)


def cache_dir() -> Path:
    """Per-user cache directory for derived grids and layers.

    ``GEOLOCATE_CACHE_DIR`` overrides the platform default (``~/.cache/geolocate`` on Linux). When the
    folder cannot be created (a file is in the way, no permission) it is still returned: reads find
    nothing and :func:`write_cache` declines, with one logged message (see :func:`cache_problem`).
    """
    env = os.environ.get("GEOLOCATE_CACHE_DIR")
    if env:
        path = Path(env).expanduser()
    else:
        import platformdirs

        path = Path(platformdirs.user_cache_dir("geolocate"))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        _cache_unusable(path, err)
    return path


def write_cache(path: Path, write: Callable[[BinaryIO], None]) -> bool:
    """Write a cache file atomically: into a unique temporary file beside it, then ``os.replace``.

    Readers in other threads or processes see the old file or the complete new one, never a part;
    concurrent writers of the same path each use their own temporary file (the last rename wins).

    Args:
        path: final file path.
        write: called with a binary file object (e.g. ``lambda f: np.save(f, a)``).

    Returns:
        True when written; False when the folder is unusable (logged once; the caller keeps its result in memory).
    """
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        _cache_unusable(path.parent, err)
        return False
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide a shared cache from other users
        os.replace(tmp, path)
        return True
    except OSError as err:  # disk full, quota, folder removed meanwhile
        _cache_unusable(path.parent, err)
        return False
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def latlon_to_xyz(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Unit vectors of points given in degrees.

    Args:
        lat: latitudes, degrees, shape (n,).
        lon: longitudes, degrees, shape (n,).

    Returns:
        float64 array of shape (n, 3).
    """
    la = np.radians(np.asarray(lat, dtype=np.float64))
    lo = np.radians(np.asarray(lon, dtype=np.float64))
    cos_la = np.cos(la)
    return np.stack([cos_la * np.cos(lo), cos_la * np.sin(lo), np.sin(la)], axis=-1)


def cell_centers(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres (lat, lon in degrees) of H3 cells, shape (n,) each."""
    out = np.empty((len(cells), 2), dtype=np.float64)
    for i, c in enumerate(cells.tolist()):
        out[i] = h3n.cell_to_latlng(c)
    return out[:, 0], out[:, 1]


def cell_areas_km2(cells: np.ndarray) -> np.ndarray:
    """Exact H3 areas of cells in km², shape (n,)."""
    return np.fromiter((h3n.cell_area(c, "km^2") for c in cells.tolist()), dtype=np.float64, count=len(cells))


def points_to_cells(lat: np.ndarray, lon: np.ndarray, res: int) -> np.ndarray:
    """H3 cells (uint64) containing each point; shape (n,).

    Raises:
        ValueError: if a coordinate is NaN or out of range.
    """
    lat = np.asarray(lat, dtype=np.float64).ravel()
    lon = np.asarray(lon, dtype=np.float64).ravel()
    bad = ~np.isfinite(lat) | ~np.isfinite(lon) | (np.abs(lat) > 90) | (np.abs(lon) > 180)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"coordinate {i} out of range or NaN: lat={lat[i]}, lon={lon[i]}")
    return np.fromiter(
        (h3n.latlng_to_cell(a, b, res) for a, b in zip(lat.tolist(), lon.tolist())),
        dtype=np.uint64,
        count=len(lat),
    )


# ---- H3 index bits (the H3 spec's cell index layout; the only module that reads them) ----------------
# Bits 52-55 hold the resolution, 45-51 the base cell, and 15 digits of 3 bits each follow: digit d
# (1..15) at bits 3 (15 - d) .. 3 (15 - d) + 2; digits finer than the cell's resolution are 7 (unused).
_RES_SHIFT = 52
_RES_MASK = np.uint64(0xF << _RES_SHIFT)
_BASE_SHIFT = 45
PENTAGON_BASE_CELLS = np.array([4, 14, 24, 38, 49, 58, 63, 72, 83, 97, 107, 117], dtype=np.uint64)
"""The 12 base cells that are pentagons (a cell is a pentagon when its base cell is and all its digits are 0)."""


def _digits_mask(coarse: int, fine: int) -> int:
    """Bit mask of the H3 digits ``coarse + 1`` .. ``fine`` (3 bits each; empty when fine <= coarse)."""
    if fine <= coarse:
        return 0
    return ((1 << ((15 - coarse) * 3)) - 1) ^ ((1 << ((15 - fine) * 3)) - 1)


@functools.lru_cache(maxsize=16)
def _descendant_tables(res: int) -> tuple[np.ndarray, np.ndarray]:
    """Per cell resolution r (0..15): the mask of digits r+1..res and those digits all set to 6."""
    masks = np.array([_digits_mask(r, res) for r in range(16)], dtype=np.uint64)
    sixes = np.array([sum(6 << ((15 - d) * 3) for d in range(r + 1, res + 1)) for r in range(16)], dtype=np.uint64)
    return masks, sixes


def cell_resolutions(cells: np.ndarray) -> np.ndarray:
    """H3 resolution of each cell, int8 shape (n,)."""
    return ((np.asarray(cells, dtype=np.uint64) >> np.uint64(_RES_SHIFT)) & np.uint64(0xF)).astype(np.int8)


def cells_to_parents(cells: np.ndarray, res: int) -> np.ndarray:
    """Ancestor at ``res`` of every cell (uint64, shape (n,)); cells at or coarser than ``res`` map to themselves.

    Vectorised on the index bits (H3 spec): the resolution field (bits 52-55) becomes ``res`` and the
    digits below it (3 bits each, unused digits are 7) are all set to 7.
    """
    cells = np.asarray(cells, dtype=np.uint64)
    digits_below = np.uint64((1 << ((15 - res) * 3)) - 1)
    parents = (cells & ~_RES_MASK) | np.uint64(res << _RES_SHIFT) | digits_below
    return np.where(cell_resolutions(cells) > res, parents, cells)


def descendant_index_bounds(cells: np.ndarray, res: int) -> tuple[np.ndarray, np.ndarray]:
    """Smallest and largest H3 index the res-``res`` descendants of each cell can have.

    H3 indexes sort by resolution, then base cell, then digits, so a cell's descendants at one
    resolution fill one contiguous block of any sorted array of that resolution's cells: ``lo`` has
    the digits below the cell's resolution down to ``res`` at 0, ``hi`` at 6 (the largest child digit).
    Cells at or finer than ``res`` get their ancestor at ``res`` for both bounds.

    Args:
        cells: uint64 H3 indexes of any (mixed) resolutions, shape (n,).
        res: the descendants' resolution.

    Returns:
        (lo, hi), uint64 shape (n,) each.
    """
    cells = np.asarray(cells, dtype=np.uint64)
    r = cell_resolutions(cells)
    masks, sixes = _descendant_tables(res)
    lo = (cells & ~_RES_MASK & ~masks[r]) | np.uint64(res << _RES_SHIFT)
    hi = lo | sixes[r]
    at_or_finer = r >= res
    if at_or_finer.any():
        parent = cells_to_parents(cells[at_or_finer], res)
        lo[at_or_finer] = hi[at_or_finer] = parent
    return lo, hi


def descendant_counts(cells: np.ndarray, res: int) -> np.ndarray:
    """Number of res-``res`` descendants of each cell.

    7^k for a hexagon, 1 + 5 (7^k - 1) / 6 for a pentagon, k = ``res`` minus the cell's resolution
    (so 1 for cells at or finer than ``res``).

    Returns:
        float64 shape (n,).
    """
    cells = np.asarray(cells, dtype=np.uint64)
    r = cell_resolutions(cells).astype(np.int64)
    k = np.maximum(res - r, 0)
    base = (cells >> np.uint64(_BASE_SHIFT)) & np.uint64(0x7F)
    own_digits = np.array([_digits_mask(0, q) for q in range(16)], dtype=np.uint64)[r]
    penta = np.isin(base, PENTAGON_BASE_CELLS) & ((cells & own_digits) == 0)
    seven_k = np.power(7.0, k)
    return np.where(penta, 1 + 5 * (seven_k - 1) / 6, seven_k)


@dataclass(eq=False)
class CellSet:
    """A set of H3 cells, possibly of mixed resolutions, with geometry precomputed.

    Attributes:
        cells: H3 indexes, uint64, shape (n,).
        lat: centre latitudes in degrees, shape (n,).
        lon: centre longitudes in degrees, shape (n,).
        area_km2: cell areas in km², shape (n,).
    """

    cells: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    area_km2: np.ndarray
    _xyz: np.ndarray | None = field(default=None, repr=False)
    _res: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def from_cells(cls, cells: np.ndarray) -> CellSet:
        """Build a cell set from H3 indexes (computes centres and areas)."""
        cells = np.asarray(cells, dtype=np.uint64)
        lat, lon = cell_centers(cells)
        return cls(cells, lat, lon, cell_areas_km2(cells))

    def __len__(self) -> int:
        return len(self.cells)

    @property
    def xyz(self) -> np.ndarray:
        """Unit vectors of the centres, shape (n, 3)."""
        if self._xyz is None:
            self._xyz = latlon_to_xyz(self.lat, self.lon)
        return self._xyz

    @property
    def resolution(self) -> np.ndarray:
        """H3 resolution of each cell, int8 shape (n,)."""
        if self._res is None:
            self._res = cell_resolutions(self.cells)
        return self._res

    def subset(self, index: np.ndarray) -> CellSet:
        """Cells at positions ``index`` (int array or boolean mask)."""
        xyz = None if self._xyz is None else self._xyz[index]
        res = None if self._res is None else self._res[index]
        return CellSet(self.cells[index], self.lat[index], self.lon[index], self.area_km2[index], xyz, res)

    @staticmethod
    def concat(parts: list[CellSet]) -> CellSet:
        """Concatenate cell sets (no de-duplication)."""
        return CellSet(
            np.concatenate([p.cells for p in parts]),
            np.concatenate([p.lat for p in parts]),
            np.concatenate([p.lon for p in parts]),
            np.concatenate([p.area_km2 for p in parts]),
        )


class Grid(CellSet):
    """All cells of one H3 resolution, sorted by index, so lookups are binary searches."""

    def __init__(self, res: int, cells: np.ndarray, lat: np.ndarray, lon: np.ndarray, area_km2: np.ndarray):
        super().__init__(cells, lat, lon, area_km2)
        self.res = res

    def index_of(self, cells: np.ndarray) -> np.ndarray:
        """Positions of ``cells`` (same resolution as the grid) in the grid; -1 where absent."""
        cells = np.asarray(cells, dtype=np.uint64)
        pos = np.searchsorted(self.cells, cells)
        pos = np.clip(pos, 0, len(self.cells) - 1)
        return np.where(self.cells[pos] == cells, pos, -1).astype(np.int64)

    def locate(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Grid positions (int64, shape (n,)) of the cells containing points given in degrees."""
        return self.index_of(points_to_cells(lat, lon, self.res))

    def index_of_any(self, cells: np.ndarray) -> np.ndarray:
        """Grid positions of the ancestors (at the grid's resolution) of cells of this or any finer resolution."""
        return self.index_of(cells_to_parents(cells, self.res))


def _build_grid_arrays(res: int) -> dict[str, np.ndarray]:
    cells = np.sort(np.concatenate([h3n.cell_to_children(int(c), res) for c in h3n.get_res0_cells()]).astype(np.uint64))
    lat, lon = cell_centers(cells)
    return {"cells": cells, "lat": lat, "lon": lon, "area_km2": cell_areas_km2(cells)}


@functools.lru_cache(maxsize=8)  # layers read resolutions 0-4, refinement walks 0-5
def global_grid(res: int = DEFAULT_RESOLUTION) -> Grid:
    """The global grid of every H3 cell at ``res``, cached in memory and on disk.

    Args:
        res: H3 resolution, 0..6 (res 6 has 14.1 million cells).

    Returns:
        A :class:`Grid` whose areas sum to 510,065,621.7 km².
    """
    if not 0 <= res <= 6:
        raise ValueError(f"global grid resolution must be 0..6, got {res}")
    path = cache_dir() / f"grid_res{res}_h3_{h3.__version__}.npz"
    arrays = None
    if path.exists():
        try:
            with np.load(path) as z:
                arrays = {k: z[k] for k in ("cells", "lat", "lon", "area_km2")}
        except (OSError, ValueError, KeyError):
            arrays = None  # a corrupt cache is rebuilt, never trusted
    if arrays is None:
        arrays = _build_grid_arrays(res)
        built = arrays
        write_cache(path, lambda f: np.savez(f, cells=built["cells"], lat=built["lat"], lon=built["lon"], area_km2=built["area_km2"]))
    return Grid(res, arrays["cells"], arrays["lat"], arrays["lon"], arrays["area_km2"])


@functools.lru_cache(maxsize=65536)
def _children_geometry(cell: int, res: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    kids = np.asarray(h3n.cell_to_children(cell, res), dtype=np.uint64)
    lat, lon = cell_centers(kids)
    return kids, lat, lon, cell_areas_km2(kids)


def children(cells: np.ndarray, res: int) -> tuple[CellSet, np.ndarray]:
    """Children at ``res`` of each cell (cells already at or finer than ``res`` are kept as they are).

    Args:
        cells: H3 cells, uint64, shape (m,).
        res: target resolution.

    Returns:
        (children cell set, int64 array giving for each child the position of its parent in ``cells``).
    """
    cells = np.asarray(cells, dtype=np.uint64)
    parts = []
    for c, r in zip(cells.tolist(), cell_resolutions(cells).tolist()):
        if r >= res:
            lat, lon = h3n.cell_to_latlng(c)
            parts.append((np.array([c], dtype=np.uint64), np.array([lat]), np.array([lon]), np.array([h3n.cell_area(c, "km^2")])))
        else:
            parts.append(_children_geometry(c, res))
    if not parts:
        empty = np.zeros(0)
        return CellSet(np.zeros(0, dtype=np.uint64), empty, empty, empty), np.zeros(0, dtype=np.int64)
    owner = np.repeat(np.arange(len(parts)), [len(p[0]) for p in parts])
    cs = CellSet(*(np.concatenate([p[k] for p in parts]) for k in range(4)))
    return cs, owner


FAST_CHILDREN_MAX_RES = 5
"""Children at resolutions up to this are sliced out of the cached global grids by :func:`child_cells`
(no per-cell H3 calls; the res-5 grid holds 2 million cells, 64 MB, built once per machine)."""


def child_cells(cells: np.ndarray, res: int) -> CellSet:
    """The res-``res`` descendants of every cell as one :class:`CellSet`, each parent's block in index order.

    Up to :data:`FAST_CHILDREN_MAX_RES` the descendants are one contiguous block of the sorted global
    grid (:func:`descendant_index_bounds`), sliced without per-cell H3 calls; finer, :func:`children`.
    Cells at or finer than ``res`` give their ancestor at ``res`` (below the fast limit) or themselves.

    Args:
        cells: uint64 H3 indexes, shape (m,).
        res: the children's resolution.
    """
    cells = np.asarray(cells, dtype=np.uint64)
    if res > FAST_CHILDREN_MAX_RES or not len(cells):
        return children(cells, res)[0]
    grid = global_grid(res)
    lo, hi = descendant_index_bounds(cells, res)
    start = np.searchsorted(grid.cells, lo, side="left")
    counts = np.searchsorted(grid.cells, hi, side="right") - start
    idx = np.repeat(start - np.r_[0, np.cumsum(counts)[:-1]], counts) + np.arange(counts.sum())
    return grid.subset(idx)
