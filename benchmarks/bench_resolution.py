"""Convergence of the benchmark numbers in the base resolution and the finest refinement resolution.

For each (base res, finest res) this evaluates fixed weights and point mixtures (a previous report's,
``--fitted``) on the first N images of Im2GPS3k's eval half and prints, per expert and the ensemble,
AUC, area at 25/50/75 % recall and recall at 1e2..1e6 km², plus the slider latency (pool + budget of 6
experts) at that base resolution. Converged areas (adaptive refinement) should make the rows agree.

    python benchmarks/bench_resolution.py --fitted out/im2gps3k.json [--samples 300] [--grid 3:6,3:7,3:8,2:7,4:7]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import SHARED, timed

from geolocate import metrics
from geolocate.bench import Fitted, apply_fitted, evaluate, fit_on, load_benchmark, split_halves
from geolocate.data import discover_benchmarks
from geolocate.ensemble import Ensemble
from geolocate.experts import PointExpert, standard_priors


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fitted", help="a bench --json report (weights and point mixtures); default: mixtures fitted on the fit half, --weights")
    ap.add_argument("--weights", default="", help="name=value,... when there is no --fitted report (missing names: 1)")
    ap.add_argument("--samples", type=int, default=300, help="first N images of the eval half")
    ap.add_argument("--grid", default="3:6,3:7,3:8,2:7,4:7", help="base:finest pairs")
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
    print(f"{len(rows)} eval-half images; weights {fitted.weights}; mixtures from {args.fitted or 'the fit half'}")
    print(f"{'base':>4} {'fin':>3} {'slider ms':>9} {'s/img':>6} {'expert':<22} {'AUC':>6} {'A@25%':>8} {'A@50%':>8} {'A@75%':>8} "
          + " ".join(f"{'R@' + format(a, '.0e'):>8}" for a in metrics.RECALL_AREAS_KM2) + f" {'band med':>9}")
    for pair in args.grid.split(","):
        base, finest = (int(x) for x in pair.split(":"))
        app = Ensemble(standard_priors() + [PointExpert(48.8, 2.3, [25.0, 750.0], name="p1"), PointExpert(40.0, -3.0, 300.0, name="p2"), PointExpert(50.0, 10.0, 100.0, name="p3")], res=base)
        app.base_fields()
        rng = np.random.default_rng(0)
        med, _ = timed(lambda app=app, rng=rng: app.distribution(rng.uniform(0, 2, 6)).within_budget(1e4), 5)
        ens = Ensemble(data.experts, res=base)
        stack = ens.stack(rows)
        t = time.perf_counter()
        areas, _, bands = evaluate(stack, data.truth, configs, finest)
        per = (time.perf_counter() - t) / len(rows)
        for name, _ in configs:
            a = areas[name]
            aq = metrics.area_at_recall(a, metrics.RECALL_LEVELS)
            rq = metrics.recall_at_area(a, metrics.RECALL_AREAS_KM2)
            print(f"{base:>4} {finest:>3} {1e3 * med:>9.1f} {per:>6.2f} {name[:22]:<22} {metrics.rva_auc(a):>6.3f} "
                  + " ".join(f"{x:>8.3g}" for x in aq) + " " + " ".join(f"{x:>8.3f}" for x in rq) + f" {np.median(bands[name]):>9.3g}", flush=True)
        del stack


if __name__ == "__main__":
    main()
