"""The map spec the browser component receives: exact round trips, sizes and the camera key (no Streamlit)."""

from __future__ import annotations

import json

import h3
import numpy as np
import pytest

from geolocate.distribution import CellDistribution
from geolocate.ensemble import Ensemble
from geolocate.experts import PointExpert
from geolocate.maps import camera
from geolocate.maps import data as mapdata
from geolocate.maps import spec as mapspec


@pytest.fixture(scope="module")
def paris_dist() -> CellDistribution:
    return Ensemble([PointExpert(48.85, 2.35, scale_km=50.0, name="p")]).distribution(refine_to=5)


def test_cells_round_trip_exactly():
    cells = np.array([int(h3.latlng_to_cell(48.85, 2.35, r), 16) for r in (3, 5, 7)], dtype=np.uint64)
    rgba = np.array([[1, 2, 3, 4], [250, 0, 9, 255], [0, 0, 0, 0]], dtype=np.uint8)
    spec = mapspec.cells_spec(cells, rgba, prob=np.array([0.5, 0.25, 0.125]), area_km2=np.array([12_393.4, 252.9, 5.16]))
    rows = mapspec._decode_cells(spec)
    assert [int(r["h3"], 16) for r in rows] == cells.tolist()
    assert [r["colour"] for r in rows] == rgba.tolist()
    assert [r["prob"] for r in rows] == [0.5, 0.25, 0.125]  # exact in float32
    assert [r["area_km2"] for r in rows] == pytest.approx([12_393.4, 252.9, 5.16], rel=1e-6)


def test_paths_round_trip_with_their_starts():
    paths = [[[0.0, 0.0], [1.0, 1.0], [2.0, 0.5]], [[-179.5, 10.0], [179.5, 10.0]], [[5.0, 5.0], [6.0, 6.0]]]
    spec = mapspec.paths_spec(paths)
    assert spec["n"] == 3
    assert mapspec.decode_paths(spec) == paths
    assert mapspec.decode_paths(mapspec.paths_spec([])) == []


def test_map_spec_holds_what_is_drawn_and_stays_small(paris_dist):
    cam = camera.view_state(paris_dist, 1e4)
    data = mapdata.map_records(paris_dist, 1e4, view=cam)
    spec = mapspec.map_spec(data, cam, "view-1", seq=7, borders=mapspec.world_borders(), marker=(48.8584, 2.2945))
    text = json.dumps(spec)
    decoded = mapspec.decode(json.loads(text))
    density = next(layer["data"] for layer in decoded["layers"] if layer["id"] == "density")
    assert [d["h3"] for d in density] == [r["h3"] for r in data.records]
    assert [d["colour"] for d in density] == [r["colour"] for r in data.records]
    # Probabilities travel as float32: the cumulative sum the tooltip shows matches to 1e-6.
    assert sum(d["prob"] for d in density) == pytest.approx(data.shown_prob, abs=1e-6)
    context = next(layer["data"] for layer in decoded["layers"] if layer["id"] == "context")
    assert len(context) == len(data.context_cells) > 0
    # The budget outline encloses the budget's cells.
    outline = next(layer["data"] for layer in decoded["layers"] if layer["id"] == "budget")
    assert outline and all(p["path"][0] == pytest.approx(p["path"][-1], abs=1e-4) for p in outline)  # closed rings
    assert decoded["initialViewState"] == {k: pytest.approx(cam[k]) for k in ("latitude", "longitude", "zoom")}
    assert spec["camera"]["key"] == "view-1" and spec["seq"] == 7 and spec["tiles"] is None
    assert next(layer["data"] for layer in decoded["layers"] if layer["id"] == "truth") == [{"lat": 48.8584, "lon": 2.2945}]
    # The borders are the whole world at full detail, under one key: the browser keeps them while it is unchanged.
    borders = next(layer["data"] for layer in decoded["layers"] if layer["id"] == "borders")
    assert spec["borders"]["key"] == "world-full" and len(borders) > 500
    # 3,000 cells, the world's borders and the rest: well under the ~0.7 MB pydeck deck of the same map.
    assert len(text) < 400_000, len(text)


def test_world_borders_are_computed_once():
    assert mapspec.world_borders() is mapspec.world_borders()


def test_multiples_carry_each_view(paris_dist):
    cam = camera.view_state(paris_dist, 1e4)
    data = mapdata.map_records(paris_dist, 1e4, view=cam)
    small = mapdata.map_records(paris_dist, 1e4, view=cam, max_cells=100)
    spec = mapspec.map_spec(data, cam, "k", multiples=[("ensemble", small), ("p (weight 1)", small)])
    decoded = mapspec.decode(spec)
    assert [m["title"] for m in decoded["multiples"]] == ["ensemble", "p (weight 1)"]
    assert len(decoded["multiples"][0]["density"]) == 100
