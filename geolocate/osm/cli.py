"""``python -m geolocate osm import|query|presets|extracts``.

:mod:`geolocate.cli` calls :func:`add_subcommands` on its sub-parsers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _store_dir(args: argparse.Namespace) -> Path:
    from .store import default_store_dir

    return Path(args.store).expanduser() if args.store else default_store_dir()


def cmd_import(args: argparse.Namespace) -> int:
    """Handler of ``osm import EXTRACT.osm.pbf [--store DIR] [--tag k=v ...]``."""
    from ..cliutil import ProgressBar
    from .importer import OsmImportError, import_extract

    bar = ProgressBar()
    try:
        s = import_extract(args.extract, _store_dir(args), extra_tags=args.tag or (), progress=bar, locations=args.locations)
    except (OsmImportError, ValueError) as err:
        bar.done()
        print(f"error: {err}", file=sys.stderr)
        return 2
    bar.done()
    print(f"imported {s.name}: {s.features:,} features, {s.points:,} points, {s.coverage_km2:,.1f} km² covered, {s.seconds:.1f} s -> {s.path}")
    for name, n in sorted(s.per_preset.items(), key=lambda kv: -kv[1]):
        if n:
            print(f"  {name:<18} {n:>8,}")
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    """Handler of ``osm query "QUERY" [--store DIR] [--limit N] [--json]``."""
    from .query import QueryError, run_query
    from .store import load_store

    store = load_store(_store_dir(args))
    if store.is_empty:
        print(f"error: no extract imported in {store.folder}; run: python -m geolocate osm import EXTRACT.osm.pbf", file=sys.stderr)
        return 2
    try:
        r = run_query(args.query, store)
    except QueryError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    rows: list[dict[str, Any]] = []
    for i, f in enumerate(r.fids.tolist()):
        rows.append(
            {
                "osm": f"{store.osm_type[f]}{int(store.osm_id[f])}",
                "name": store.name[f] or "",
                "lat": round(float(r.where[i, 0]), 6),
                "lon": round(float(r.where[i, 1]), 6),
                "nearest_m": [round(float(x), 1) for x in r.nearest_m[i]],
            }
        )
    if args.json:
        print(json.dumps({"query": r.query.text(), "matches": len(r), "anchors": r.anchors, "covered_km2": store.coverage.area_km2, "places": rows[: args.limit]}, indent=1))
        return 0
    print(f"{r.query.text()}: {len(r)} of {r.anchors} anchor features match in {store.coverage.area_km2:,.1f} km² covered")
    for row in rows[: args.limit]:
        near = ", ".join(f"{d:g} m" for d in row["nearest_m"])
        print(f"  {row['osm']:<14} {row['lat']:>10.6f} {row['lon']:>11.6f}  {near:<24} {row['name']}")
    if len(rows) > args.limit:
        print(f"  ... and {len(rows) - args.limit} more (--limit)")
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    """Handler of ``osm presets``: every preset with its tags."""
    from .presets import PRESETS

    for p in PRESETS:
        print(f"{p.group:<20} {p.name:<18} {p.describe()}")
    return 0


def cmd_extracts(args: argparse.Namespace) -> int:
    """Handler of ``osm extracts``: the imported extracts of the store."""
    from .store import load_store

    store = load_store(_store_dir(args))
    print(f"store: {store.folder}")
    for m in store.extracts:
        print(f"  {m['name']:<24} {m['features']:>10,} features {m['coverage_km2']:>12,.1f} km²  from {m['source']} ({m['imported_at']})")
    if store.is_empty:
        print("  (nothing imported)")
    return 0


def add_subcommands(subparsers: Any) -> None:
    """Register ``osm`` (import, query, presets, extracts) on an argparse sub-parsers object."""
    osm = subparsers.add_parser("osm", help="OpenStreetMap features: import an extract, run a query")
    sub = osm.add_subparsers(dest="osm_command", required=True)
    store_help = "feature store folder (default: GEOLOCATE_OSM_STORE or the user data dir's osm/)"
    imp = sub.add_parser("import", help="import an .osm.pbf extract into the feature store (replaces an earlier import of it)")
    imp.add_argument("extract", help="EXTRACT.osm.pbf (a city, a country, a continent)")
    imp.add_argument("--store", help=store_help)
    imp.add_argument("--tag", action="append", metavar="KEY=VALUE", help="also keep objects with this tag (repeatable; key=* for any value)")
    imp.add_argument("--locations", default="flex_mem", help="pyosmium node location index (flex_mem; dense_file_array,FILE for the planet)")
    imp.set_defaults(func=cmd_import)
    q = sub.add_parser("query", help='places where a query holds, e.g. "pharmacy; tram stop within 60 m"')
    q.add_argument("query")
    q.add_argument("--store", help=store_help)
    q.add_argument("--limit", type=int, default=50, help="places listed (default 50)")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(func=cmd_query)
    pr = sub.add_parser("presets", help="list the presets")
    pr.set_defaults(func=cmd_presets)
    ex = sub.add_parser("extracts", help="list the imported extracts")
    ex.add_argument("--store", help=store_help)
    ex.set_defaults(func=cmd_extracts)


__all__ = ["add_subcommands", "cmd_extracts", "cmd_import", "cmd_presets", "cmd_query"]
