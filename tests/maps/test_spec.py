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


def test_lines_carry_their_labels_and_midpoints():
    spec = mapspec.map_spec(mapdata.empty_map(), camera.WORLD_VIEW, "k", lines=[(0.0, 0.0, 0.0, 90.0, "Alice: 10,008 km"), (10.0, 170.0, 10.0, -170.0, "<b>Bo</b>")])
    assert spec["lines"] == [[0.0, 0.0, 0.0, 90.0, "Alice: 10,008 km"], [10.0, 170.0, 10.0, -170.0, "<b>Bo</b>"]]
    layers = {layer["id"]: layer["data"] for layer in mapspec.decode(json.loads(json.dumps(spec)))["layers"]}
    assert layers["lines"][0] == {"from": [0.0, 0.0], "to": [0.0, 90.0], "label": "Alice: 10,008 km"}
    labels = layers["line_labels"]
    assert [d["label"] for d in labels] == ["Alice: 10,008 km", "<b>Bo</b>"]  # plain text, kept as typed
    assert (labels[0]["lat"], labels[0]["lon"]) == pytest.approx((0.0, 45.0), abs=1e-9)
    # Across the antimeridian the midpoint is at 180°, not at 0° (the long way round); a little poleward of 10°.
    assert abs(labels[1]["lon"]) == pytest.approx(180.0, abs=1e-9) and 10.0 < labels[1]["lat"] < 10.5
    # Labels draw above every cell layer: after density in the drawing order.
    order = [layer["id"] for layer in mapspec.decode(spec)["layers"]]
    assert order.index("line_labels") > order.index("lines") > order.index("density")
    with pytest.raises(ValueError, match="latitudes"):
        mapspec.map_spec(mapdata.empty_map(), camera.WORLD_VIEW, "k", lines=[(95.0, 0.0, 0.0, 0.0, "x")])
    assert mapspec.map_spec(mapdata.empty_map(), camera.WORLD_VIEW, "k")["lines"] == []


def test_great_circle_midpoint_is_equidistant():
    from geolocate.metrics import haversine_km

    for a, b in [((48.85, 2.35), (40.71, -74.0)), ((-33.9, 151.2), (51.5, -0.12)), ((21.3, -157.9), (22.05, -159.5))]:
        m = mapspec.great_circle_midpoint(*a, *b)
        d1, d2, d = (float(haversine_km(*p, *q)) for p, q in ((a, m), (m, b), (a, b)))
        assert d1 == pytest.approx(d2, rel=1e-9) and d1 + d2 == pytest.approx(d, rel=1e-9)


def test_shapes_are_closed_rings_of_a_known_kind():
    ring = [[-160.0, 21.7], [-159.2, 21.7], [-159.2, 22.3]]
    spec = mapspec.map_spec(
        mapdata.empty_map(), camera.WORLD_VIEW, "k",
        shapes=[{"kind": "include", "path": ring}, {"kind": "guess", "path": ring + ring[:1]}, {"kind": "exclude", "path": [[179.5, 0.0], [-179.5, 0.0], [-179.5, 1.0]]}],
    )
    assert [s["kind"] for s in spec["shapes"]] == ["include", "guess", "exclude"]
    assert spec["shapes"][0]["path"] == ring + ring[:1]  # closed by the spec
    assert spec["shapes"][1]["path"] == ring + ring[:1]  # already closed: not closed twice
    assert spec["shapes"][2]["path"] == [[179.5, 0.0], [180.5, 0.0], [180.5, 1.0], [179.5, 0.0]]  # unwrapped, not the long way round
    layers = {layer["id"]: layer["data"] for layer in mapspec.decode(json.loads(json.dumps(spec)))["layers"]}
    assert layers["shapes"][0] == {"kind": "include", "path": ring + ring[:1]}
    with pytest.raises(ValueError, match="kind"):
        mapspec.map_spec(mapdata.empty_map(), camera.WORLD_VIEW, "k", shapes=[{"kind": "maybe", "path": ring}])
    with pytest.raises(ValueError, match="at least 3"):
        mapspec.map_spec(mapdata.empty_map(), camera.WORLD_VIEW, "k", shapes=[{"kind": "guess", "path": ring[:2]}])
    assert "shapes" not in {layer["id"] for layer in mapspec.decode(mapspec.map_spec(mapdata.empty_map(), camera.WORLD_VIEW, "k"))["layers"]}


def test_graticule_steps_refine_with_zoom_and_can_be_off():
    spec = mapspec.map_spec(mapdata.empty_map(), camera.WORLD_VIEW, "k")
    steps = mapspec.decode(spec)["graticule"]
    assert steps == [(0.0, 30.0), (3.0, 10.0), (5.0, 5.0), (7.0, 1.0)]
    assert [z for z, _ in steps] == sorted(z for z, _ in steps) and [s for _, s in steps] == sorted((s for _, s in steps), reverse=True)
    assert mapspec.map_spec(mapdata.empty_map(), camera.WORLD_VIEW, "k", graticule=False)["graticule"] == []


def test_each_multiple_is_framed_on_its_own_cells():
    paris = Ensemble([PointExpert(48.85, 2.35, scale_km=50.0, name="p")]).distribution(refine_to=4)
    tokyo = Ensemble([PointExpert(35.68, 139.69, scale_km=50.0, name="t")]).distribution(refine_to=4)
    cam = camera.WORLD_VIEW
    spec = mapspec.map_spec(
        mapdata.map_records(paris, 1e4, view=cam), cam, "k",
        multiples=[("paris", mapdata.map_records(paris, 1e4, view=cam)), ("tokyo", mapdata.map_records(tokyo, 1e4, view=cam)), ("none", mapdata.empty_map())],
    )
    cams = [m["camera"] for m in mapspec.decode(spec)["multiples"]]
    assert cams[0]["latitude"] == pytest.approx(48.85, abs=1.0) and cams[0]["longitude"] == pytest.approx(2.35, abs=1.0)
    assert cams[1]["latitude"] == pytest.approx(35.68, abs=1.0) and cams[1]["longitude"] == pytest.approx(139.69, abs=1.0)
    assert cams[0]["zoom"] > 3 and cams[1]["zoom"] > 3  # zoomed onto ~10,000 km² of cells, not the world
    assert cams[2] == {k: float(camera.WORLD_VIEW[k]) for k in ("latitude", "longitude", "zoom")}
