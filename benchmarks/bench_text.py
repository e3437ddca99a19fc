"""Text reading and text clues: speed and memory (prints numbers; not a timed test).

Targets (issue 18): reading a 1,024 px photo <= 1.5 s on 2 cores (PP-OCR path), the clue experts
<= 50 ms, resident memory of the loaded readers <= 300 MB.

    python benchmarks/bench_text.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "text"))

from _common import verdict  # noqa: E402


def rss_mb() -> float:
    """Resident memory now, MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    import numpy as np
    from signs import SIGNS, Sign, render

    base = rss_mb()
    from geolocate.text import clue_experts, extract_clues, ocr

    print(f"cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")
    t = time.perf_counter()
    ocr._pp_engine()
    load = time.perf_counter() - t
    pp_mb = rss_mb() - base
    print(f"PP-OCRv4 loaded in {load:.2f} s: RSS +{pp_mb:.0f} MB (onnxruntime, OpenCV, 3 models)  [{verdict(pp_mb, 300)} 300 MB]")
    latin = Sign("bench-latin", ("BOULANGERIE DU PORT", "Tél. +33 4 91 54 12 30", "www.marseille-tourisme.fr", "Ouvert 7 jours", "Croissant 1,20 €"),
                 ("latin-bold", "latin", "latin", "latin", "latin"), "FRA")
    cyr = SIGNS[3]
    photos = {"Latin (PP-OCR only)": render(latin, (1365, 1024)), "Cyrillic (PP-OCR + Tesseract)": render(cyr, (1365, 1024))}
    lines = []
    for name, im in photos.items():
        runs, cpu = [], []
        for _ in range(args.repeat):
            ocr.clear_cache()
            t, c = time.perf_counter(), time.process_time()
            r = ocr.read_image(im)
            runs.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        med = statistics.median(runs)
        readers = sorted({ln.reader for ln in r.lines})
        print(f"read 1365x1024 photo, {name}: median {med:.2f} s wall, {statistics.median(cpu):.2f} s CPU (all threads), max {max(runs):.2f} s over {args.repeat}"
              f" ({len(r.lines)} lines, readers {', '.join(readers)})" + (f"  [{verdict(med, 1.5)} 1.5 s]" if "only" in name else ""))
        lines += [ln.text for ln in r.lines]
        t = time.perf_counter()
        ocr.read_image(im)
        print(f"  cached second read: {1000 * (time.perf_counter() - t):.1f} ms (pixel hash); RSS now +{rss_mb() - base:.0f} MB over the bare process"
              + (f" (Tesseract: {len(ocr._ENGINES.tess_langs)} models loaded)" if ocr._ENGINES.tess is not None else " (PP-OCR + Tesseract's English model for spacing)"))
    readers = rss_mb() - base
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"RSS of all loaded readers after reading (heap trimmed): +{readers:.0f} MB over the bare process ({rss_mb():.0f} MB now, peak {peak:.0f} MB during detection)  [{verdict(readers, 300)} 300 MB]")

    from geolocate.grid import global_grid
    from geolocate.text.clues import _place_index

    t = time.perf_counter()
    _place_index()
    print(f"GeoNames name index built in {time.perf_counter() - t:.1f} s (once per process)")
    grid = global_grid(3)
    t = time.perf_counter()
    clues = extract_clues(lines)
    experts = clue_experts(clues)
    for e in experts:
        e.log_density(grid)
    print(f"clue tables and experts, first use (GeoNames index, CLDR tables, country areas): {time.perf_counter() - t:.1f} s")
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        clues = extract_clues(lines)
        experts = clue_experts(clues)
        for e in experts:
            e.log_density(grid)
        runs.append(time.perf_counter() - t)
    med = statistics.median(runs)
    print(f"clues + {len(experts)} experts on the base grid ({len(grid):,} cells), warm: median {1000 * med:.1f} ms  [{verdict(med, 0.05)} 50 ms]")
    t = time.perf_counter()
    for e in experts:
        e.log_density(grid)
    print(f"  of which expert evaluation: {1000 * (time.perf_counter() - t):.1f} ms")
    print(f"RSS at the end: {rss_mb():.0f} MB; numpy {np.__version__}")


if __name__ == "__main__":
    main()
