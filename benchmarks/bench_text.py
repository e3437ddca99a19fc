"""Text reading and text clues: speed and memory (prints numbers; not a timed test).

Targets (issue 18): reading a 1,024 px photo <= 1.5 s on 2 cores (PP-OCR path), the clue experts
<= 50 ms, resident memory of the loaded readers <= 300 MB with every script usable; the ``embed`` text
stage's throughput is reported.

On a loaded machine wall times are inflated: compare CPU seconds (both onnxruntime threads counted),
which must stay <= ~1.4 s a photo for 1.5 s wall on 2 quiet cores. Memory is the resident set of this
process: "over the library" counts from a process that has imported ``geolocate`` (as the app and the
CLI have), "over bare" from one with only numpy and Pillow.

    python benchmarks/bench_text.py [--repeat 5] [--embed 8]
"""

from __future__ import annotations

import argparse
import io
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
    """Resident memory now, MB, after giving freed heap back to the OS (as the reader does after each photo)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def timed_read(ocr, im, repeat: int) -> tuple[list[float], list[float], object]:
    """Wall and CPU seconds of ``repeat`` uncached readings of ``im``, and the last result."""
    walls, cpus, r = [], [], None
    for _ in range(repeat):
        ocr.clear_cache()
        t, c = time.perf_counter(), time.process_time()
        r = ocr.read_image(im)
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return walls, cpus, r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5, help="readings per photo (median reported)")
    ap.add_argument("--embed", type=int, default=8, help="photos through the embed text stage's per-photo work")
    args = ap.parse_args()

    import numpy as np
    from signs import EXTRA_SIGNS, SIGNS, Sign, best_match, render

    bare = rss_mb()
    import geolocate.embed.stages  # noqa: F401  (the library as the app and the CLI have it)
    from geolocate.text import clue_experts, extract_clues, ocr

    lib = rss_mb()
    print(f"cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}, onnxruntime threads {ocr.ocr_threads()}, "
          f"Tesseract models resident at most {ocr.max_script_models()}")
    print(f"RSS: bare process (numpy, Pillow) {bare:.0f} MB; with the geolocate library imported {lib:.0f} MB")
    t, c = time.perf_counter(), time.process_time()
    ocr._pp_engine()
    print(f"PP-OCRv4 loaded in {time.perf_counter() - t:.2f} s ({time.process_time() - c:.2f} s CPU): RSS +{rss_mb() - lib:.0f} MB over the library"
          f" (+{rss_mb() - bare:.0f} over bare; onnxruntime, OpenCV, 3 models)")
    t = time.perf_counter()
    ocr.warm_up()
    print(f"  + Tesseract's Latin model (restores dropped spaces) in {time.perf_counter() - t:.2f} s: RSS +{rss_mb() - lib:.0f} MB over the library")

    size = (1365, 1024)
    latin = Sign("bench-latin", ("BOULANGERIE DU PORT", "Tél. +33 4 91 54 12 30", "www.marseille-tourisme.fr", "Ouvert 7 jours", "Croissant 1,20 €"),
                 ("latin-bold", "latin", "latin", "latin", "latin"), "FRA")
    photos = {"Latin (PP-OCR only)": (latin, render(latin, size)), "Cyrillic (PP-OCR + Tesseract)": (SIGNS[3], render(SIGNS[3], size))}
    lines: list[str] = []
    latin_rss = 0.0
    for name, (sign, im) in photos.items():
        walls, cpus, r = timed_read(ocr, im, args.repeat)
        med, cpu = statistics.median(walls), statistics.median(cpus)
        readers = sorted({ln.reader for ln in r.lines})
        worst = max(best_match(e, [ln.text for ln in r.lines])[1] for e in sign.lines)
        target = f"  [{verdict(cpu, 1.4)} 1.4 s CPU]" if "only" in name else ""
        print(f"read {size[0]}x{size[1]} photo, {name}: median {med:.2f} s wall, {cpu:.2f} s CPU (all threads; min {min(cpus):.2f}, max {max(cpus):.2f}) "
              f"over {args.repeat}, load {os.getloadavg()[0]:.1f} ({len(r.lines)} lines, readers {', '.join(readers)}, worst line edit distance {worst:.2f}){target}")
        lines += [ln.text for ln in r.lines]
        t = time.perf_counter()
        ocr.read_image(im)
        print(f"  cached second read: {1000 * (time.perf_counter() - t):.1f} ms (pixel hash)")
        if "only" in name:
            latin_rss = rss_mb() - lib
            print(f"RSS of the loaded readers, Latin only: +{latin_rss:.0f} MB over the library (+{rss_mb() - bare:.0f} over bare)  [{verdict(latin_rss, 300)} 300 MB]")

    # every script with a Tesseract model, one sign each, in one process: the worst case for memory
    readers_lru, _ = ocr._tess_engines()
    table = [s for s in SIGNS if s.name not in ("french", "portuguese", "german", "spanish")] + list(EXTRA_SIGNS)
    print(f"\none sign per script, {size[0]}x{size[1]}, in one process (RSS over the library after each photo, heap trimmed):")
    print(f"{'sign':<10} {'script':<11} {'reader':<10} {'edit':>5} {'CPU s':>6} {'RSS MB':>7}  resident Tesseract models")
    worst_rss = 0.0
    for sign in table:
        im = render(sign, size)
        ocr.clear_cache()
        c = time.process_time()
        r = ocr.read_image(im)
        cpu = time.process_time() - c
        now = rss_mb() - lib
        worst_rss = max(worst_rss, now)
        scripts = sorted({ln.script for ln in r.lines}) or ["-"]
        read_by = sorted({ln.reader for ln in r.lines}) or ["-"]
        dist = max(best_match(e, [ln.text for ln in r.lines])[1] for e in sign.lines)
        loaded = ", ".join(readers_lru.loaded()) if readers_lru is not None else "(no Tesseract)"
        print(f"{sign.name:<10} {'/'.join(scripts):<11} {'/'.join(read_by):<10} {dist:>5.2f} {cpu:>6.2f} {now:>7.0f}  {loaded}")
    settled = rss_mb() - lib
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if readers_lru is not None:
        print(f"Tesseract models: {readers_lru.loads} loads, {readers_lru.evictions} evictions, at most {readers_lru.peak} resident (cap {readers_lru.cap});"
              " (orientation-and-script detection loads per use and ends)")
    print(f"RSS of the loaded readers after every script: highest after a photo +{worst_rss:.0f} MB, settled +{settled:.0f} MB over the library"
          f" (+{settled + lib - bare:.0f} over bare; process {rss_mb():.0f} MB, peak during detection {peak:.0f} MB)  [{verdict(worst_rss, 300)} 300 MB]")

    from geolocate.grid import global_grid
    from geolocate.text.clues import _place_index

    t = time.perf_counter()
    _place_index()
    print(f"\nGeoNames name index built in {time.perf_counter() - t:.1f} s (once per process)")
    grid = global_grid(3)
    t = time.perf_counter()
    experts = clue_experts(extract_clues(lines))
    for e in experts:
        e.log_density(grid)
    print(f"clue tables and experts, first use (GeoNames index, CLDR tables, country areas): {time.perf_counter() - t:.1f} s")
    runs, cpus = [], []
    for _ in range(7):
        t, c = time.perf_counter(), time.process_time()
        experts = clue_experts(extract_clues(lines))
        for e in experts:
            e.log_density(grid)
        runs.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    med = statistics.median(runs)
    print(f"clues + {len(experts)} experts on the base grid ({len(grid):,} cells), warm: median {1000 * med:.1f} ms wall, "
          f"{1000 * statistics.median(cpus):.1f} ms CPU, load {os.getloadavg()[0]:.1f}  [{verdict(statistics.median(cpus), 0.05)} 50 ms CPU]")

    # the embed text stage's per-photo work: decode the JPEG in memory, read, find the clues (stages.read_text_row)
    from geolocate.embed.stages import read_text_row
    from geolocate.image.photo import load_photo

    signs = [s for s in SIGNS][: max(1, args.embed)]
    blobs = []
    for k, s in enumerate(signs):
        buf = io.BytesIO()
        render(s, (1024, 640), seed=k).save(buf, format="JPEG", quality=85)
        blobs.append(buf.getvalue())
    ocr.clear_cache()
    t, c = time.perf_counter(), time.process_time()
    found = 0
    for k, b in enumerate(blobs):
        row = read_text_row(load_photo(b, f"sign{k}.jpg"))
        found += bool(row["clues"])
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    print(f"embed text stage, {len(blobs)} rendered 1024x640 signs ({', '.join(s.name for s in signs)}; readers and clue tables warm): "
          f"{len(blobs) / wall:.2f} photos/s wall ({wall:.1f} s), {cpu / len(blobs):.2f} s CPU a photo = {len(blobs) / cpu:.2f} photos per CPU-second"
          f" ({found} with clues), load {os.getloadavg()[0]:.1f}")
    print(f"RSS at the end: {rss_mb():.0f} MB; numpy {np.__version__}; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
