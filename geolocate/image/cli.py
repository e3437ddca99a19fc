"""``python -m geolocate predict PHOTO...`` and ``python -m geolocate weights status|download``.

The lead's :mod:`geolocate.cli` calls :func:`add_subcommands` on its sub-parsers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..cli import h3_resolution, positive_km2
from .photo import Photo, PhotoError, load_photo

DEFAULT_BUDGET_KM2 = 10_000.0


def _progress():
    try:
        from ..cli import ProgressBar

        return ProgressBar()
    except ImportError:  # pragma: no cover - the lead's CLI is optional for this module
        return lambda f, m: print(f"[{f:4.0%}] {m}", file=sys.stderr)


def collect_photos(paths: list[str]) -> tuple[list[Photo], list[str]]:
    """Decode the named files and every file of the named folders (non-recursive, sorted).

    Returns:
        (photos, errors): one error line per file that could not be used.
    """
    photos, errors = [], []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith("."))
            if not files:
                errors.append(f"{p}: the folder has no files")
        elif p.is_file():
            files = [p]
        else:
            errors.append(f"{p}: no such file or folder")
            continue
        for f in files:
            try:
                photos.append(load_photo(f.read_bytes(), f.name))
            except PhotoError as err:
                errors.append(str(err))
            except OSError as err:
                errors.append(f"{f}: cannot read ({err.strerror or err})")
    return photos, errors


def _suffixed(path: Path, tag: str, many: bool) -> Path:
    return path.with_name(f"{path.stem}_{tag}{path.suffix}") if many else path


def _predict_one(photos: list[Photo], args, out=None) -> dict:
    out = out or sys.stdout
    from ..ensemble import Ensemble
    from ..experts import standard_priors
    from .suite import image_experts

    title = photos[0].name if len(photos) == 1 else f"album of {len(photos)} photos ({', '.join(p.name for p in photos[:4])}{'...' if len(photos) > 4 else ''})"
    print(f"\n== {title}", file=out)
    experts, messages = image_experts(photos, backbone=args.backbone, progress=None if args.quiet else _progress())
    for m in messages:
        print(f"  {m}", file=out)
    priors = [] if args.no_priors else standard_priors()
    if not experts and not priors:
        print("  nothing to combine: no image experts and --no-priors", file=out)
        return {"name": title, "regions": None}
    if not experts:
        print("  (priors only: the image experts are unavailable)", file=out)
    ens = Ensemble(priors + experts)
    print("  experts:", file=out)
    for e in ens.soft_experts:
        top = ens.expert_distribution(e.name).ranked(args.expert_top).to_frame()
        where = "; ".join(f"{r.lat:.2f},{r.lon:.2f} ({r.prob:.1%})" for r in top.itertuples())
        print(f"    {e.describe()}\n      top cells: {where}", file=out)
    dist = ens.distribution(refine_to=args.refine_to)
    regions = dist.within_budget(args.budget)
    print(f"  ensemble (log-linear, all weights 1): {len(regions)} cells within {args.budget:,.0f} km² hold {regions.total_prob:.1%} of the probability", file=out)
    frame = regions.head(args.top).to_frame()
    for r in frame.itertuples():
        print(f"    #{r.rank:<3d} {r.h3}  {r.lat:8.3f} {r.lon:9.3f}  res {r.resolution}  p={r.prob:.2%}  cum {r.cum_prob:.1%} / {r.cum_area_km2:,.0f} km²", file=out)
    for p in photos:
        if p.gps is not None:
            # The analyst sees the EXIF position (a hint, and ground truth if genuine); it is never logged.
            area = dist.area_to_contain(*p.gps)
            print(f"  EXIF GPS of {p.name}: {p.gps[0]:.5f}, {p.gps[1]:.5f}; search area needed to contain it: {area:,.0f} km²", file=out)
    return {"name": title, "regions": regions}


def cmd_predict(args: argparse.Namespace) -> int:
    """Handler of ``predict``: per-expert and ensemble top regions; GeoJSON/CSV of the regions within the budget."""
    photos, errors = collect_photos(args.photos)
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    if not photos:
        print("error: no usable photo", file=sys.stderr)
        return 2
    groups = [photos] if args.album or len(photos) == 1 else [[p] for p in photos]
    results = [_predict_one(g, args) for g in groups]
    many = len(results) > 1
    from ..export import regions_to_csv, regions_to_geojson

    for i, res in enumerate(results):
        if res["regions"] is None:
            continue
        tag = f"{i + 1:02d}_{Path(groups[i][0].name).stem}"
        if args.geojson:
            path = _suffixed(Path(args.geojson), tag, many)
            path.write_text(json.dumps(regions_to_geojson(res["regions"])))
            print(f"wrote {path}")
        if args.csv:
            path = _suffixed(Path(args.csv), tag, many)
            path.write_text(regions_to_csv(res["regions"]))
            print(f"wrote {path}")
    return 1 if errors else 0


def cmd_weights(args: argparse.Namespace) -> int:
    """Handler of ``weights status|download``."""
    from .suite import download_weights, weights_status
    from .weights import WeightsMissing, weights_dir

    if args.action == "download":
        try:
            rows = download_weights(args.backbone, progress=_progress())
        except WeightsMissing as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    else:
        rows = weights_status(args.backbone)
    print(f"weights directory: {weights_dir()}  (GEOLOCATE_WEIGHTS_DIR overrides)")
    for r in rows:
        print(f"  [{'ok' if r.available else 'MISSING'}] {r.name}: {r.detail}")
        if not r.available:
            print(f"      fix: {r.fix}")
    return 0 if all(r.available for r in rows) else 1


def add_subcommands(subparsers) -> None:
    """Register ``predict`` and ``weights`` on an argparse sub-parsers object."""
    p = subparsers.add_parser("predict", help="where was this photo taken: ranked search regions within an area budget")
    p.add_argument("photos", nargs="+", metavar="PHOTO", help="photo files or folders of photos")
    p.add_argument("--budget", type=positive_km2, default=DEFAULT_BUDGET_KM2, metavar="KM2", help="search-area budget in km² (default 10,000)")
    p.add_argument("--album", action="store_true", help="combine all photos as photos of one place (product of their distributions)")
    p.add_argument("--geojson", metavar="PATH", help="write the regions within the budget as GeoJSON")
    p.add_argument("--csv", metavar="PATH", help="write the regions within the budget as CSV")
    p.add_argument("--top", type=int, default=10, help="ensemble regions to print (default 10)")
    p.add_argument("--expert-top", type=int, default=3, help="top cells printed per expert (default 3)")
    p.add_argument("--refine-to", type=h3_resolution(3, 9), default=7, help="finest H3 resolution of refinement (default 7)")
    p.add_argument("--backbone", help="open_clip backbone ARCH/TAG (default ViT-L-14/openai; 'tiny-random' for plumbing tests)")
    p.add_argument("--no-priors", action="store_true", help="image experts only")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_predict)

    w = subparsers.add_parser("weights", help="model weights: status, or download on a connected machine")
    w.add_argument("action", choices=["status", "download"])
    w.add_argument("--backbone", help="backbone ARCH/TAG (default ViT-L-14/openai or GEOLOCATE_BACKBONE)")
    w.set_defaults(func=cmd_weights)
