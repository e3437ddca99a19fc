"""The map spec the browser component receives: exact round trips, sizes and the camera key (no Streamlit)."""

from __future__ import annotations

import base64
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


def test_world_borders_are_every_shipped_path_computed_once(monkeypatch):
    from geolocate.maps import basemap

    calls = []
    real = basemap.border_paths

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(basemap, "border_paths", counted)
    mapspec.world_borders.cache_clear()
    try:
        first, second = mapspec.world_borders(), mapspec.world_borders()
        assert len(calls) == 1  # the second map reuses the encoding (~150 kB of base64 per spec)
        assert first == second and first["key"] == "world-full"
        paths = real()
        assert first["n"] == len(paths) > 500
        decoded = mapspec.decode_paths(first)
        assert [len(p) for p in decoded] == [len(p) for p in paths]
        np.testing.assert_allclose(np.concatenate(decoded), np.concatenate(paths), atol=1e-5)  # float32 degrees
    finally:
        mapspec.world_borders.cache_clear()


def test_category_cells_carry_labels_not_probabilities():
    cells = np.array([int(h3.latlng_to_cell(lat, 10.0, 3), 16) for lat in (0.0, 10.0, 20.0)], dtype=np.uint64)
    rgba = np.array([[1, 2, 3, 190]] * 3, dtype=np.uint8)
    labels = ["forest (80% of the hexagon)", "<b>sea</b> (100% of the hexagon)", "forest (80% of the hexagon)"]
    data = mapdata.category_map(cells, rgba, labels)
    spec = mapspec.map_spec(data, camera.WORLD_VIEW, "k")
    assert "prob" not in spec["density"] and spec["density"]["labels"] == sorted(set(labels))
    assert spec["density"]["label_bytes"] == 2 and len(base64.b64decode(spec["density"]["label"])) == 2 * 3
    rows = mapspec.decode(json.loads(json.dumps(spec)))["layers"][1]["data"]
    assert [r["label"] for r in rows] == labels and [int(r["h3"], 16) for r in rows] == cells.tolist()
    assert data.records[1]["label"] == labels[1] and "prob_pct" not in data.records[1]
    with pytest.raises(ValueError, match="as many"):
        mapdata.category_map(cells, rgba, labels[:2])


def test_points_travel_with_their_labels():
    spec = mapspec.map_spec(mapdata.empty_map(), camera.WORLD_VIEW, "k", marker=(0.0, 10.0), points=[(0.0, 11.0, "Dee"), (-1.5, 10.25, "<i>Eve</i>")])
    assert spec["points"] == [["Dee", 0.0, 11.0], ["<i>Eve</i>", -1.5, 10.25]]
    layers = {layer["id"]: layer["data"] for layer in mapspec.decode(spec)["layers"]}
    assert layers["points"] == [{"label": "Dee", "lat": 0.0, "lon": 11.0}, {"label": "<i>Eve</i>", "lat": -1.5, "lon": 10.25}]
    assert layers["truth"] == [{"lat": 0.0, "lon": 10.0}] and "guess" not in layers
    assert mapspec.map_spec(mapdata.empty_map(), camera.WORLD_VIEW, "k")["points"] == []


def test_multiples_carry_each_view(paris_dist):
    cam = camera.view_state(paris_dist, 1e4)
    data = mapdata.map_records(paris_dist, 1e4, view=cam)
    small = mapdata.map_records(paris_dist, 1e4, view=cam, max_cells=100)
    spec = mapspec.map_spec(data, cam, "k", multiples=[("ensemble", small), ("p (weight 1)", small)])
    decoded = mapspec.decode(spec)
    assert [m["title"] for m in decoded["multiples"]] == ["ensemble", "p (weight 1)"]
    assert len(decoded["multiples"][0]["density"]) == 100
