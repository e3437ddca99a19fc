"""The pydeck fallback deck (geolocate.maps.deck): layers, compact JSON, pixel units, no tiles unless asked."""

from __future__ import annotations

import json

import numpy as np
import pytest

from geolocate.distribution import CellDistribution
from geolocate.ensemble import Ensemble
from geolocate.experts import PointExpert
from geolocate.maps import camera, deck
from geolocate.maps import data as mapdata


@pytest.fixture(scope="module")
def paris_dist() -> CellDistribution:
    return Ensemble([PointExpert(48.85, 2.35, scale_km=50.0, name="p")]).distribution(refine_to=5)



def test_deck_json_is_compact_and_carries_layers(paris_dist):
    data = mapdata.map_records(paris_dist, budget_km2=1e4)
    d = deck.build_deck(data, camera.view_state(paris_dist, 1e4), truth=(48.85, 2.35))
    spec = json.loads(d.to_json())
    ids = [layer["id"] for layer in spec["layers"]]
    assert ids == ["context", "density", "borders", "budget_halo", "budget", "city_dots", "city_labels", "truth"]
    assert len(spec["layers"][1]["data"]) == len(data.records)
    # The budget outline is the union edge of the budget's cells: every budget cell centre lies inside it.
    import shapely

    union = shapely.union_all([shapely.Polygon(d["path"]) for d in spec["layers"][4]["data"]])
    centres = shapely.points(data.budget.lon, data.budget.lat)
    assert shapely.contains(union, centres).all()
    # ... and encloses about the budget's area (degrees² to km² near Paris: 111.2² cos(lat)).
    km2 = union.area * 111.195**2 * np.cos(np.radians(union.centroid.y))
    assert km2 == pytest.approx(data.budget.total_area_km2, rel=0.05)
    assert "\n" not in d.to_json()
    vs = spec["initialViewState"]
    assert vs["latitude"] == pytest.approx(48.85, abs=1.0) and vs["longitude"] == pytest.approx(2.35, abs=1.0)
    assert d._tooltip["html"].count("{rank}") == 2


def test_marker_units_reach_the_browser_as_pixels(paris_dist):
    """pydeck turns a bare "pixels" into the accessor "@@=pixels", which deck.gl ignores (metres)."""
    data = mapdata.map_records(paris_dist, budget_km2=1e4)
    spec = json.loads(deck.build_deck(data, camera.WORLD_VIEW, truth=(48.85, 2.35)).to_json())
    truth = next(layer for layer in spec["layers"] if layer["id"] == "truth")
    assert truth["radiusUnits"] == "pixels" and truth["lineWidthUnits"] == "pixels"
    assert truth["getRadius"] == 7
    for layer in spec["layers"]:
        for key in ("radiusUnits", "widthUnits", "lineWidthUnits", "sizeUnits"):
            assert layer.get(key, "pixels") == "pixels", (layer["id"], key, layer.get(key))


def test_no_tile_style_unless_asked(paris_dist):
    """Privacy: without a style the deck asks Streamlit for no basemap (its default would fetch CARTO tiles)."""
    from geolocate.maps.basemap import NO_TILES, TILE_STYLE

    data = mapdata.map_records(paris_dist, budget_km2=1e4)
    spec = json.loads(deck.build_deck(data, camera.WORLD_VIEW).to_json())
    assert spec["mapStyle"] == NO_TILES == "__MAP_STYLE__"
    assert "http" not in json.dumps({k: v for k, v in spec.items() if k != "layers"})
    online = json.loads(deck.build_deck(data, camera.WORLD_VIEW, map_style=TILE_STYLE).to_json())
    assert online["mapStyle"] == TILE_STYLE and "token" not in TILE_STYLE


def test_labelled_maps_use_a_plain_text_tooltip():
    """Category labels and guessers' names are user or file text: pydeck's "text" tooltip, never html."""
    from geolocate.grid import points_to_cells

    cells = points_to_cells(np.array([0.0, 20.0]), np.array([10.0, 10.0]), 2)
    data = mapdata.category_map(cells, np.array([[9, 9, 9, 190]] * 2, dtype=np.uint8), ["<b>forest</b> (80% of the hexagon)", "sea (100% of the hexagon)"])
    spec = json.loads(deck.build_deck(data, camera.WORLD_VIEW).to_json())
    density = next(layer for layer in spec["layers"] if layer["id"] == "density")
    assert [r["label"] for r in density["data"]] == ["<b>forest</b> (80% of the hexagon)", "sea (100% of the hexagon)"]
    d = deck.build_deck(mapdata.empty_map(), camera.WORLD_VIEW, truth=(0.0, 10.0), guess=(1.0, 1.0), points=[(0.0, 11.0, "<img src=x>")])
    assert d._tooltip == deck.TEXT_TOOLTIP and "html" not in d._tooltip
    layers = {layer["id"]: layer for layer in json.loads(d.to_json())["layers"]}
    assert layers["points"]["data"] == [{"lat": 0.0, "lon": 11.0, "label": "<img src=x>"}] and layers["points"]["pickable"]
    assert layers["truth"]["data"][0]["label"] == "true location"
    assert layers["guess"]["data"][0]["lat"] == 1.0 and layers["guess"]["getFillColor"] == deck.GUESS_RGBA
    assert deck.build_deck(data, camera.WORLD_VIEW)._tooltip == deck.TEXT_TOOLTIP


def test_fallback_draws_fine_coastlines_lines_shapes_and_labels_above_cells():
    from geolocate.maps import basemap

    kauai = {"latitude": 22.05, "longitude": -159.5, "zoom": 9.0, "pitch": 0, "bearing": 0}
    ring = [[-160.0, 21.7], [-159.2, 21.7], [-159.2, 22.3], [-160.0, 21.7]]
    d = deck.build_deck(mapdata.empty_map(), kauai, lines=[(21.3, -157.86, 22.05, -159.5, "<b>Al</b>: 180 km")], shapes=[{"kind": "exclude", "path": ring}])
    layers = json.loads(d.to_json())["layers"]
    ids = [layer["id"] for layer in layers]
    # Labels after every cell layer (drawn above them); lines and shapes above the borders.
    assert ids.index("city_labels") > ids.index("density") and ids.index("line_labels") > ids.index("density")
    assert ids.index("borders") < ids.index("shapes") < ids.index("city_labels")
    borders = next(layer for layer in layers if layer["id"] == "borders")["data"]
    assert [b["path"] for b in borders] == basemap.detail_paths_near(kauai)  # the 1:10m level, not the world's triangles
    shape = next(layer for layer in layers if layer["id"] == "shapes")["data"][0]
    assert shape["colour"] == deck.SHAPE_RGBA["exclude"] and shape["path"] == ring
    (label,) = next(layer for layer in layers if layer["id"] == "line_labels")["data"]
    assert label["label"] == "<b>Al</b>: 180 km" and -159.5 < label["lon"] < -157.86
    line = next(layer for layer in layers if layer["id"] == "lines")["data"][0]["path"]
    assert line[0] == pytest.approx([-157.86, 21.3]) and line[-1] == pytest.approx([-159.5, 22.05])
