"""Sun/shadow expert behind a slider: its field at the default resolution with refinement.

    python benchmarks/bench_sun.py            # target: <= 100 ms median on a 2-core machine

A slider move changes the shadow ratio: a new expert is evaluated on the base grid (res 3) and on the
cells the ensemble refines (the 600 densest per level, down to res 7: 4 x 4,200 cells). Printed per
case: the expert's own field (base + refinement cells), and the whole ``Ensemble([sun]).distribution(
refine_to=7).within_budget(1e4)`` (the ensemble's refinement machinery included, children geometry
warm as in the app). Wall time and process CPU time are both shown: on a shared, loaded machine the
CPU time is the closer estimate of the unloaded wall time.
"""

from __future__ import annotations

import itertools
import os
import statistics
import time

import numpy as np
from _common import verdict

from geolocate.ensemble import Ensemble
from geolocate.experts.clock import ClockEvidence, ClockExpert
from geolocate.experts.sun import ObservationTime, SunExpert, SunObservation
from geolocate.grid import DEFAULT_RESOLUTION, CellSet, children, global_grid


def timed2(fn, repeat: int = 15) -> tuple[float, float]:
    """(median wall, median process CPU) seconds of ``fn()`` after one warm-up."""
    fn()
    wall, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    grid = global_grid(DEFAULT_RESOLUTION)
    print(f"res-{DEFAULT_RESOLUTION} grid: {len(grid)} cells; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    lengths = itertools.cycle(np.linspace(0.8, 1.25, 10))

    def expert(when: str, sigma_min: float) -> SunExpert:
        t = ObservationTime.parse(when, sigma_min)
        return SunExpert([SunObservation.from_shadow(1.0, float(next(lengths)), t, ratio_uncertainty=0.05)])

    cases = [
        ("UTC time, exact", "2024-06-21T09:30Z", 0.0),
        ("UTC time ± 5 min", "2024-06-21T09:30Z", 5.0),
        ("UTC time ± 15 min", "2024-06-21T09:30Z", 15.0),
        ("local clock time ± 15 min", "2024-06-21T09:30", 15.0),
    ]
    for label, when, sigma in cases:
        # The refinement cells of every ring position the loop visits, and their children geometry (warm in the app).
        refined = []
        for _ in range(10):
            d = Ensemble([expert(when, sigma)]).distribution(refine_to=7)
            fine = d.cells.resolution > DEFAULT_RESOLUTION
            refined.append(d.cells.subset(fine))
        pool = itertools.cycle(refined)

        def field(when=when, sigma=sigma, pool=pool):
            e = expert(when, sigma)
            e.log_density(grid)
            e.log_density(next(pool))

        def ensemble(when=when, sigma=sigma):
            Ensemble([expert(when, sigma)]).distribution(refine_to=7).within_budget(1e4)

        fw, fc = timed2(field)
        ew, ec = timed2(ensemble)
        print(f"{label:27s} expert field (base + {np.mean([len(r) for r in refined]):,.0f} refined cells): wall {1e3 * fw:6.1f} ms, CPU {1e3 * fc:6.1f} ms [{verdict(fc, 0.1)} <= 100 ms]"
              f";  whole ensemble + refine + budget: wall {1e3 * ew:6.1f} ms, CPU {1e3 * ec:6.1f} ms")
    clock = ClockExpert(ClockEvidence(-420, __import__("datetime").datetime(2024, 7, 1, 12)))
    clock.log_density(grid)
    kids, _ = children(grid.cells[:600], DEFAULT_RESOLUTION + 1)
    w, c = timed2(lambda: (clock.log_density(grid), clock.log_density(CellSet.concat([kids]))))
    print(f"clock expert, base grid + {len(kids)} refined cells: wall {1e3 * w:5.1f} ms, CPU {1e3 * c:5.1f} ms (zone table loaded)")


if __name__ == "__main__":
    main()
