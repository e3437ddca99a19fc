"""The mode of a distribution keeps a point model's own accuracy (issue 21), and what a mode costs.

For each Im2GPS3k point model alone (no priors), the GCD accuracy of its distribution's mode
(:meth:`geolocate.ensemble.Ensemble.peak`, through ``bench``) against its raw predictions' accuracy on
the same eval-half images; target: within 1.5 points at 1 and 25 km. Then the time of one ensemble
mode (10 experts, fitted-like weights) per image.

    python benchmarks/bench_mode.py [--max-samples N] [--experts ISNs_M-fstar-S3,...] [--timed 40]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import SHARED, verdict

from geolocate.bench import fit_on, load_benchmark, run_benchmark, split_halves
from geolocate.data import discover_benchmarks
from geolocate.ensemble import Ensemble


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-samples", type=int, default=None)
    ap.add_argument("--experts", default="", help="point models to check (default: all)")
    ap.add_argument("--timed", type=int, default=40, help="images whose ensemble mode is timed")
    args = ap.parse_args()
    spec = next(s for s in discover_benchmarks(SHARED) if s.name == "im2gps3k")
    names = [p.stem for p in spec.predictions] if not args.experts else args.experts.split(",")
    print(f"{'expert':<18} {'n':>5} {'mode@1km':>9} {'pred@1km':>9} {'mode@25km':>10} {'pred@25km':>10}  verdict (<= 1.5 points)")
    for name in names:
        r = run_benchmark(spec, experts=[name], priors=[], max_samples=args.max_samples, n_boot=0)
        row = r.summary.set_index("expert").loc[name]
        d1, d25 = abs(row["acc@1km"] - row["pred_acc@1km"]), abs(row["acc@25km"] - row["pred_acc@25km"])
        ok = verdict(max(d1, d25), 0.015)
        print(f"{name:<18} {r.report['split']['eval']:>5} {row['acc@1km']:>9.3f} {row['pred_acc@1km']:>9.3f} {row['acc@25km']:>10.3f} {row['pred_acc@25km']:>10.3f}  {ok}", flush=True)
    if not args.timed:
        return
    data = load_benchmark(spec, max_samples=args.max_samples)
    is_fit = split_halves(data.groups)
    fit_on(data, np.flatnonzero(is_fit), False, 3, 1e-3, "the fit half")
    rows = np.flatnonzero(~is_fit)[: args.timed]
    ens = Ensemble(data.experts)
    stack = ens.stack(rows)
    w = np.array([{"uniform land": 0.0, "population": 2.0, "photo density": 3.0, "scene (places365)": 3.0}.get(n, 1.0) for n in ens.names])
    t = time.process_time()
    for k in range(len(rows)):
        stack.record(k).peak(w, refine_to=6)
    print(f"ensemble mode ({len(ens.names)} experts): {1e3 * (time.process_time() - t) / len(rows):.1f} ms CPU per image ({len(rows)} images)")


if __name__ == "__main__":
    main()
