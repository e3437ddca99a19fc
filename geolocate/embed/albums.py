"""Album / case mode: photos grouped by a manifest column, each group scored as photos of one place.

Each group's image experts are the products over its good photos (:func:`geolocate.embed.load.album_experts`),
combined by the locate service with the default preset (as ``predict --album --no-priors`` does: weight 1,
refined to the preset's finest resolution), and the densest cells are stored in ``albums.parquet``: ``group``, ``n_photos``, ``n_bad``, ``ids``,
``top_cells`` (H3 ids, uint64), ``top_prob`` (probability of each cell), ``top_cum_area_km2``,
``area_to_truth_km2`` (area searched before reaching the group's ground truth when every photo of the
group has the same lat/lon, else NaN).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa

from .store import read_results, write_atomic

ALBUM_TOP_K = 50


def score_albums(out: str | Path, group_col: str, top_k: int = ALBUM_TOP_K) -> int:
    """Score every group of an output folder into ``albums.parquet``; returns the number of groups."""
    from ..locate import build
    from .load import album_experts

    out = Path(out)
    t = read_results(out, columns=["id", "ok", "group", "lat", "lon"])
    ids = t.column("id").to_pylist()
    groups = t.column("group").to_pylist()
    ok = t.column("ok").to_pylist()
    lat = np.asarray(t.column("lat").to_numpy(zero_copy_only=False), float)
    lon = np.asarray(t.column("lon").to_numpy(zero_copy_only=False), float)
    members: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault("" if g is None else g, []).append(i)
    rows = []
    for g, idx in members.items():
        experts, _ = album_experts(out, [ids[i] for i in idx])
        cells = np.zeros(0, np.uint64)
        prob = area = np.zeros(0)
        to_truth = math.nan
        if experts:
            dist = build(priors=[], image=(experts, [])).distribution()
            r = dist.ranked(top_k)
            cells, prob, area = r.cells, r.prob, r.cum_area_km2
            la, lo = lat[idx], lon[idx]
            if np.isfinite(la).all() and np.isfinite(lo).all() and np.ptp(la) == 0 and np.ptp(lo) == 0:
                to_truth = float(dist.area_to_contain(float(la[0]), float(lo[0])))
        rows.append({
            "group": g, "n_photos": len(idx), "n_bad": int(sum(not ok[i] for i in idx)), "ids": [ids[i] for i in idx],
            "top_cells": np.asarray(cells, np.uint64).tolist(), "top_prob": np.asarray(prob, float).tolist(),
            "top_cum_area_km2": np.asarray(area, float).tolist(), "area_to_truth_km2": to_truth,
        })
    schema = pa.schema([
        ("group", pa.string()), ("n_photos", pa.int64()), ("n_bad", pa.int64()), ("ids", pa.list_(pa.string())),
        ("top_cells", pa.list_(pa.uint64())), ("top_prob", pa.list_(pa.float64())), ("top_cum_area_km2", pa.list_(pa.float64())),
        ("area_to_truth_km2", pa.float64()),
    ])
    write_atomic(pa.Table.from_pylist(rows, schema=schema), out / "albums.parquet")
    return len(rows)
