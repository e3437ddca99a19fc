"""``python -m geolocate predict``: the Locate page on the command line, through the same locate service.

Everything the page takes is a flag (or comes from a shareable link with ``--link``): photos, the analyst's
guess, countries and "the photo shows" terms, sun/shadow/clock evidence, weights, budget, resolution and
the shown view. The printed top regions and the CSV/GeoJSON/KML exports are those of the page's table for
the same inputs: both start from the same preset (:mod:`geolocate.presets`) and call
:func:`geolocate.locate.build`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from .candidates import candidate_areas, region_area_ids, region_names
from .cliutil import (
    ProgressBar,
    bounded_float,
    finite_float,
    h3_resolution,
    iso_time,
    positive_km2,
    shadow_pair,
    sun_altitude,
    utc_offset,
    whole_number,
)
from .evidence import AnalystEvidence, EvidenceSet, Message, SunClockEvidence
from .evidence.analyst import ATTRIBUTE_TERMS, RADIUS_MAX_KM, RADIUS_MIN_KM, Area, parse_area, parse_latlon
from .locate import Located, build, from_link, top_regions
from .presets import DEFAULT_PRESET, WEIGHT_MAX
from .report import clean_label

SUN_FLAGS = ("shadow", "sun_altitude", "sun_azimuth", "time", "utc_offset", "local_time")


def _latlon(text: str) -> tuple[float, float]:
    try:
        return parse_latlon(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _iso3(text: str) -> str:
    code = text.strip().upper()
    from .experts.region import country_codes

    if code not in country_codes():
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO-3 country code known to the country layer (e.g. FRA, USA, JPN)")
    return code


def _term(text: str) -> str:
    if text not in ATTRIBUTE_TERMS:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of: {', '.join(ATTRIBUTE_TERMS)}")
    return text


def _area(text: str) -> Area:
    try:
        return parse_area(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"--area {err}") from None


def _weight(text: str) -> tuple[str, float]:
    name, sep, value = text.rpartition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"--weight {text!r}: write NAME=WEIGHT, e.g. 'population=0.5'")
    w = bounded_float(f"weight of {name.strip()!r}", 0.0, WEIGHT_MAX)(value)
    return name.strip(), w


def _analyst(args: argparse.Namespace, base: AnalystEvidence) -> AnalystEvidence:
    """The link's analyst evidence with the flags given on top (a flag replaces the link's field)."""
    kw: dict[str, Any] = {}
    if args.guess is not None:
        kw["point"] = args.guess
    if args.radius is not None:
        kw["radius_km"] = args.radius
    if args.include:
        kw["include"] = tuple(dict.fromkeys(args.include))
    if args.exclude:
        kw["exclude"] = tuple(dict.fromkeys(args.exclude))
    if args.hard:
        kw["hard"] = True
    if args.shows:
        kw["attributes"] = tuple(dict.fromkeys(args.shows))
    if args.area:
        kw["areas"] = tuple(dict.fromkeys(args.area))
    return replace(base, **kw)


def _sunclock(args: argparse.Namespace, base: SunClockEvidence) -> SunClockEvidence:
    """The sun/shadow/clock flags as evidence; without any, the link's (with ``--no-exif-time`` applied)."""
    if not any(getattr(args, f) for f in SUN_FLAGS) and args.sun_altitude is None and args.sun_azimuth is None:
        return replace(base, use_exif_time=base.use_exif_time and not args.no_exif_time)
    return SunClockEvidence(
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


def _print_message(m: Message, out) -> None:
    text = str(m)
    if m.level == "error":
        print(f"error: {text}", file=sys.stderr)
    else:
        print(f"  {'warning: ' if m.level == 'warning' else ''}{text}", file=out)


def _suffixed(path: Path, tag: str, many: bool) -> Path:
    return path.with_name(f"{path.stem}_{tag}{path.suffix}") if many else path


def _title(photos: list) -> str:
    if not photos:
        return "evidence without a photo"
    if len(photos) == 1:
        return photos[0].name
    return f"album of {len(photos)} photos ({', '.join(p.name for p in photos[:4])}{'...' if len(photos) > 4 else ''})"


def _ask_model(photos: list, args: argparse.Namespace, out) -> Any:
    """Send each photo to the vision-language model (the flag is the analyst's explicit ask); its answers are cached.

    Returns:
        The model evidence that reads those answers back from the in-memory cache (as the page's panel does).
    """
    from .evidence.model import ModelEvidence
    from .experts import vlm

    config = vlm.VLMConfig(vlm.normalise_endpoint(args.vlm_endpoint), args.vlm_model, samples=args.vlm_samples, temperature=args.vlm_temperature)
    print(f"  asking {args.vlm_model} at {vlm.endpoint_host(config.endpoint)} ({config.samples} samples per photo; the photo is sent there)", file=out)
    for photo in photos:
        _experts, messages, _answers = vlm.ask_photo_experts(photo, config)
        for m in messages:
            _print_message(m, out)
    return ModelEvidence(model=args.vlm_model, samples=config.samples, endpoint=config.endpoint, temperature=config.temperature)


def _print_details(photos: list, evidence: EvidenceSet, out) -> None:
    """What the evidence kinds found (text read, a model's answers), as plain text: the report's list."""
    from .evidence import EvidenceContext

    pairs = evidence.details(EvidenceContext(photos=tuple(photos)))
    if pairs:
        print("  found:", file=out)
        for what, value in pairs:
            print(f"    {what} -> {value}", file=out)


def _predict_one(photos: list, evidence: EvidenceSet, view: dict, args: argparse.Namespace, out=None) -> dict:
    out = out or sys.stdout
    print(f"\n== {_title(photos)}", file=out)
    if photos and args.vlm_endpoint:
        evidence = evidence.replace(_ask_model(photos, args, out))
    progress = None if args.quiet or not photos else ProgressBar()
    priors: list | None = [] if args.no_priors else None
    extras = {"osm_store": args.osm_store} if args.osm_store else {}
    located: Located = build(photos, evidence, priors=priors, backbone=args.backbone, progress=progress, extras=extras)
    if progress is not None:
        progress.done()
    for m in located.messages:
        _print_message(m, out)
    if located.evidence_errors:
        return {"name": _title(photos), "regions": None, "error": True}
    _print_details(photos, located.evidence, out)
    ens = located.ensemble
    if not ens.experts:
        print("  nothing to combine: no image experts or evidence, and --no-priors", file=out)
        return {"name": _title(photos), "regions": None}
    if photos and not located.image_experts:
        print("  (no image experts: they are unavailable)", file=out)
    print("  experts:", file=out)
    for e in ens.soft_experts:
        top = ens.expert_distribution(e.name, refine_to=view["refine"]).ranked(args.expert_top).to_frame()
        where = "; ".join(f"{r.lat:.2f},{r.lon:.2f} ({r.prob:.1%})" for r in top.itertuples())
        print(f"    {clean_label(e.describe())}\n      top cells: {where}", file=out)
    weights = located.weights(view["weights"])
    show = view["show"] if view["show"] in ens.names else "ensemble"
    if view["show"] != show:
        print(f"  warning: the link shows {view['show']!r}, which is not among these experts; showing the ensemble", file=out)
    dist = located.distribution(weights, show=show, refine=view["refine"], method=args.method)
    regions = dist.within_budget(view["budget"])
    what = "ensemble" if show == "ensemble" else f"{show} on its own"
    print(f"  {what} ({args.method or located.preset.method}; weights " + ", ".join(f"{n}={w:g}" for n, w in weights.items())
          + f"; finest res {view['refine']}): {len(regions)} regions within {view['budget']:,.0f} km² hold {regions.total_prob:.1%} of the probability", file=out)
    areas = candidate_areas(regions, ens, weights if show == "ensemble" else {show: 1.0})
    if areas:
        print(f"  candidate areas ({len(areas)}; the connected groups of the regions within the budget, by probability):", file=out)
        for a in areas:
            print(f"    {a.id}. {a.name}: {a.prob:.1%} in {a.area_km2:,.0f} km²; centre {a.lat:.4f}, {a.lon:.4f}; "
                  f"extent W {a.west:.3f} S {a.south:.3f} E {a.east:.3f} N {a.north:.3f}", file=out)
            print(f"       why: {a.why_text()}", file=out)
    top = top_regions(dist, regions, args.top)
    frame = top.to_frame()
    names = region_names(top)
    area_ids = region_area_ids(top, areas)
    print("  top regions:", file=out)
    for i, r in enumerate(frame.itertuples()):
        in_area = f"  area {area_ids[i]}" if area_ids[i] else ""
        print(f"    #{r.rank:<3d} {r.h3}  {r.lat:9.5f} {r.lon:10.5f}  res {r.resolution}  p={r.prob:.2%}  cum {r.cum_prob:.1%} / {r.cum_area_km2:,.0f} km²{in_area}  {names[i]}", file=out)
    for p in photos:
        if getattr(p, "gps", None) is not None:
            print(f"  warning: {p.name} carries its own GPS position in EXIF: anyone who receives this file knows where it was taken; strip EXIF before sharing it. Its position follows (never logged):", file=out)
            area = dist.area_to_contain(*p.gps)
            print(f"  EXIF GPS of {p.name}: {p.gps[0]:.5f}, {p.gps[1]:.5f}; search area needed to contain it: {area:,.0f} km²", file=out)
    return {"name": _title(photos), "regions": regions, "areas": areas}


def _write(path: Path, text: str) -> str | None:
    """Write an export; a message instead of a traceback when the path is not writable."""
    try:
        path.write_text(text)
    except OSError as err:
        return f"cannot write {path}: {err.strerror or err}"
    return None


def cmd_predict(args: argparse.Namespace) -> int:
    """Handler of ``predict``: per-expert and ensemble top regions; GeoJSON/KML/CSV of the regions within the budget."""
    from .image.cli import collect_photos

    if args.link is not None and args.investigation is not None:
        print("error: give --link or --investigation, not both (an investigation holds its link)", file=sys.stderr)
        return 2
    if args.investigation is not None:
        from .investigation import InvestigationError, load

        try:
            inv = load(Path(args.investigation).read_bytes())
        except OSError as err:
            print(f"error: --investigation: cannot read {args.investigation}: {err.strerror or err}", file=sys.stderr)
            return 2
        except InvestigationError as err:
            print(f"error: --investigation {args.investigation}: {err}", file=sys.stderr)
            return 2
        link_evidence, link_view, link_msgs = from_link(inv.query)
        if args.method is None:
            args.method = inv.method
        shown = [f"{p.name} (SHA-256 {p.sha256 or 'unknown'})" for p in inv.photos]
        print(f"investigation saved {inv.modified or 'at an unknown time'} by geolocate {inv.app_version or '?'}"
              + (f"; photos: {', '.join(shown)}" if shown else "; no photo"))
        if inv.notes:
            print("notes:\n  " + inv.notes.replace("\n", "\n  "))
    elif args.link is not None:
        link_evidence, link_view, link_msgs = from_link(args.link)
        for m in link_msgs:
            print(f"warning: {m}", file=sys.stderr)
    else:
        link_evidence, link_view, link_msgs = EvidenceSet.of(), None, []
    given: list[Any] = [_analyst(args, link_evidence.get("analyst")), _sunclock(args, link_evidence.get("sunclock"))]
    if args.text or args.no_ocr:
        from .evidence.text import TextEvidence

        text_ev, text_problems = TextEvidence.from_typed("\n".join(args.text or []), ocr=not args.no_ocr)
        for problem in text_problems:
            print(f"warning: --text: {problem}", file=sys.stderr)
        given.append(text_ev)
    if args.osm:
        from .evidence.osm import OsmEvidence

        osm_ev, osm_problems = OsmEvidence.of(*args.osm)
        for problem in osm_problems:
            print(f"error: --osm: {problem}", file=sys.stderr)
        if osm_problems:
            return 2
        given.append(osm_ev)
    given_kinds: set[str] = {g.kind for g in given}
    evidence = EvidenceSet.of(*given, *[e for e in link_evidence.items if e.kind not in given_kinds])
    view = {
        "weights": {**(dict(link_view.weights) if link_view else {}), **dict(args.weight or [])},
        "budget": args.budget if args.budget is not None else (link_view.budget_km2 if link_view else DEFAULT_PRESET.budget_km2),
        "refine": args.refine_to if args.refine_to is not None else (link_view.refine if link_view else DEFAULT_PRESET.refine),
        "show": link_view.show if link_view else "ensemble",
    }
    if args.vlm_endpoint and not args.vlm_model:
        print("error: --vlm-endpoint needs --vlm-model NAME (the model's name on that server)", file=sys.stderr)
        return 2
    photos, errors = collect_photos(args.photos)
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    if not photos and (args.photos or (evidence.is_empty and args.link is None and args.investigation is None)):
        print("error: no usable photo" if args.photos else "error: give a photo, a --link, or evidence such as --guess 48.85,2.35 or --shadow 1.8:2.4 --time 2024-06-21T12:00Z (see --help)", file=sys.stderr)
        return 2
    groups = [photos] if args.album or len(photos) <= 1 else [[p] for p in photos]
    results = [_predict_one(g, evidence, view, args) for g in groups]
    if any(r.get("error") for r in results) and len(results) == 1:
        return 2
    many = len(results) > 1
    from .export import regions_to_csv, regions_to_geojson, regions_to_kml

    failed = False
    for i, res in enumerate(results):
        if res["regions"] is None:
            continue
        tag = f"{i + 1:02d}_{Path(groups[i][0].name).stem}" if groups[i] else "evidence"
        areas = res.get("areas")
        outputs: list[tuple[str | None, Any]] = [
            (args.geojson, lambda r, a=areas: json.dumps(regions_to_geojson(r, areas=a))),
            (args.csv, lambda r, a=areas: regions_to_csv(r, areas=a)),
            (args.kml, lambda r, a=areas: regions_to_kml(r, areas=a)),
        ]
        for target, render in outputs:
            if not target:
                continue
            path = _suffixed(Path(target), tag, many)
            failure = _write(path, render(res["regions"]))
            if failure:
                print(f"error: {failure}", file=sys.stderr)
                failed = True
            else:
                print(f"wrote {path}")
    if failed:
        return 2
    return 1 if errors else 0


def add_subcommand(subparsers) -> None:
    """Register ``predict`` on an argparse sub-parsers object."""
    from .image.weights import backbone_arg

    p = subparsers.add_parser("predict", help="where was this photo taken: ranked search regions within an area budget (the Locate page's answer)")
    p.add_argument("photos", nargs="*", metavar="PHOTO", help="photo files or folders of photos (none when evidence or a --link is given)")
    p.add_argument("--link", metavar="URL_OR_QUERY", help="restore a shareable link of the Locate page (weights, budget, resolution, shown view, every evidence); flags given too override it")
    p.add_argument("--investigation", metavar="FILE", help="restore a saved investigation (the Locate page's 'Save investigation' JSON: its link, pooling method and notes); flags given too override it")
    p.add_argument("--budget", type=positive_km2, default=None, metavar="KM2", help=f"search-area budget in km² (default: the link's, else {DEFAULT_PRESET.budget_km2:,.0f})")
    p.add_argument("--refine-to", type=h3_resolution(3, 10), default=None, help=f"finest H3 resolution of refinement (default: the link's, else {DEFAULT_PRESET.refine})")
    p.add_argument("--weight", action="append", type=_weight, metavar="NAME=W", help="an expert's weight (repeatable; default: the preset's, as the page's sliders start)")
    p.add_argument("--method", choices=["log-linear", "linear"], default=None, help="pooling (default log-linear)")
    p.add_argument("--album", action="store_true", help="combine all photos as photos of one place (product of their distributions)")
    p.add_argument("--geojson", metavar="PATH", help="write the regions within the budget as GeoJSON")
    p.add_argument("--kml", metavar="PATH", help="write the regions within the budget as KML")
    p.add_argument("--csv", metavar="PATH", help="write the regions within the budget as CSV")
    p.add_argument("--top", type=int, default=10, help="regions to print (default 10, the page's table)")
    p.add_argument("--expert-top", type=int, default=3, help="top cells printed per expert (default 3)")
    p.add_argument("--backbone", type=backbone_arg, help="open_clip backbone ARCH/TAG (default ViT-L-14/openai; 'tiny-random' for plumbing tests)")
    p.add_argument("--no-priors", action="store_true", help="leave out the priors (evidence and image experts only)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    # "-07:00" and "-1:2" would read as unknown options; let them through as values (argparse treats
    # strings matching this private pattern as negative numbers), so the types can explain what is wrong.
    if hasattr(p, "_negative_number_matcher"):
        p._negative_number_matcher = re.compile(r"^-\d+$|^-\d*\.\d+$|^-\d{1,2}(:?\d\d)?$|^-[\d.]+:[\d.]+$|^-[\d.]+,\s*-?[\d.]+$")
    an = p.add_argument_group("what you know (the page's 'What you know' panel)")
    an.add_argument("--guess", type=_latlon, metavar="LAT,LON", help="your guess in decimal degrees, e.g. 48.85,2.35")
    an.add_argument("--radius", type=bounded_float("radius", RADIUS_MIN_KM, RADIUS_MAX_KM), metavar="KM", help="how far off the guess may be, km (default 100)")
    an.add_argument("--include", action="append", type=_iso3, metavar="ISO3", help="it is in one of these countries (repeatable)")
    an.add_argument("--exclude", action="append", type=_iso3, metavar="ISO3", help="it is not in this country (repeatable)")
    an.add_argument("--area", action="append", type=_area, metavar="in|out:LAT,LON,KM", help="it is in (or not in) this circle, e.g. in:48.85,2.35,50 (repeatable; --hard makes it certain)")
    an.add_argument("--hard", action="store_true", help="the countries and areas are certain: rule the rest out")
    an.add_argument("--shows", action="append", type=_term, metavar="TERM", help=f"the photo shows: {', '.join(ATTRIBUTE_TERMS)} (repeatable)")
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
    tx = p.add_argument_group("text in the photo (docs/text.md): read with OCR when the reader is installed, or typed")
    tx.add_argument("--text", action="append", metavar="TEXT", help="text seen in the photo, e.g. 'Tel. +33 4 91 54 12 30' (repeatable; works without a photo)")
    tx.add_argument("--no-ocr", action="store_true", help="do not read text in the photos")
    om = p.add_argument_group("what is visible: OpenStreetMap features (docs/osm.md; import an extract first with `osm import`)")
    om.add_argument("--osm", action="append", metavar="QUERY", help="e.g. 'amenity=pharmacy; railway=tram_stop within 60 m' (repeatable)")
    om.add_argument("--osm-store", metavar="DIR", help="feature store folder (default: the one `osm import` writes)")
    vm = p.add_argument_group("a vision-language model (docs/vlm.md): the photo is sent to the endpoint's host")
    vm.add_argument("--vlm-endpoint", metavar="URL", help="base URL of an OpenAI-compatible server (e.g. http://127.0.0.1:8000/v1); key from GEOLOCATE_VLM_API_KEY or OPENAI_API_KEY")
    vm.add_argument("--vlm-model", metavar="NAME", help="the model's name on that server (needed with --vlm-endpoint)")
    vm.add_argument("--vlm-samples", type=whole_number("number of samples", 1, 20), default=5, metavar="N", help="answers sampled per photo (1..20, default 5)")
    vm.add_argument("--vlm-temperature", type=bounded_float("temperature", 0.0, 2.0), default=1.0, metavar="T", help="sampling temperature (default 1.0)")
    p.set_defaults(func=cmd_predict)
