#!/usr/bin/env python3
"""Generate the toy benchmark the tests share (as torchgeo's ``tests/data/*/data.py``).

``python tests/data/toy/data.py`` writes, beside this file, the benchmark folder layout that
:func:`geolocate.data.discover_benchmarks` reads: ``gt.csv`` (12 photos with Flickr-style ids, an
author per photo, the truth and Places365 scene probabilities) and two prediction files,
``predictions/exact.csv`` (every truth exactly) and ``predictions/off.csv`` (5° of latitude south of
every truth: 555.97 km). The files are committed; the ``toy_bench`` fixture (tests/conftest.py) copies
them into a temporary data folder as ``toy/``. Edit the constants here and run this file again, never
the CSVs by hand (tests/teach/test_cases.py checks that they match).
"""

from __future__ import annotations

from pathlib import Path

NAME = "toy"
IDS = [f"{5000 + i}_0a1b2c{i:04d}_{60 + i}_t{i % 3}@N00.jpg" for i in range(12)]
"""Flickr file names: photo id, secret, server, owner (3 photographers, so the fit halves split by owner)."""
# Truths: case 0 on the equator at 10°E, case 1 at (45°N, 7°E); the rest spread over the continents.
LAT = [0.0, 45.0, -33.9, 35.7, 51.5, -1.3, 40.7, 19.4, -22.9, 64.1, 55.75, -36.85]
LON = [10.0, 7.0, 151.2, 139.7, -0.1, 36.8, -74.0, -99.1, -43.2, -21.9, 37.6, 174.75]
SCENES = [(0.2, 0.3, 0.5), (0.6, 0.3, 0.1), (0.1, 0.8, 0.1)]
"""(indoor, natural, urban) of photo i is SCENES[i % 3]."""
OFF_DEG = 5.0
"""The "off" model predicts this many degrees of latitude south of each truth."""
PREDICTION_HEAD = "img_id,gt_lat,predicted_lat,gt_long,predicted_long,great_circle_distance"


def files() -> dict[str, str]:
    """The benchmark's files: relative path -> text."""
    gt = ["IMG_ID,AUTHOR,LAT,LON,Prob_indoor,Prob_natural,Prob_urban"]
    gt += [f"{i},{i.split('_')[3][:-4]},{a},{o},{s[0]},{s[1]},{s[2]}" for k, (i, a, o) in enumerate(zip(IDS, LAT, LON)) for s in [SCENES[k % 3]]]
    exact = [PREDICTION_HEAD] + [f"{i},{a},{a},{o},{o},0" for i, a, o in zip(IDS, LAT, LON)]
    off = [PREDICTION_HEAD] + [f"{i},{a},{round(a - OFF_DEG, 6)},{o},{o},0" for i, a, o in zip(IDS, LAT, LON)]
    return {"gt.csv": "\n".join(gt) + "\n", "predictions/exact.csv": "\n".join(exact) + "\n", "predictions/off.csv": "\n".join(off) + "\n"}


def write(folder: Path) -> Path:
    """Write the benchmark's files into ``folder`` (created); returns it."""
    for rel, text in files().items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


if __name__ == "__main__":
    print(write(Path(__file__).resolve().parent))
