"""Derive the country layer (area shares of each country per H3 res-4 cell) from admin-0 polygons.

Default source: Natural Earth 1:110m admin-0 countries, the copy shipped in pyogrio's test fixtures
(``pyogrio/tests/fixtures/naturalearth_lowres``: columns name, iso_a3, continent). Any polygon file
readable by geopandas with an ISO-3 column works (e.g. Natural Earth 1:10m for finer borders):

    python scripts/derive_countries.py [--shp FILE --iso-column ISO_A3 --name-column NAME]

Shares are the fraction of each res-4 cell's 7 res-5 children whose centres fall in the country.
Writes assets/countries_res4.npz and assets/countries.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from geolocate.grid import LAYER_RESOLUTION, global_grid  # noqa: E402
from geolocate.layers import ASSETS, save_sparse  # noqa: E402


def default_shp() -> Path:
    import pyogrio

    return Path(pyogrio.__file__).parent / "tests" / "fixtures" / "naturalearth_lowres" / "naturalearth_lowres.shp"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shp", type=Path, default=None)
    ap.add_argument("--iso-column", default="iso_a3")
    ap.add_argument("--name-column", default="name")
    ap.add_argument("--continent-column", default="continent")
    args = ap.parse_args()

    import geopandas as gpd
    import shapely

    shp = args.shp or default_shp()
    gdf = gpd.read_file(shp).to_crs(4326)
    gdf = gdf[gdf.geometry.notna()].reset_index(drop=True)
    # Natural Earth 1:110m leaves iso_a3 as "-99" for a few countries (a known quirk of that release):
    # give the well-known ones their ISO code, and key the rest by name.
    known = {"France": "FRA", "Norway": "NOR", "Kosovo": "XKX", "Somaliland": "SOL", "N. Cyprus": "CYN"}
    iso = [
        i if isinstance(i, str) and i != "-99" else known.get(n, n[:3].upper() + "_")
        for i, n in zip(gdf[args.iso_column], gdf[args.name_column])
    ]
    table = [
        {"iso3": code, "name": name, "continent": gdf.get(args.continent_column, [""] * len(gdf))[k]}
        for k, (code, name) in enumerate(zip(iso, gdf[args.name_column]))
    ]

    grid = global_grid(LAYER_RESOLUTION)
    fine = global_grid(LAYER_RESOLUTION + 1)
    parent = grid.index_of_any(fine.cells)
    tree = shapely.STRtree(gdf.geometry.values)
    pts = shapely.points(fine.lon, fine.lat)
    pi, gi = tree.query(pts, predicate="within")
    counts = np.zeros((len(grid), len(gdf) + 1))
    np.add.at(counts, (parent[pi], gi + 1), 1.0)
    total = np.bincount(parent, minlength=len(grid)).astype(float)
    frac = counts / total[:, None]
    frac[:, 0] = 1.0 - frac[:, 1:].sum(axis=1)
    out = ASSETS / "countries_res4.npz"
    save_sparse(out, grid, frac, default_class=0)
    (ASSETS / "countries.json").write_text(json.dumps(table, indent=0))
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB), {len(table)} countries from {shp}")


if __name__ == "__main__":
    main()
