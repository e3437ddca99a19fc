"""Command line: ``python -m geolocate {bench,accuracy,layers,predict,embed,cases,weights} ...``.

``predict`` is :mod:`geolocate.predict` (the locate service); ``weights`` comes from
:mod:`geolocate.image.cli` when the image extras import.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .cliutil import ProgressBar, h3_resolution, positive_km2

__all__ = ["ProgressBar", "build_parser", "h3_resolution", "main", "positive_km2"]


def _parse_weights(text: str | None) -> dict[str, float] | None:
    if not text:
        return None
    out = {}
    for part in text.split(","):
        name, _, value = part.rpartition("=")
        if not name:
            raise SystemExit(f"--weights: expected name=value pairs separated by commas, got {part!r}")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise SystemExit(f"--weights: {value!r} is not a number (in {part!r})") from None
    return out


def _parse_priors(text: str | None) -> list[str] | None:
    """None (all priors) when not given; '' gives no priors; names are comma-separated."""
    if text is None:
        return None
    return [p.strip() for p in text.split(",") if p.strip()]


def cmd_bench(args: argparse.Namespace) -> int:
    """Run ``python -m geolocate bench``: print the summary, write the requested files."""
    from .bench import Fitted, run_benchmark
    from .data import BenchmarkSpec, DataError, discover_benchmarks

    if args.benchmark:
        specs = {s.name: s for s in discover_benchmarks(args.data_dir)}
        if args.benchmark not in specs:
            print(f"error: no benchmark {args.benchmark!r} in {args.data_dir}; found {sorted(specs) or 'none'}", file=sys.stderr)
            return 2
        spec = specs[args.benchmark]
        if args.predictions is not None:
            spec.predictions = [Path(p) for p in args.predictions]
        if args.attributes is not None:
            spec.attributes = [Path(p) for p in args.attributes]
    elif args.truth:
        spec = BenchmarkSpec(Path(args.truth).stem, Path(args.truth), [Path(p) for p in args.predictions or []], [Path(p) for p in args.attributes or []])
    else:
        print("error: give --truth CSV or --benchmark NAME", file=sys.stderr)
        return 2
    # Output paths are checked before the run (which can take minutes), and each write again after it.
    outputs = [(flag, Path(p)) for flag, p in (("--json", args.json), ("--curves", args.curves), ("--plot", args.plot)) if p]
    for flag, out_path in outputs:
        folder = out_path.parent if str(out_path.parent) else Path(".")
        if out_path.is_dir() or not folder.is_dir() or not os.access(folder, os.W_OK) or (out_path.exists() and not os.access(out_path, os.W_OK)):
            why = "is a folder" if out_path.is_dir() else "its folder does not exist" if not folder.is_dir() else "is not writable"
            print(f"error: {flag}: cannot write {out_path}: {why}", file=sys.stderr)
            return 2
    bar = ProgressBar()
    try:
        fitted = Fitted.from_report(args.fitted) if args.fitted else None
        fit_spec = None
        if args.fit_on:
            found = {s.name: s for s in discover_benchmarks(args.data_dir)}
            if args.fit_on not in found:
                print(f"error: --fit-on: no benchmark {args.fit_on!r} in {args.data_dir}; found {sorted(found) or 'none'}", file=sys.stderr)
                return 2
            fit_spec = found[args.fit_on]
        extra: list = []
        if args.embeddings:  # image experts stored by `python -m geolocate embed`, aligned with the truth's rows
            from .data import read_ground_truth
            from .embed.bench_experts import bench_experts

            truth, _ = read_ground_truth(spec.ground_truth, on_error="skip" if args.skip_bad_rows else "raise")
            extra, lines = bench_experts(args.embeddings, truth["id"].astype(str).tolist()[: args.max_samples or None])
            for line in lines:
                print(f"  read: {line}")
        for answers_csv in args.vlm_answers or []:  # a vision-language model's sampled answers (docs/vlm.md)
            from .experts.vlm import vlm_bench_experts

            vlm_experts, notes = vlm_bench_experts(answers_csv, spec, max_samples=args.max_samples, on_error="skip" if args.skip_bad_rows else "raise")
            extra = extra + vlm_experts
            for line in notes:
                print(f"  read: {line}")
        result = run_benchmark(
            spec,
            experts=args.experts.split(",") if args.experts else None,
            weights=_parse_weights(args.weights),
            fit=args.fit,
            fitted=fitted,
            fit_spec=fit_spec,
            max_samples=args.max_samples,
            progress=bar,
            res=args.res,
            refine_to=args.refine_to,
            rel_tol=args.rel_tol,
            n_boot=args.bootstrap,
            priors=_parse_priors(args.priors),
            on_error="skip" if args.skip_bad_rows else "raise",
            extra_experts=extra,
        )
    except (DataError, ValueError) as err:
        bar.done()
        print(f"error: {err}", file=sys.stderr)
        return 2
    bar.done()
    rep = result.report
    print(f"benchmark {rep['benchmark']}: {rep['n_images']} images; fit half {rep['split']['fit']}, eval half {rep['split']['eval']} ({rep['split']['method']})")
    for line in rep["read_reports"]:
        print(f"  read: {line}")
    print("weights: " + ", ".join(f"{k}={v:g}" for k, v in result.weights.items()) + (f"  (fitted: {rep['objective']})" if rep["objective"] else ""))
    print(f"intervals: 95% bootstrap over {rep['bootstrap']['unit']}s ({rep['bootstrap']['resamples']} resamples)")
    print(result.table())
    vs = rep["ensemble_vs_best"]
    d, r = vs["auc_difference"], vs["area_at_50pct_ratio"]
    print(f"ensemble vs best single expert ({vs['best_single_expert']}), paired bootstrap 95%: "
          f"AUC {d['value']:+.3f} [{d['lo']:+.3f}, {d['hi']:+.3f}]; area at 50% recall x{r['value']:.2f} [{r['lo']:.2f}, {r['hi']:.2f}]")
    try:
        if args.json:
            result.to_json(args.json)
            print(f"wrote {args.json}")
        if args.curves:
            result.curves.to_csv(args.curves, index=False)
            print(f"wrote {args.curves}")
        if args.plot:
            from .plots import rva_chart

            rva_chart(result.curves).save(str(args.plot))
            print(f"wrote {args.plot}")
    except OSError as err:
        print(f"error: cannot write {err.filename or 'an output file'}: {err.strerror or err}", file=sys.stderr)
        return 2
    return 0


def cmd_accuracy(args: argparse.Namespace) -> int:
    """GCD accuracy of point-prediction files over all their rows, beside the accuracies in their footers."""
    from .data import DataError, read_ground_truth, read_point_predictions
    from .metrics import ACCURACY_KM, gcd_accuracy, haversine_km

    print("file".ljust(28) + "".join(f"{r:>9d}km" for r in ACCURACY_KM) + "   mean km")
    for path in args.predictions:
        try:
            pred, footer, rep = read_point_predictions(path, on_error="skip" if args.skip_bad_rows else "raise")
            if args.truth:
                truth, _ = read_ground_truth(args.truth, on_error="skip" if args.skip_bad_rows else "raise")
            else:  # GeoEstimation files carry the truth in gt_lat / gt_long
                truth, _ = read_ground_truth(path, on_error="skip" if args.skip_bad_rows else "raise")
        except DataError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        joined = pred.merge(truth, on="id", suffixes=("_pred", ""))
        if len(joined) < len(pred):
            print(f"  note: {len(pred) - len(joined)} predictions have no ground truth and are not scored")
        d = haversine_km(joined["lat"], joined["lon"], joined["lat_pred"], joined["lon_pred"])
        acc = gcd_accuracy(d)
        print(Path(path).name[:27].ljust(28) + "".join(f"{100 * acc[r]:10.1f}%" for r in ACCURACY_KM) + f"{d.mean():10.2f}   (ours, n={len(d)})")
        if footer:
            vals = list(footer.values())
            print("".ljust(28) + "".join(f"{100 * v:10.1f}%" for v in vals[: len(ACCURACY_KM)]) + (f"{vals[-1]:10.2f}" if len(vals) > len(ACCURACY_KM) else "") + "   (file footer)")
        if rep.skipped:
            print(f"  {rep}")
    return 0


def cmd_layers(args: argparse.Namespace) -> int:
    import numpy as np

    from .grid import LAYER_RESOLUTION, global_grid
    from .layers import LayerError, country_layer, geonames_population_layer, landcover_layer, scene_layer

    try:
        layers = [landcover_layer(), country_layer(), geonames_population_layer(), scene_layer()]
    except LayerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for layer in layers:
        area = global_grid(LAYER_RESOLUTION).area_km2
        share = layer.weighted_sum(area) / area.sum()
        top = np.argsort(-share)[:4]
        print(f"{layer.name:11s} res {layer.res}, {len(layer.classes)} classes; {layer.source}")
        print("            largest shares of Earth: " + ", ".join(f"{layer.classes[i]} {share[i]:.1%}" for i in top))
    g = global_grid(args.res)
    print(f"grid res {args.res}: {len(g)} cells, {g.area_km2.sum():,.0f} km², mean cell {g.area_km2.mean():,.0f} km²")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m geolocate`` (image sub-commands when their extras import)."""
    from .grid import DEFAULT_RESOLUTION

    ap = argparse.ArgumentParser(prog="python -m geolocate", description="Where on Earth to search for a photo.")
    sub = ap.add_subparsers(dest="command", required=True)

    b = sub.add_parser("bench", help="evaluate experts and their ensemble (GCD accuracy, Recall vs Area)")
    b.add_argument("--benchmark", help="name of a benchmark folder inside --data-dir (e.g. im2gps3k)")
    b.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    b.add_argument("--truth", help="ground-truth CSV (id, lat, lon columns)")
    b.add_argument("--embeddings", metavar="DIR", help="image experts (GeoCLIP, zero-shot) from an `embed` output folder whose ids are the truth's")
    b.add_argument("--predictions", nargs="*", help="point-prediction CSVs (GeoEstimation format)")
    b.add_argument("--vlm-answers", nargs="*", metavar="CSV", help="a vision-language model's answers (id, sample, lat, lon, confidence[, radius_km]) as experts (docs/vlm.md)")
    b.add_argument("--attributes", nargs="*", help="attribute-probability CSVs (Prob_indoor/natural/urban)")
    b.add_argument("--priors", default=None, help="comma-separated priors (default: uniform land,population,photo density; '' for none)")
    b.add_argument("--experts", help="comma-separated expert names to keep")
    b.add_argument("--weights", help="ensemble weights, e.g. 'population=0.5,ISNs_M-fstar-S3=2'")
    b.add_argument("--fit", action="store_true", help="fit ensemble weights on the fit half, or on --fit-on (objective: RvA AUC)")
    b.add_argument("--fit-on", metavar="BENCHMARK", help="fit point mixtures (and with --fit the weights) on all images of another benchmark in --data-dir, evaluate on all images of this one")
    b.add_argument("--fitted", type=Path, metavar="JSON", help="use the weights and point_scale_mixtures of a previous --json report; evaluate on all images")
    b.add_argument("--res", type=h3_resolution(1, 4), default=DEFAULT_RESOLUTION, help="base H3 resolution (1..4)")
    b.add_argument("--refine-to", type=h3_resolution(1, 12), default=10, help="finest H3 resolution of the adaptive refinement and the mode search (default 10, ~0.015 km²; up to 12)")
    b.add_argument("--rel-tol", type=float, default=0.01, help="stop refining once the unsettled cells' estimated error is at most this fraction of the area to truth")
    b.add_argument("--max-samples", type=int)
    b.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for 95%% intervals")
    b.add_argument("--skip-bad-rows", action="store_true", help="skip (and report) bad rows instead of stopping")
    b.add_argument("--json", type=Path, help="write the report as JSON (docs/benchmark.md)")
    b.add_argument("--curves", type=Path, help="write RvA curves as CSV")
    b.add_argument("--plot", type=Path, help="write RvA curves as an Altair chart (.html, or .png/.svg with vl-convert)")
    b.set_defaults(func=cmd_bench)

    acc = sub.add_parser("accuracy", help="GCD accuracy of point-prediction files (compared with their footers)")
    acc.add_argument("predictions", nargs="+")
    acc.add_argument("--truth", help="ground-truth CSV (default: the gt_lat/gt_long columns of each file)")
    acc.add_argument("--skip-bad-rows", action="store_true")
    acc.set_defaults(func=cmd_accuracy)

    lay = sub.add_parser("layers", help="show the geodata layers and the grid")
    lay.add_argument("--res", type=h3_resolution(0, 6), default=DEFAULT_RESOLUTION)
    lay.set_defaults(func=cmd_layers)

    from .embed.cli import add_subcommand as add_embed  # light: heavy imports wait for the command

    add_embed(sub)

    from .predict import add_subcommand as add_predict

    add_predict(sub)

    from .osm.cli import add_subcommands as add_osm

    add_osm(sub)

    from .teach.cli import add_subcommand as add_cases  # `cases photos DIR`: the classroom's photo folder

    add_cases(sub)

    try:
        from .image.cli import add_subcommands
    except ImportError as err:  # the image extras are optional for the core
        msg = str(err)

        def unavailable(_args, msg=msg):
            print(f"error: image experts unavailable ({msg}); pip install -r requirements.txt", file=sys.stderr)
            return 2

        for name in ("weights",):
            p = sub.add_parser(name, help="(unavailable: image extras not importable)")
            p.add_argument("rest", nargs="*")
            p.set_defaults(func=unavailable)
    else:
        add_subcommands(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)
