"""Live-slider latency: ensemble recompute + area-budget selection at the default resolution, 6 experts.

    python benchmarks/bench_ensemble.py            # target: <= 50 ms median on a 2-core machine
"""

from __future__ import annotations

import numpy as np
from _common import timed, verdict

from geolocate.ensemble import Ensemble
from geolocate.experts import AttributeExpert, PointExpert, RegionExpert, override_probs, standard_priors
from geolocate.grid import DEFAULT_RESOLUTION
from geolocate.layers import landcover_layer


def main() -> None:
    lc = landcover_layer()
    experts = standard_priors() + [
        PointExpert(48.85, 2.35, 300.0, name="analyst guess", kind="analyst"),
        AttributeExpert(lc, override_probs(lc, ["urban and built-up"]), name="urban", kind="analyst"),
        RegionExpert(exclude=["USA"], name="not USA"),
    ]
    ens = Ensemble(experts)
    ens.base_fields()
    rng = np.random.default_rng(0)
    print(f"{len(ens.names)} experts on the res-{DEFAULT_RESOLUTION} grid ({len(ens.grid)} cells)")

    def base():
        ens.distribution(rng.uniform(0, 2, len(ens.names))).within_budget(1e4)

    def refined():
        ens.distribution(rng.uniform(0.8, 1.2, len(ens.names)), refine_to=7).within_budget(1e4)

    med, worst = timed(base, 50)
    print(f"recompute + budget (base grid):        median {1e3 * med:6.1f} ms, max {1e3 * worst:6.1f} ms  [{verdict(med, 0.05)} <= 50 ms]")
    med, worst = timed(refined, 20)
    print(f"recompute + refine to res 7 + budget:  median {1e3 * med:6.1f} ms, max {1e3 * worst:6.1f} ms  (refinement cache warm)")


if __name__ == "__main__":
    main()
