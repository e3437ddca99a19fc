"""The map camera (geolocate.maps.camera): framing the budget, the antimeridian, bounds and context resolution."""

from __future__ import annotations

import numpy as np
import pytest

from geolocate.distribution import CellDistribution
from geolocate.ensemble import Ensemble
from geolocate.experts import PointExpert
from geolocate.maps import camera


@pytest.fixture(scope="module")
def paris_dist() -> CellDistribution:
    return Ensemble([PointExpert(48.85, 2.35, scale_km=50.0, name="p")]).distribution(refine_to=5)



def test_view_state_frames_the_budget_cells(paris_dist):
    v = camera.view_state(paris_dist, 1e4)
    from geolocate.maps.camera import view_bounds

    w, s, e, n = view_bounds(v)
    regions = paris_dist.within_budget(1e4)
    assert (regions.lon > w).all() and (regions.lon < e).all() and (regions.lat > s).all() and (regions.lat < n).all()
    # ... and not much more: the budget (~10,000 km², ~100 km across) spans a good part of the view.
    assert e - w < 15


def test_view_state_across_the_antimeridian():
    ens = Ensemble([PointExpert(-17.0, 179.9, scale_km=60.0, name="fiji")])
    v = camera.view_state(ens.distribution(refine_to=5), 3e4)
    assert abs(abs(v["longitude"]) - 180) < 3 and v["zoom"] > 4


@pytest.mark.parametrize("zoom, res", [(0.8, 1), (2.5, 2), (4.0, 3), (6.0, 3)])
def test_context_resolution_keeps_cells_at_least_seven_pixels_wide(zoom, res):
    assert camera.context_resolution(zoom) == res
    km_per_px = 156.543 / 2.0**zoom  # web Mercator at the equator
    widths = {0: 2216.0, 1: 837.0, 2: 316.0, 3: 120.0}
    assert widths[res] / km_per_px >= 7.0
    if res < 3:
        assert widths[res + 1] / km_per_px < 7.0  # the coarsest that is wide enough


def test_fit_view_frames_points_and_bounds_contain_them():
    lat, lon = np.array([44.0, 50.0]), np.array([-1.0, 8.0])
    v = camera.fit_view(lat, lon, pad_deg=0.5)
    w, s, e, n = camera.view_bounds(v)
    assert w <= -1.45 and e >= 8.45 and s <= 43.55 and n >= 50.45  # the points and (about) their padding; zoom is rounded
    assert e - w < 2 * 10.0  # framed, not the world
    assert camera.fit_view(np.array([]), np.array([])) == camera.WORLD_VIEW
    across = camera.fit_view(np.array([-16.0, -18.0]), np.array([179.0, -179.0]))  # Fiji, either side of 180°
    assert abs(abs(across["longitude"]) - 180.0) < 0.01 and across["zoom"] > 3
