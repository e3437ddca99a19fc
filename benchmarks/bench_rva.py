"""Recall vs Area of one weight vector over all 2,997 Im2GPS3k images (target <= 1 s), after the
one-off evaluation of every expert on the base grid.

    python benchmarks/bench_rva.py [--samples N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import SHARED, timed, verdict

from geolocate.bench import base_areas, build_fields, load_benchmark, refined_areas
from geolocate.data import discover_benchmarks
from geolocate.experts.point import DEFAULT_SCALES_KM
from geolocate.metrics import rva_auc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=None)
    args = ap.parse_args()
    spec = next(s for s in discover_benchmarks(SHARED) if s.name == "im2gps3k")
    t = time.perf_counter()
    data = load_benchmark(spec, max_samples=args.samples)
    for e in data.experts:
        if e.kind == "point":
            e.scales = np.asarray(DEFAULT_SCALES_KM)
            e.mix = np.full(len(e.scales), 1 / len(e.scales))
    rows = np.arange(len(data.truth))
    print(f"read {len(rows)} images, {len(data.experts)} experts in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    fs = build_fields(data, rows)
    print(f"expert fields on the base grid (one-off per benchmark run): {time.perf_counter() - t:.1f} s, "
          f"{fs.per_image.nbytes / 1e9:.2f} GB")
    w = np.random.default_rng(0).uniform(0.2, 2.0, len(fs.experts))
    med, worst = timed(lambda: base_areas(fs, w, want_mode=False), 5)
    areas, _ = base_areas(fs, w)
    print(f"RvA of one weight vector, {len(rows)} images, base grid: median {med:.3f} s, max {worst:.3f} s  [{verdict(med, 1.0)} <= 1 s]; AUC {rva_auc(areas):.4f}")
    t = time.perf_counter()
    fine, _ = refined_areas(fs, w, areas, refine_to=6, refine_below_km2=2e5)
    print(f"with refinement to res 6 of images below 2e5 km² and modes: {time.perf_counter() - t:.1f} s; AUC {rva_auc(fine):.4f}")


if __name__ == "__main__":
    main()
