"""Timings of the search plan's core: gazetteer load, search, describe, candidate areas, exports, report.

Prints CPU seconds of this process (``time.process_time``: the machine's load inflates wall time, not
these) and the load average. Run: ``nice -n 10 .venv/bin/python benchmarks/bench_candidates.py``.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def cpu(fn, repeat: int = 1) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.process_time()
        out = fn()
        times.append(time.process_time() - t)
    return statistics.median(times), out


def main() -> None:
    import numpy as np

    print(f"load average before: {open('/proc/loadavg').read().split()[:3]}")
    with tempfile.TemporaryDirectory() as cold:
        os.environ["GEOLOCATE_CACHE_DIR"] = cold
        from geolocate import gazetteer

        t, _ = cpu(gazetteer._table)
        print(f"gazetteer, first build (no cache): {t:.2f} s CPU")
        gazetteer._TABLE = None  # load again, now from the cache just written
        t, _ = cpu(gazetteer._table)
        print(f"gazetteer, load from the user cache: {t:.2f} s CPU")
        for q in ("Paris", "paris, tx", "Lihue", "Londn", "york city"):
            t, _ = cpu(lambda q=q: gazetteer.search(q), repeat=5)
            print(f"search({q!r}): {t * 1000:.1f} ms CPU (median of 5)")
        rng = np.random.default_rng(0)
        lat, lon = rng.uniform(-60, 70, 10_000), rng.uniform(-180, 180, 10_000)
        t, _ = cpu(lambda: gazetteer.describe_many(lat, lon))
        print(f"describe_many, 10,000 points: {t:.2f} s CPU")

        from geolocate import locate
        from geolocate.candidates import candidate_areas
        from geolocate.evidence import AnalystEvidence, EvidenceSet
        from geolocate.export import regions_to_geojson
        from geolocate.report import search_report

        located = locate.build((), EvidenceSet.of(AnalystEvidence(point=(21.98, -159.37), radius_km=100.0)))
        weights = located.weights()
        dist = located.distribution(weights)
        for budget in (20_000, 1_000_000):
            regions = dist.within_budget(budget)
            t, areas = cpu(lambda r=regions: candidate_areas(r, located.ensemble, weights), repeat=3)
            print(f"candidate_areas, {len(regions):,} cells in {budget:,} km²: {t * 1000:.0f} ms CPU -> {len(areas)} areas")
            t, _ = cpu(lambda r=regions, a=areas: regions_to_geojson(r, areas=a))
            print(f"GeoJSON with names and areas, {len(regions):,} cells: {t:.2f} s CPU")
        regions = dist.within_budget(20_000)
        report = lambda: search_report(dist, regions, view_name="ensemble", weights={}, experts=[], evidence=[], budget_km2=20_000,  # noqa: E731
                                       ensemble=located.ensemble)
        cpu(report)  # warm: country outlines and city labels read once per process
        t, _ = cpu(report, repeat=3)
        print(f"search_report (two maps, areas, HTML), warm: {t:.2f} s CPU")
    print(f"load average after: {open('/proc/loadavg').read().split()[:3]}")


if __name__ == "__main__":
    main()
