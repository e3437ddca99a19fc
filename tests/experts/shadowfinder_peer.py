"""Peer check of the sun expert against ShadowFinder 0.7.1 (Bellingcat; PyPI ``shadowfinder``).

ShadowFinder pins pandas < 3 and cartopy, so it usually lives in a side environment: set
``SHADOWFINDER_PYTHON`` to its interpreter (default ``/tmp/sfenv/bin/python`` when present), or install
it beside geolocate. Run ``python -m tests.experts.shadowfinder_peer --png out.png`` for the side-by-side map.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

CASES = [
    # (UTC date-time, object height, shadow length): several dates, times and ratios, both hemispheres.
    ("2024-06-21T10:00:00", 1.0, 1.2),
    ("2024-12-21T14:00:00", 2.0, 1.0),
    ("2024-03-20T23:30:00", 1.0, 0.8),  # subsolar point at 172 W: the ring straddles the antimeridian
    ("2024-09-15T06:00:00", 1.0, 3.0),  # low sun, 18 degrees
    ("2023-11-05T18:00:00", 1.0, 0.5),
    ("2025-02-10T03:00:00", 1.0, 1.6),
]

_RUNNER = r"""
import json, sys, datetime as dt
import numpy as np
from shadowfinder import ShadowFinder
cases, out = json.loads(sys.argv[1]), sys.argv[2]
arrays = {}
for i, (when, h, l) in enumerate(cases):
    sf = ShadowFinder(object_height=h, shadow_length=l, date_time=dt.datetime.fromisoformat(when), time_format="utc")
    lats = np.arange(sf.min_lat, sf.max_lat, sf.angular_resolution)
    lons = np.arange(sf.min_lon, sf.max_lon, sf.angular_resolution)
    sf.lons, sf.lats = np.meshgrid(lons, lats)
    sf.timezones = np.zeros(sf.lats.size)  # UTC times need no zones; skips the 200k-point zone lookup
    sf.find_shadows()
    arrays[f"rel{i}"] = sf.location_likelihoods
    arrays["lats"], arrays["lons"] = sf.lats, sf.lons
np.savez(out, **arrays)
"""


def shadowfinder_python() -> str | None:
    """An interpreter that imports shadowfinder, or None."""
    try:
        import shadowfinder  # noqa: F401

        return sys.executable
    except ImportError:
        pass
    cand = os.environ.get("SHADOWFINDER_PYTHON") or "/tmp/sfenv/bin/python"
    if Path(cand).exists():
        ok = subprocess.run([cand, "-c", "import shadowfinder"], capture_output=True)
        if ok.returncode == 0:
            return cand
    return None


def run_shadowfinder(python: str, out: Path, cases=CASES) -> dict[str, np.ndarray]:
    """ShadowFinder's signed relative shadow-length difference on its 0.5-degree grid, per case."""
    subprocess.run([python, "-c", _RUNNER, json.dumps(cases), str(out)], check=True, capture_output=True, timeout=600)
    with np.load(out) as z:
        return {k: z[k] for k in z.files}


def our_field(when: str, height: float, length: float, ratio_uncertainty: float = 0.03):
    """(grid, probability mass per res-3 cell) of our sun expert alone, no floor."""
    from geolocate.experts.sun import ObservationTime, SunExpert, SunObservation
    from geolocate.grid import global_grid

    g = global_grid(3)
    e = SunExpert([SunObservation.from_shadow(height, length, ObservationTime.parse(when + "Z", 0.0), ratio_uncertainty=ratio_uncertainty)])
    ll = e.log_density(g) + np.log(g.area_km2)
    p = np.exp(ll - ll.max())
    return g, p / p.sum()


