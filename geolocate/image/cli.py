"""``python -m geolocate predict PHOTO...`` and ``python -m geolocate weights status|download``.

The lead's :mod:`geolocate.cli` calls :func:`add_subcommands` on its sub-parsers.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..cliutil import h3_resolution, positive_km2
from .photo import Photo, PhotoError, load_photo
from .weights import backbone_arg

if TYPE_CHECKING:
    from ..experts.sun_evidence import SunClockEvidence

DEFAULT_BUDGET_KM2 = 10_000.0


def _progress():
    try:
        from ..cliutil import ProgressBar

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


def finite_float(what: str):
    """Argparse type: a finite number."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what}: {text!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{what}: {text!r} is not a finite number")
        return value

    return parse


def bounded_float(what: str, lo: float, hi: float):
    """Argparse type: a number within [lo, hi]."""

    def parse(text: str) -> float:
        value = finite_float(what)(text)
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{what} must be {lo:g} to {hi:g}, got {value:g}")
        return value

    return parse


def sun_altitude(text: str) -> float:
    """Argparse type: a sun altitude in (0, 90] degrees."""
    value = finite_float("sun altitude")(text)
    if not 0 < value <= 90:
        raise argparse.ArgumentTypeError(f"sun altitude must be above 0 and at most 90 degrees, got {value:g}")
    return value


def shadow_pair(text: str) -> tuple[float, float]:
    """Argparse type: ``HEIGHT:LENGTH`` with a positive ratio."""
    h, sep, length = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"shadow {text!r}: write HEIGHT:LENGTH, e.g. 1.8:2.4")
    hv, lv = finite_float("shadow height")(h), finite_float("shadow length")(length)
    if hv <= 0 or lv < 0:
        raise argparse.ArgumentTypeError(f"shadow {text!r}: the ratio height/length must be positive (height > 0, length >= 0)")
    return hv, lv


def iso_time(text: str) -> str:
    """Argparse type: an ISO 8601 date-time (kept as typed)."""
    from ..experts.clock import EvidenceError
    from ..experts.sun import parse_iso_time

    try:
        parse_iso_time(text)
    except EvidenceError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def utc_offset(text: str) -> str:
    """Argparse type: a UTC offset such as +05:30."""
    from ..experts.clock import EvidenceError, parse_utc_offset

    try:
        parse_utc_offset(text)
    except EvidenceError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def _suffixed(path: Path, tag: str, many: bool) -> Path:
    return path.with_name(f"{path.stem}_{tag}{path.suffix}") if many else path


def _evidence(args) -> SunClockEvidence | None:
    """The sun, shadow and clock flags as evidence, or None when none is given."""
    from ..experts.sun_evidence import SunClockEvidence

    ev = SunClockEvidence(
        shadows=tuple(args.shadow or ()),
        sun_altitude_deg=args.sun_altitude,
        sun_azimuth_deg=args.sun_azimuth,
        times=tuple(args.time or ()),
        time_uncertainty_min=args.time_uncertainty,
        shadow_uncertainty_pct=args.shadow_uncertainty,
        altitude_uncertainty_deg=args.altitude_uncertainty,
        azimuth_uncertainty_deg=args.azimuth_uncertainty,
        utc_offset=args.utc_offset,
        local_time=args.local_time,
        use_exif_time=not args.no_exif_time,
    )
    if ev.empty and not args.time and not args.local_time:
        return None
    return ev


def _predict_one(photos: list[Photo], args, out=None) -> dict:
    out = out or sys.stdout
    from ..ensemble import Ensemble
    from ..experts import standard_priors

    if not photos:
        title = "evidence without a photo"
    elif len(photos) == 1:
        title = photos[0].name
    else:
        title = f"album of {len(photos)} photos ({', '.join(p.name for p in photos[:4])}{'...' if len(photos) > 4 else ''})"
    print(f"\n== {title}", file=out)
    experts: list = []
    if photos:
        from .suite import image_experts

        experts, messages = image_experts(photos, backbone=args.backbone, progress=None if args.quiet else _progress())
        for m in messages:
            print(f"  {m}", file=out)
    evidence = _evidence(args)
    use_exif = bool(photos) and not args.no_exif_time
    if evidence is not None or use_exif:
        from ..experts.sun_evidence import SunClockEvidence, build_experts

        # An album's photos may span hours: only a single photo's EXIF clock is used.
        exif_source = photos[0] if len(photos) == 1 and use_exif else None
        found, notes = build_experts(evidence or SunClockEvidence(), photo_exif=exif_source)
        errors = [n for n in notes if n.level == "error"]
        for n in notes:
            print(f"  {'error: ' if n.level == 'error' else ''}{n}", file=out if n.level != "error" else sys.stderr)
        if errors:
            return {"name": title, "regions": None, "error": True}
        experts = experts + found
    priors = [] if args.no_priors else standard_priors()
    if not experts and not priors:
        print("  nothing to combine: no image experts or evidence, and --no-priors", file=out)
        return {"name": title, "regions": None}
    if photos and not any(e.kind == ExpertKind.IMAGE for e in experts):
        print("  (no image experts: they are unavailable)", file=out)
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
            print(f"  warning: {p.name} carries its own GPS position in EXIF: anyone who receives this file knows where it was taken; strip EXIF before sharing it. Its position follows (never logged):", file=out)
            # The analyst sees the EXIF position (a hint, and ground truth if genuine); it is never logged.
            area = dist.area_to_contain(*p.gps)
            print(f"  EXIF GPS of {p.name}: {p.gps[0]:.5f}, {p.gps[1]:.5f}; search area needed to contain it: {area:,.0f} km²", file=out)
    return {"name": title, "regions": regions}


