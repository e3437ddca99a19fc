"""Recall vs Area of one weight vector over all 2,997 Im2GPS3k images (target <= 1 s), after the
one-off evaluation of every expert on the base grid; then the areas to truth of the continuous
density (adaptive refinement with sub-cell shares) and the mode of a few images, CPU per image.

    python benchmarks/bench_rva.py [--samples N] [--converged 40]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import SHARED, timed, verdict

from geolocate.bench import evaluate, fit_on, load_benchmark, single_threaded_blas, truth_cells
from geolocate.data import discover_benchmarks
from geolocate.ensemble import Ensemble
from geolocate.metrics import rva_auc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=None)
    ap.add_argument("--converged", type=int, default=40, help="images whose converged areas are timed")
    ap.add_argument("--refine-to", type=int, default=10)
    args = ap.parse_args()
    spec = next(s for s in discover_benchmarks(SHARED) if s.name == "im2gps3k")
    t = time.perf_counter()
    data = load_benchmark(spec, max_samples=args.samples)
    rows = np.arange(len(data.truth))
    fit_on(data, rows, False, 3, 1e-3, "all images")  # point mixtures only
    print(f"read {len(rows)} images, {len(data.experts)} experts in {time.perf_counter() - t:.1f} s")
    ens = Ensemble(data.experts)
    t = time.perf_counter()
    stack = ens.stack(rows)
    print(f"expert fields on the base grid (one-off per benchmark run): {time.perf_counter() - t:.1f} s, {stack.per_record.nbytes / 1e9:.2f} GB")
    w = np.random.default_rng(0).uniform(0.2, 2.0, len(ens.names))
    cells = truth_cells(stack, data.truth)
    med, worst = timed(lambda: stack.base_areas(w, cells), 5)
    areas = stack.base_areas(w, cells)
    print(f"RvA of one weight vector, {len(rows)} images, base grid: median {med:.3f} s, max {worst:.3f} s  [{verdict(med, 1.0)} <= 1 s]; AUC {rva_auc(areas):.4f}")
    n = min(args.converged, len(rows))
    if not n:
        return
    sub = Ensemble(data.experts).stack(rows[:n])
    t = time.process_time()
    with single_threaded_blas():
        conv, _, bands = evaluate(sub, data.truth, [("w", w)], args.refine_to)
    dt = time.process_time() - t
    print(f"area to truth + mode (finest res {args.refine_to}), this weight vector: {1e3 * dt / n:.0f} ms CPU per image "
          f"({n} images); AUC {rva_auc(conv['w']):.4f} vs base grid {rva_auc(areas[:n]):.4f}; median open band {np.median(bands['w']):.3g} km²")


if __name__ == "__main__":
    main()
