"""The map's context layer near and far from the camera (geolocate.mapview, no Streamlit)."""

from __future__ import annotations

import numpy as np
import pytest

from geolocate.distribution import CellDistribution
from geolocate.ensemble import Ensemble
from geolocate.experts import PointExpert
from geolocate.grid import cell_resolutions, cells_to_parents, points_to_cells
from geolocate.maps import camera
from geolocate.maps import data as mapdata

PARIS_CAM = {"latitude": 48.85, "longitude": 2.35, "zoom": 6.0, "pitch": 0, "bearing": 0}


@pytest.fixture(scope="module")
def broad_dist() -> CellDistribution:
    # A kernel as wide as a continent: every res-3 cell of the globe keeps a drawable probability.
    return Ensemble([PointExpert(48.85, 2.35, scale_km=5000.0, name="p")]).distribution(refine_to=3)


def test_zoomed_view_keeps_fine_context_near_the_camera_and_res1_elsewhere(broad_dist):
    whole = mapdata.map_records(broad_dist, 1e4, zoom=PARIS_CAM["zoom"])
    near = mapdata.map_records(broad_dist, 1e4, view=PARIS_CAM)
    assert whole.context_res == near.context_res == 3 and whole.far_res is None and near.far_res == 1
    cells = np.array([int(r["h3"], 16) for r in near.context], dtype=np.uint64)
    res = cell_resolutions(cells)
    assert set(res.tolist()) == {1, 3}
    # The payload shrinks from the whole globe at res 3 (41,162 cells) to the view's surroundings.
    assert len(whole.context) == 41_162 and len(cells) < 3_000
    paris3 = int(points_to_cells(np.array([48.85]), np.array([2.35]), 3)[0])
    sydney1 = int(points_to_cells(np.array([-33.87]), np.array([151.21]), 1)[0])
    assert paris3 in cells.tolist() and sydney1 in cells.tolist()
    # No place is drawn twice: no res-3 cell lies inside a res-1 cell that is also drawn.
    assert not set(cells_to_parents(cells[res == 3], 1).tolist()) & set(cells[res == 1].tolist())


def test_near_view_conserves_probability_and_area(broad_dist):
    cells, prob, area = mapdata.aggregate(broad_dist, 3)
    c2, p2, a2, far = mapdata._near_view(broad_dist, PARIS_CAM, cells, prob, area)
    assert far == 1
    assert p2.sum() == pytest.approx(1.0) and a2.sum() == pytest.approx(broad_dist.cells.area_km2.sum())
    assert len(np.unique(c2)) == len(c2)


def test_world_view_is_not_split(broad_dist):
    data = mapdata.map_records(broad_dist, 1e4, view=camera.WORLD_VIEW)
    assert data.far_res is None and data.context_res == 1 and len(data.context) == 842


def test_border_paths_near_a_zoomed_view_are_few_and_include_france():
    allp = mapdata.border_paths_near(camera.WORLD_VIEW)
    near = mapdata.border_paths_near(PARIS_CAM)
    assert len(allp) > 100 and 0 < len(near) < len(allp) / 4
    assert any(min(x for x, _ in p) < 2.35 < max(x for x, _ in p) and min(y for _, y in p) < 48.85 < max(y for _, y in p) for p in near)
    assert not any(min(x for x, _ in p) > 60 for p in near)  # nothing from Asia or Australia
    # Near the antimeridian the view meets paths on both sides (Fiji / Russia's far east, Alaska).
    fiji = {"latitude": -17.0, "longitude": 179.5, "zoom": 6.0}
    sides = {np.sign(np.mean([x for x, _ in p])) for p in mapdata.border_paths_near(fiji)}
    assert sides == {-1.0, 1.0}


def test_world_view_borders_are_simplified_to_about_a_pixel():
    from geolocate import basemap

    world = mapdata.border_paths_near(camera.WORLD_VIEW)
    fine = basemap.border_paths()
    assert 100 < len(world) < len(fine)
    assert sum(map(len, world)) < sum(map(len, fine)) / 2