def cmd_predict(args: argparse.Namespace) -> int:
    """Handler of ``predict``: per-expert and ensemble top regions; GeoJSON/CSV of the regions within the budget."""
    try:
        evidence = _evidence(args)
    except ValueError as err:  # pragma: no cover - argparse types validate the flags
        print(f"error: {err}", file=sys.stderr)
        return 2
    photos, errors = collect_photos(args.photos)
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    if not photos and (args.photos or evidence is None):
        print("error: no usable photo" if args.photos else "error: give a photo, or evidence such as --shadow 1.8:2.4 --time 2024-06-21T12:00Z (see --help)", file=sys.stderr)
        return 2
    groups = [photos] if args.album or len(photos) <= 1 else [[p] for p in photos]
    results = [_predict_one(g, args) for g in groups]
    if any(r.get("error") for r in results) and len(results) == 1:
        return 2
    many = len(results) > 1
    from ..export import regions_to_csv, regions_to_geojson

    for i, res in enumerate(results):
        if res["regions"] is None:
            continue
        tag = f"{i + 1:02d}_{Path(groups[i][0].name).stem}" if groups[i] else "evidence"
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
    p.add_argument("photos", nargs="*", metavar="PHOTO", help="photo files or folders of photos (none when sun/shadow/clock evidence is given)")
    p.add_argument("--budget", type=positive_km2, default=DEFAULT_BUDGET_KM2, metavar="KM2", help="search-area budget in km² (default 10,000)")
    p.add_argument("--album", action="store_true", help="combine all photos as photos of one place (product of their distributions)")
    p.add_argument("--geojson", metavar="PATH", help="write the regions within the budget as GeoJSON")
    p.add_argument("--csv", metavar="PATH", help="write the regions within the budget as CSV")
    p.add_argument("--top", type=int, default=10, help="ensemble regions to print (default 10)")
    p.add_argument("--expert-top", type=int, default=3, help="top cells printed per expert (default 3)")
    p.add_argument("--refine-to", type=h3_resolution(3, 9), default=7, help="finest H3 resolution of refinement (default 7)")
    p.add_argument("--backbone", type=backbone_arg, help="open_clip backbone ARCH/TAG (default ViT-L-14/openai; 'tiny-random' for plumbing tests)")
    p.add_argument("--no-priors", action="store_true", help="image experts only")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    # "-07:00" and "-1:2" would read as unknown options; let them through as values (argparse treats
    # strings matching this private pattern as negative numbers), so the types can explain what is wrong.
    if hasattr(p, "_negative_number_matcher"):
        p._negative_number_matcher = re.compile(r"^-\d+$|^-\d*\.\d+$|^-\d{1,2}(:?\d\d)?$|^-[\d.]+:[\d.]+$")
    ev = p.add_argument_group("sun, shadow and clock evidence (docs/experts.md)")
    ev.add_argument("--shadow", action="append", type=shadow_pair, metavar="HEIGHT:LENGTH", help="an object's height and its shadow's length on level ground, same unit (repeatable; each pairs with a --time)")
    ev.add_argument("--sun-altitude", type=sun_altitude, metavar="DEG", help="the sun's altitude above the horizon, degrees (0, 90]")
    ev.add_argument("--sun-azimuth", type=finite_float("sun azimuth"), metavar="DEG", help="the sun's azimuth clockwise from north (shadow direction + 180), degrees")
    ev.add_argument("--time", action="append", type=iso_time, metavar="ISO8601", help="when: 2024-06-21T12:00Z (UTC), ...+09:00, or naive = local clock time at the place; one for all observations or one each (default: the photo's EXIF time)")
    ev.add_argument("--time-uncertainty", type=bounded_float("time uncertainty", 0, 1440), default=15.0, metavar="MIN", help="standard deviation of the times, minutes (default 15)")
    ev.add_argument("--shadow-uncertainty", type=bounded_float("shadow uncertainty", 0.1, 99), default=5.0, metavar="PCT", help="uncertainty of each height/length ratio, percent (default 5)")
    ev.add_argument("--altitude-uncertainty", type=bounded_float("altitude uncertainty", 0.05, 45), default=1.0, metavar="DEG", help="uncertainty of --sun-altitude, degrees (default 1)")
    ev.add_argument("--azimuth-uncertainty", type=bounded_float("azimuth uncertainty", 0.1, 180), default=5.0, metavar="DEG", help="uncertainty of --sun-azimuth, degrees (default 5)")
    ev.add_argument("--utc-offset", type=utc_offset, metavar="+HH:MM", help="the clock's UTC offset (clock evidence; needs --local-time)")
    ev.add_argument("--local-time", type=iso_time, metavar="ISO8601", help="the local clock time the --utc-offset was read at (naive)")
    ev.add_argument("--no-exif-time", action="store_true", help="ignore the photo's EXIF time and offset")
    p.set_defaults(func=cmd_predict)

    w = subparsers.add_parser("weights", help="model weights: status, or download on a connected machine")
    w.add_argument("action", choices=["status", "download"])
    w.add_argument("--backbone", type=backbone_arg, help="backbone ARCH/TAG (default ViT-L-14/openai or GEOLOCATE_BACKBONE)")
    w.set_defaults(func=cmd_weights)
