"""Choosing the base resolution: live-slider latency against RvA fidelity.

For base resolutions 2, 3 and 4 this prints the recompute + budget latency (6 experts) and the RvA of
the strongest GeoEstimation model and of an equal-weight ensemble on N Im2GPS3k images (refined to
res 6 where the area is small). A base resolution is good enough when a finer one no longer changes
the RvA summaries beyond their bootstrap intervals.

    python benchmarks/bench_resolution.py [--samples 600]
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import SHARED, timed

from geolocate import metrics
from geolocate.bench import base_areas, build_fields, load_benchmark, refined_areas
from geolocate.data import discover_benchmarks
from geolocate.ensemble import Ensemble
from geolocate.experts import PointExpert, standard_priors
from geolocate.experts.point import DEFAULT_SCALES_KM, fit_scale_mixture, haversine_km


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=600)
    args = ap.parse_args()
    spec = next(s for s in discover_benchmarks(SHARED) if s.name == "im2gps3k")
    spec.predictions = [p for p in spec.predictions if p.stem == "ISNs_M-fstar-S3"]
    data = load_benchmark(spec, max_samples=args.samples)
    t = data.truth[["lat", "lon"]].to_numpy()
    for e in data.experts:
        if e.kind == "point":
            e.scales = np.asarray(DEFAULT_SCALES_KM)
            e.mix = fit_scale_mixture(haversine_km(t[:, 0], t[:, 1], e.pred_latlon[:, 0], e.pred_latlon[:, 1]))
    print(f"{'res':>3} {'cells':>8} {'slider ms':>10} | {'ISNs AUC':>9} {'ISNs area@50%':>14} | {'ens AUC':>8} {'ens area@50%':>13}")
    for res in (2, 3, 4):
        ens = Ensemble(standard_priors() + [PointExpert(48.8, 2.3, [25.0, 750.0], name="p1"), PointExpert(40.0, -3.0, 300.0, name="p2"), PointExpert(50.0, 10.0, 100.0, name="p3")], res=res)
        ens.base_fields()
        med, _ = timed(lambda: ens.distribution(np.random.uniform(0, 2, 6)).within_budget(1e4), 10)
        fs = build_fields(data, np.arange(len(data.truth)), res=res)
        out = []
        for w in (np.eye(len(fs.experts))[[e.name for e in fs.experts].index("ISNs_M-fstar-S3")], np.ones(len(fs.experts))):
            base, _ = base_areas(fs, w)
            areas, _ = refined_areas(fs, w, base, refine_to=6, refine_below_km2=2e5)
            out += [metrics.rva_auc(areas), metrics.area_at_recall(areas, 0.5)]
        print(f"{res:>3} {len(ens.grid):>8} {1e3 * med:>10.1f} | {out[0]:>9.4f} {out[1]:>14.3g} | {out[2]:>8.4f} {out[3]:>13.3g}")
        del fs


if __name__ == "__main__":
    main()
