"""Worked example of docs/experts.md: a 1.8 m person's 2.58 m shadow at 18:30 on the phone clock.

The phone says UTC+02:00, on 2024-06-21. Prints the search areas and writes docs/img/sun_clock_example.png.

    python docs/sun_example.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geolocate.ensemble import Ensemble  # noqa: E402
from geolocate.evidence.sunclock import SunClockEvidence, build_experts  # noqa: E402
from geolocate.experts import standard_priors  # noqa: E402
from geolocate.experts.clock import zone_samples, zone_table  # noqa: E402
from geolocate.grid import global_grid, points_to_cells  # noqa: E402

TRUTH = (40.42, -3.70)  # Madrid: where the shadow was measured


def main() -> None:
    """Print the areas, write the picture."""
    ev = SunClockEvidence(shadows=((1.8, 2.58),), times=("2024-06-21T18:30",), time_uncertainty_min=10, utc_offset="+02:00", local_time="2024-06-21T18:30")
    experts, notes = build_experts(ev)
    for n in notes:
        print(n)
    ens = Ensemble(standard_priors() + experts)
    panels = []
    for label, weights in [
        ("sun/shadow alone", {n: float(n == "sun") for n in ens.names}),
        ("clock alone", {n: float(n == "clock") for n in ens.names}),
        ("sun x clock", {n: float(n in ("sun", "clock")) for n in ens.names}),
        ("sun x clock x priors", None),
    ]:
        dist = ens.distribution(weights, refine_to=7)
        area = dist.area_to_contain(*TRUTH)
        print(f"{label:22s} area to contain Madrid: {area:12,.0f} km²")
        panels.append((f"{label}: {area:,.0f} km2 to reach Madrid", ens.distribution(weights)))
    g = global_grid(3)
    lat = np.arange(89.75, -90, -0.5)
    lon = np.arange(-179.75, 180, 0.5)
    LON, LAT = np.meshgrid(lon, lat)
    pix = points_to_cells(LAT.ravel(), LON.ravel(), 3)
    pos = g.index_of(pix).reshape(LAT.shape)
    _, _, names = zone_table()
    zp, zid, share = zone_samples(g)
    is_land = np.array([not n.startswith("Etc/") for n in names])
    land = (np.bincount(zp, share * is_land[zid], minlength=len(g)) > 0.5)[pos]
    base = np.repeat(np.where(land, 205, 240).astype(np.uint8)[..., None], 3, axis=2).astype(float)
    tiles = []
    for label, dist in panels:
        dens = np.exp(dist.log_density - dist.log_density.max())  # base grid, same order as g
        a = np.clip(np.log10(np.maximum(dens[pos], 1e-6)) / 6 + 1, 0, 1)[..., None]
        rgb = (base * (1 - a) + np.array([200, 40, 20]) * a).astype(np.uint8)
        im = Image.fromarray(rgb).resize((540, 270))
        tile = Image.new("RGB", (540, 290), "white")
        tile.paste(im, (0, 20))
        d = ImageDraw.Draw(tile)
        d.text((4, 4), label, fill="black")
        x, y = (TRUTH[1] + 180) / 360 * 540, 20 + (90 - TRUTH[0]) / 180 * 270
        d.ellipse((x - 4, y - 4, x + 4, y + 4), outline="blue", width=2)
        tiles.append(tile)
    sheet = Image.new("RGB", (1090, 590), "white")
    for i, t in enumerate(tiles):
        sheet.paste(t, ((i % 2) * 550, (i // 2) * 300))
    out = Path(__file__).resolve().parent / "img" / "sun_clock_example.png"
    out.parent.mkdir(exist_ok=True)
    sheet.save(out, optimize=True)
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