def compare(sf: dict[str, np.ndarray], i: int, case) -> dict[str, float]:
    """The two peer-check numbers for case ``i``: our mass where |SF rel diff| < 0.1, and the share of SF's
    |rel diff| < 0.02 points inside our 95 % region."""
    g, p = our_field(*case)
    rel = np.abs(sf[f"rel{i}"])
    lats, lons = sf["lats"], sf["lons"]
    # Nearest SF grid node to each cell centre (0.5-degree grid from -60 and -180).
    r = np.round((g.lat - lats[0, 0]) / 0.5).astype(int)
    c = np.round((g.lon - lons[0, 0]) / 0.5).astype(int) % lons.shape[1]
    inside = (r >= 0) & (r < lats.shape[0])
    good = np.zeros(len(g), bool)
    good[inside] = np.nan_to_num(rel[r[inside], c[inside]], nan=np.inf) < 0.1
    density = p / g.area_km2
    order = np.argsort(-density)
    k = np.searchsorted(np.cumsum(p[order]), 0.95) + 1
    region = np.zeros(len(g), bool)
    region[order[:k]] = True
    tight = np.nan_to_num(rel, nan=np.inf) < 0.02
    pos = g.locate(lats[tight], lons[tight])
    return {
        # ShadowFinder's grid stops at -60 and 85 degrees: judge the mass it covers.
        "mass_within_0.1": float(p[good].sum() / p[inside].sum()),
        "mass_outside_sf_grid": float(p[~inside].sum()),
        "sf_points_below_0.02": int(tight.sum()),
        "share_of_them_in_our_95pct": float(region[pos].mean()) if len(pos) else float("nan"),
        "our_95pct_area_km2": float(g.area_km2[region].sum()),
    }


def side_by_side_png(sf: dict[str, np.ndarray], i: int, case, path: Path) -> None:
    """Equirectangular maps, ShadowFinder's |rel diff| (left) beside our density (right), as a PNG."""
    from PIL import Image, ImageDraw

    from geolocate.experts.clock import zone_samples, zone_table
    from geolocate.grid import points_to_cells

    g, p = our_field(*case)
    lat = np.arange(89.75, -90, -0.5)
    lon = np.arange(-179.75, 180, 0.5)
    LON, LAT = np.meshgrid(lon, lat)
    cell_pos = g.index_of(points_to_cells(LAT.ravel(), LON.ravel(), 3)).reshape(LAT.shape)
    # Land = cells whose time zones are not the nautical Etc/GMT zones (no layer files needed).
    _, _, names = zone_table()
    pos, zid, share = zone_samples(g)
    is_land = np.array([not n.startswith("Etc/") for n in names])
    land = (np.bincount(pos, share * is_land[zid], minlength=len(g)) > 0.5)[cell_pos]
    base = np.where(land, 200, 235).astype(np.uint8)

    def paint(value: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
        rgb = np.repeat(base[..., None], 3, axis=2).astype(float)
        a = np.clip(value, 0, 1)[..., None]
        return (rgb * (1 - a) + np.array(colour) * a).astype(np.uint8)

    # ShadowFinder: 1 - |rel|/0.1 inside its grid (lat -60..85), blank elsewhere.
    rel = np.nan_to_num(np.abs(sf[f"rel{i}"]), nan=np.inf)
    r = np.round((LAT - sf["lats"][0, 0]) / 0.5).astype(int)
    c = np.round((LON - sf["lons"][0, 0]) / 0.5).astype(int) % rel.shape[1]
    ok = (r >= 0) & (r < rel.shape[0])
    sf_full = np.zeros(LAT.shape)
    sf_full[ok] = np.clip(1 - rel[r[ok], c[ok]] / 0.1, 0, 1)
    dens = (p / g.area_km2)[cell_pos]
    ours = dens / dens.max()
    left, right = paint(sf_full, (200, 30, 30)), paint(ours, (30, 60, 200))
    gap = np.full((LAT.shape[0], 8, 3), 255, np.uint8)
    img = Image.fromarray(np.concatenate([left, gap, right], axis=1)).resize((2 * 720 + 16, 360))
    canvas = Image.new("RGB", (img.width, img.height + 24), "white")
    canvas.paste(img, (0, 24))
    d = ImageDraw.Draw(canvas)
    d.text((6, 6), f"ShadowFinder 0.7.1: 1 - |rel diff|/0.1   ({case[0]} UTC, {case[1]:g}:{case[2]:g})", fill="black")
    d.text((736, 6), "geolocate sun expert: density (±3 % ratio, res 3)", fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path, optimize=True)


if __name__ == "__main__":  # pragma: no cover - a manual tool
    import argparse
    import tempfile

    ap = argparse.ArgumentParser()
    ap.add_argument("--png", type=Path)
    ap.add_argument("--case", type=int, default=2)
    args = ap.parse_args()
    py = shadowfinder_python()
    if py is None:
        sys.exit("shadowfinder not found: pip install shadowfinder==0.7.1 into a side venv and set SHADOWFINDER_PYTHON")
    with tempfile.TemporaryDirectory() as tmp:
        sf = run_shadowfinder(py, Path(tmp) / "sf.npz")
    for i, case in enumerate(CASES):
        print(case, compare(sf, i, case))
    if args.png:
        side_by_side_png(sf, args.case, CASES[args.case], args.png)
        print(f"wrote {args.png}")
