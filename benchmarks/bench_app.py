"""Server-side latency of a slider move and the size of the deck payload, at the default resolution.

What a slider move costs on the server: pool the stored expert fields with the new weights and refine
(``Ensemble.distribution``), pick and colour the drawn cells (``mapdata.map_records``), build the deck and
serialise it (``Deck.to_json``, which is what ``st.pydeck_chart`` sends). Targets: <= 100 ms, <= 5 MB.

Usage: python benchmarks/bench_app.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geolocate import evidence, presets, share  # noqa: E402
from geolocate.ensemble import Ensemble  # noqa: E402
from geolocate.experts import standard_priors  # noqa: E402
from geolocate.maps import camera, deck
from geolocate.maps import data as mapdata


def scenario(name: str, ensemble: Ensemble, slider: str, repeats: int, fit: bool = False) -> dict:
    base = {n: presets.default_weight(n) for n in ensemble.names}
    first = ensemble.distribution(base, refine_to=share.DEFAULT_REFINE)  # warm, as after the page's first run
    # The page fits the camera once per view and keeps it while sliders move.
    cam = camera.view_state(first, share.DEFAULT_BUDGET_KM2) if fit else camera.WORLD_VIEW
    times, sizes, cells = [], [], []
    for i in range(repeats):
        w = dict(base)
        w[slider] = 0.05 + (i % 20) * 0.1  # a new slider position every time
        t0 = time.perf_counter()
        dist = ensemble.distribution(w, refine_to=share.DEFAULT_REFINE)
        data = mapdata.map_records(dist, share.DEFAULT_BUDGET_KM2, zoom=float(cam["zoom"]))
        payload = deck.build_deck(data, cam).to_json()
        times.append((time.perf_counter() - t0) * 1e3)
        sizes.append(len(payload.encode()))
        cells.append(len(data.records))
    return {
        "scenario": name,
        "median_ms": statistics.median(times),
        "p90_ms": sorted(times)[int(0.9 * (len(times) - 1))],
        "max_ms": max(times),
        "payload_mb": max(sizes) / 1e6,
        "hexagons": max(cells),
        "context": len(data.context),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    t0 = time.perf_counter()
    priors = standard_priors()
    ens_priors = Ensemble(priors)
    ens_priors.base_fields()
    print(f"first build (priors + base fields): {time.perf_counter() - t0:.2f} s (cached once per process in the app)")
    ev = evidence.AnalystEvidence(point=(48.85, 2.35), radius_km=200.0, include=("FRA",), attributes=("urban", "forest"))
    analyst, _ = evidence.analyst_experts(ev)
    t0 = time.perf_counter()
    ens_analyst = Ensemble(priors + analyst)
    ens_analyst.base_fields()
    print(f"new expert set (analyst evidence added): {time.perf_counter() - t0:.2f} s")
    rows = [
        scenario("priors only (diffuse: hits the hexagon cap)", ens_priors, "population", args.repeats),
        scenario("priors + analyst guess/region/attributes", ens_analyst, "analyst guess", args.repeats, fit=True),
    ]
    print(f"\nslider move -> new deck, default refinement res {share.DEFAULT_REFINE}, budget {share.DEFAULT_BUDGET_KM2:g} km², {args.repeats} moves")
    print(f"{'scenario':48s} {'median ms':>9s} {'p90 ms':>7s} {'max ms':>7s} {'payload MB':>10s} {'full-res':>8s} {'context':>7s}")
    for r in rows:
        print(f"{r['scenario']:48s} {r['median_ms']:9.1f} {r['p90_ms']:7.1f} {r['max_ms']:7.1f} {r['payload_mb']:10.2f} {r['hexagons']:8d} {r['context']:7d}")
    ok = all(r["median_ms"] <= 100 and r["payload_mb"] <= 5 for r in rows)
    print(f"\ntargets (median <= 100 ms, payload <= 5 MB): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
