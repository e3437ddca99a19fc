"""Convergence of the benchmark numbers in the base resolution and the finest refinement resolution.

For each (base res, finest res) this evaluates fixed weights and point mixtures (a previous report's,
``--fitted``) on the first N images of Im2GPS3k's eval half (default: all of it) and prints, per
expert and the ensemble, AUC, area at 25/50/75 % recall and recall at 1e2..1e6 km², the median open
band, CPU seconds per image, plus the slider latency (pool + budget of 6 experts) at that base
resolution. Areas are those of the continuous density (one-expert configurations in closed form, the
ensemble by adaptive refinement with sub-cell shares), so the rows should agree; the last lines give
the ensemble's change in AUC and area at 50 % recall between the two finest settings (targets:
< 0.003 and < 2 % from res 8 to 10).

    python benchmarks/bench_resolution.py --fitted out/im2gps3k.json [--samples N] [--grid 3:7,3:8,3:9,3:10]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import SHARED, timed

from geolocate import metrics
from geolocate.bench import EVAL_CHUNK, Fitted, apply_fitted, evaluate, fit_on, load_benchmark, single_threaded_blas, split_halves
from geolocate.data import discover_benchmarks
from geolocate.ensemble import Ensemble
from geolocate.experts import PointExpert, standard_priors


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fitted", help="a bench --json report (weights and point mixtures); default: mixtures fitted on the fit half, --weights")
    ap.add_argument("--weights", default="", help="name=value,... when there is no --fitted report (missing names: 1)")
    ap.add_argument("--samples", type=int, default=None, help="first N images of the eval half (default: all)")
    ap.add_argument("--grid", default="3:7,3:8,3:9,3:10", help="base:finest pairs")
    args = ap.parse_args()
    spec = next(s for s in discover_benchmarks(SHARED) if s.name == "im2gps3k")
    data = load_benchmark(spec)
    is_fit = split_halves(data.groups)
    if args.fitted:
        fitted = Fitted.from_report(args.fitted)
        apply_fitted(data, fitted)
    else:
        fitted = fit_on(data, np.flatnonzero(is_fit), False, 3, 1e-3, "the fit half")
        given = dict((k, float(v)) for k, _, v in (p.rpartition("=") for p in args.weights.split(",") if p))
        fitted.weights = {e.name: given.get(e.name, 1.0) for e in data.experts}
    rows = np.flatnonzero(~is_fit)[: args.samples]
    names = [e.name for e in data.experts]
    w_ens = np.array([fitted.weights[n] for n in names])
    configs = [(n, np.eye(len(names))[i]) for i, n in enumerate(names)] + [("ensemble", w_ens)]
    pairs = [tuple(int(x) for x in p.split(":")) for p in args.grid.split(",")]
    print(f"{len(rows)} eval-half images; weights {fitted.weights}; mixtures from {args.fitted or 'the fit half'}")
    print(f"{'base':>4} {'fin':>3} {'slider ms':>9} {'s/img':>6} {'expert':<22} {'AUC':>6} {'A@25%':>8} {'A@50%':>8} {'A@75%':>8} "
          + " ".join(f"{'R@' + format(a, '.0e'):>8}" for a in metrics.RECALL_AREAS_KM2) + f" {'band med':>9}")
    ens_rows = {}
    for base in sorted({b for b, _ in pairs}):
        app = Ensemble(standard_priors() + [PointExpert(48.8, 2.3, [25.0, 750.0], name="p1"), PointExpert(40.0, -3.0, 300.0, name="p2"), PointExpert(50.0, 10.0, 100.0, name="p3")], res=base)
        app.base_fields()
        rng = np.random.default_rng(0)
        med, _ = timed(lambda app=app, rng=rng: app.distribution(rng.uniform(0, 2, 6)).within_budget(1e4), 5)
        ens = Ensemble(data.experts, res=base)
        finests = [f for b, f in pairs if b == base]
        got: dict[int, list] = {f: [] for f in finests}
        cpu = dict.fromkeys(finests, 0.0)
        with single_threaded_blas():
            for a in range(0, len(rows), EVAL_CHUNK):  # one stack per chunk, every finest resolution on it
                stack = ens.stack(rows[a : a + EVAL_CHUNK])
                for f in finests:
                    t = time.process_time()
                    got[f].append(evaluate(stack, data.truth, configs, f))
                    cpu[f] += time.process_time() - t
                del stack
        for f in finests:
            areas = {n: np.concatenate([g[0][n] for g in got[f]]) for n, _ in configs}
            bands = {n: np.concatenate([g[2][n] for g in got[f]]) for n, _ in configs}
            for name, _ in configs:
                a = areas[name]
                aq = metrics.area_at_recall(a, metrics.RECALL_LEVELS)
                rq = metrics.recall_at_area(a, metrics.RECALL_AREAS_KM2)
                print(f"{base:>4} {f:>3} {1e3 * med:>9.1f} {cpu[f] / len(rows):>6.3f} {name[:22]:<22} {metrics.rva_auc(a):>6.3f} "
                      + " ".join(f"{x:>8.3g}" for x in aq) + " " + " ".join(f"{x:>8.3f}" for x in rq) + f" {np.median(bands[name]):>9.3g}", flush=True)
            e = areas["ensemble"]
            ens_rows[(base, f)] = (metrics.rva_auc(e), float(metrics.area_at_recall(e, 0.5)))
    keys = sorted(ens_rows, key=lambda k: k[1])
    if len(keys) > 1:
        f0, f1 = keys[-2][1], keys[-1][1]
        (auc0, a0), (auc1, a1) = ens_rows[keys[-2]], ens_rows[keys[-1]]
        print(f"ensemble, finest {f0} -> {f1}: AUC {auc0:.4f} -> {auc1:.4f} ({auc1 - auc0:+.4f}; target |change| < 0.003), "
              f"area at 50 % {a0:.4g} -> {a1:.4g} km² ({100 * (a1 / a0 - 1):+.2f} %; target < 2 %)")
        first = next((k for k in keys if k[1] == 8), keys[0])
        (auc8, a8) = ens_rows[first]
        print(f"ensemble, finest {first[1]} -> {f1}: AUC {auc8:.4f} -> {auc1:.4f} ({auc1 - auc8:+.4f}), area at 50 % {100 * (a1 / a8 - 1):+.2f} %")


if __name__ == "__main__":
    main()
