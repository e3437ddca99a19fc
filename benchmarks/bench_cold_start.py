"""Cold build of the grid, layers and priors in a fresh cache, then the second (cached) start.

    python benchmarks/bench_cold_start.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

from _common import REPO

CHILD = """
import time; t = time.perf_counter()
from geolocate.grid import global_grid, DEFAULT_RESOLUTION, LAYER_RESOLUTION
global_grid(DEFAULT_RESOLUTION); global_grid(LAYER_RESOLUTION); t1 = time.perf_counter()
from geolocate.layers import landcover_layer, country_layer, geonames_population_layer, scene_layer
landcover_layer(); country_layer(); geonames_population_layer(); scene_layer(); t2 = time.perf_counter()
from geolocate.experts import standard_priors
from geolocate.ensemble import Ensemble
Ensemble(standard_priors()).base_fields(); t3 = time.perf_counter()
print(f"grids {t1 - t:.2f} s, layers {t2 - t1:.2f} s, priors + base fields {t3 - t2:.2f} s")
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, GEOLOCATE_CACHE_DIR=cache)
        for label in ("cold (empty cache)", "warm (cached)"):
            t = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", CHILD], cwd=REPO, env=env, capture_output=True, text=True, check=True)
            print(f"{label:20s} total {time.perf_counter() - t:5.2f} s  ({out.stdout.strip()})")
        print("cache files:", ", ".join(sorted(os.listdir(cache))))


if __name__ == "__main__":
    main()
