"""Geodata layers: load time and process memory, one fresh process per layer, plus typical queries.

    python benchmarks/bench_layers.py            # target: country layer <= 30 MB of arrays

Memory is the process's resident set (VmRSS) added by loading, and its peak (VmHWM, reset before
each step through /proc/self/clear_refs); Linux only.
"""

from __future__ import annotations

import subprocess
import sys
import time

from _common import REPO, verdict

CHILD = r"""
import sys, time
sys.path.insert(0, {repo!r})
import numpy as np

def mem():
    with open('/proc/self/status') as f:
        d = {{l.split(':')[0]: int(l.split()[1]) for l in f if l.startswith(('VmRSS', 'VmHWM'))}}
    return d['VmRSS'] / 1024, d['VmHWM'] / 1024

def reset_peak():
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')

from geolocate.grid import LAYER_RESOLUTION, global_grid, points_to_cells
global_grid(LAYER_RESOLUTION); global_grid(3)
import geolocate.layers as L
which = {which!r}
reset_peak(); r0, _ = mem(); t = time.perf_counter()
layer = L.country_layer() if which == 'countries' else L.landcover_layer()
if which == 'landcover':
    L.land_fraction()  # the dense res-4 view every prior needs
t_load = time.perf_counter() - t; r1, peak = mem()
size = layer.nbytes() if hasattr(layer, 'nbytes') else layer.fractions.nbytes
print(f"{{which:10s}} load {{t_load:5.2f}} s   arrays {{size / 1e6:6.1f}} MB   RSS +{{r1 - r0:4.0f}} MB   peak +{{peak - r0:4.0f}} MB")
g = global_grid(3)
cols = [layer.classes.index('FRA')] if which == 'countries' else None
reset_peak(); r0, _ = mem(); t = time.perf_counter()
layer.values_at(g.cells, classes=cols) if cols else layer.values_at(g.cells)
print(f"{{'':10s}} values_at(res-3 grid{{', 1 class' if cols else ''}}) {{time.perf_counter() - t:5.2f}} s   peak +{{mem()[1] - r0:4.0f}} MB")
rng = np.random.default_rng(0)
cells = points_to_cells(rng.uniform(-60, 70, 20000), rng.uniform(-180, 180, 20000), 7)
t = time.perf_counter(); layer.values_at(cells, classes=cols) if cols else layer.values_at(cells)
print(f"{{'':10s}} values_at(20,000 res-7 cells) {{time.perf_counter() - t:5.3f}} s")
print(f"ARRAYS {{size}}")
"""


def main() -> None:
    for which in ("countries", "landcover"):
        t = time.perf_counter()
        run = subprocess.run([sys.executable, "-c", CHILD.format(repo=str(REPO), which=which)], capture_output=True, text=True)
        if run.returncode:
            print(run.stderr[-2000:])
            continue
        lines = run.stdout.strip().splitlines()
        print("\n".join(line for line in lines if not line.startswith("ARRAYS")))
        if which == "countries":
            size = int(lines[-1].split()[1])
            print(f"{'':10s} country layer arrays {size / 1e6:.1f} MB [{verdict(size, 30e6)} <= 30 MB]; process {time.perf_counter() - t:.1f} s")
    assets = sorted((REPO / "assets").iterdir())
    print("assets: " + ", ".join(f"{p.name} {p.stat().st_size / 1e6:.2f} MB" for p in assets) + f"; total {sum(p.stat().st_size for p in assets) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
