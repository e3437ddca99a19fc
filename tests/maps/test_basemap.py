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
