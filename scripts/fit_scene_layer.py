"""Fit the indoor / natural / urban scene layer from photos with known locations and Places365 outputs.

For every stratum (MODIS land-cover dominant class x GeoNames population-density bin) the rate of each
scene class is the mean Places365 probability of the photos taken in cells of that stratum, shrunk toward
the overall mean with ``--alpha`` pseudo-photos (so rare strata fall back to the average). Default input:
YFCC26k (GeoEstimation's validation set), which keeps Im2GPS3k untouched for evaluation:

    python scripts/fit_scene_layer.py --csv ../shared/data/yfcc26k/places365.csv   # -> assets/scene_rates.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from geolocate.data import read_attribute_probs, read_ground_truth  # noqa: E402
from geolocate.grid import LAYER_RESOLUTION, global_grid  # noqa: E402
from geolocate.layers import ASSETS, SCENE_CLASSES, scene_strata  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--csv", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "yfcc26k" / "places365.csv")
    ap.add_argument("--alpha", type=float, default=20.0, help="pseudo-photos of the overall mean per stratum")
    ap.add_argument("--out", type=Path, default=ASSETS / "scene_rates.json")
    args = ap.parse_args()

    gt, rep_gt = read_ground_truth(args.csv, on_error="skip")
    probs, names, rep_p = read_attribute_probs(args.csv, on_error="skip")
    print(rep_gt, rep_p, sep="\n")
    df = gt.merge(probs, on="id", suffixes=("", "_p"))
    p = df[SCENE_CLASSES].to_numpy()
    strata, n_strata = scene_strata()
    cell = global_grid(LAYER_RESOLUTION).locate(df["lat"].to_numpy(), df["lon"].to_numpy())
    s = strata[cell]
    prior = p.mean(axis=0)
    sums = np.zeros((n_strata, 3))
    np.add.at(sums, s, p)
    counts = np.bincount(s, minlength=n_strata).astype(float)
    rates = (sums + args.alpha * prior) / (counts + args.alpha)[:, None]
    args.out.write_text(json.dumps({
        "classes": SCENE_CLASSES,
        "strata": "landcover_dominant_class * 5 + population_bin",
        "class_prior": prior.round(6).tolist(),
        "rates": rates.round(6).tolist(),
        "photos_per_stratum": counts.astype(int).tolist(),
        "alpha": args.alpha,
        "source": f"Places365 scene probabilities of {len(df)} YFCC26k photos (GeoEstimation validation set)",
    }))
    print(f"wrote {args.out}: {len(df)} photos, {int((counts > 0).sum())} of {n_strata} strata seen; prior {prior.round(3)}")


if __name__ == "__main__":
    main()
