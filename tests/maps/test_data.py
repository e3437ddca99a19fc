"""Map data (geolocate.maps.data): drawn cells, the context layer near and far from the camera, colours,
the legend, the budget outline and the border paths near a view (no Streamlit)."""

from __future__ import annotations

import numpy as np
import pytest

from geolocate import evidence, presets, share
from geolocate.distribution import CellDistribution
from geolocate.ensemble import Ensemble
from geolocate.evidence import AnalystEvidence
from geolocate.experts import PointExpert
from geolocate.grid import cell_resolutions, cells_to_parents, points_to_cells
from geolocate.maps import camera
from geolocate.maps import data as mapdata

PARIS_CAM = {"latitude": 48.85, "longitude": 2.35, "zoom": 6.0, "pitch": 0, "bearing": 0}


@pytest.fixture(scope="module")
def paris_dist() -> CellDistribution:
    return Ensemble([PointExpert(48.85, 2.35, scale_km=50.0, name="p")]).distribution(refine_to=5)



@pytest.fixture(scope="module")
def broad_dist() -> CellDistribution:
    # A kernel as wide as a continent: every res-3 cell of the globe keeps a drawable probability.
    return Ensemble([PointExpert(48.85, 2.35, scale_km=5000.0, name="p")]).distribution(refine_to=3)



def test_map_records_cover_the_mass_and_flag_the_budget(paris_dist):
    data = mapdata.map_records(paris_dist, budget_km2=1e4, max_cells=5000, mass=0.99)
    recs = data.records
    assert 0 < len(recs) <= 5000
    assert data.shown_prob >= 0.99
    assert [r["rank"] for r in recs] == list(range(1, len(recs) + 1))
    dens = [r["density"] for r in recs]
    assert dens == sorted(dens, reverse=True)
    # The budget prefix is the distribution's own within_budget selection.
    budget = paris_dist.within_budget(1e4)
    assert len(data.budget) == len(budget) > 0
    assert [r["h3"] for r in data.budget_records] == [format(int(c), "x") for c in budget.cells]
    assert sum(r["area_km2"] for r in data.budget_records) <= 1e4 * 1.01
    # The densest cell contains Paris.
    paris_rank = int(np.flatnonzero(paris_dist.order() == paris_dist.locate(48.85, 2.35))[0]) + 1
    assert paris_rank <= 7  # the kernel peak (ties among the finest cells around it)
    assert recs[0]["colour"][3] > recs[-1]["colour"][3]


def test_map_records_are_capped(paris_dist):
    data = mapdata.map_records(paris_dist, budget_km2=1e7, max_cells=100)
    assert len(data.records) == 100
    assert len(data.budget) > 100  # the budget table is complete even if the map is capped


def test_context_layer_covers_the_whole_distribution_at_a_visible_resolution():
    from geolocate.experts import standard_priors
    from geolocate.grid import cell_resolutions

    ens = Ensemble(standard_priors())
    dist = ens.distribution({n: presets.default_weight(n) for n in ens.names}, refine_to=share.DEFAULT_REFINE)
    data = mapdata.map_records(dist, share.DEFAULT_BUDGET_KM2, zoom=camera.WORLD_VIEW["zoom"])
    # At world zoom (0.8) res-1 cells (~840 km) are ~9 px wide; res-3 cells would be ~1 px specks.
    assert data.context_res == 1
    cells = np.array([int(r["h3"], 16) for r in data.context], dtype=np.uint64)
    assert set(cell_resolutions(cells).tolist()) == {1}
    assert len(cells) == 842  # every res-1 cell holds some probability: the whole globe is drawn
    # Probability is conserved by the aggregation.
    from geolocate.maps.data import aggregate

    _, p, a = aggregate(dist, 1)
    assert p.sum() == pytest.approx(1.0) and a.sum() == pytest.approx(dist.cells.area_km2.sum())


def test_near_zero_is_grey_and_ruled_out_is_not_drawn():
    experts, _ = evidence.analyst_experts(AnalystEvidence(include=("ISL",), hard=True))
    ens = Ensemble(experts + [PointExpert(64.9, -18.6, 30.0, name="p")])
    dist = ens.distribution(refine_to=4)
    data = mapdata.map_records(dist, 1e4, zoom=4.0)
    from geolocate.grid import cells_to_parents

    ruled_out = dist.prob < dist.prob.max() * 1e-11  # the rest of the world (1e-12 leak) ...
    assert 0 < ruled_out.sum() < len(dist)
    drawn = {int(r["h3"], 16) for r in data.records} | {int(r["h3"], 16) for r in data.context}
    out_cells = dist.cells.cells[ruled_out]
    assert not drawn & set(out_cells.tolist())  # ... is not drawn at full resolution
    assert not drawn & set(cells_to_parents(out_cells, data.context_res).tolist()) - set(cells_to_parents(dist.cells.cells[~ruled_out], data.context_res).tolist())
    from geolocate.maps.data import NEAR_ZERO_RGBA

    colours = [r["colour"] for r in mapdata.map_records(dist, 1e4, mass=1.0, max_cells=10**6, zoom=4.0).records]
    assert NEAR_ZERO_RGBA in colours  # the kernel's far tail inside Iceland is near zero: grey, not dark purple
    assert colours[0] != NEAR_ZERO_RGBA


def test_colour_scale_ticks_are_powers_of_ten_with_real_positions():
    from geolocate.maps.data import ColourScale

    s = ColourScale(lo=-9.2, hi=-4.2)
    assert s.ticks() == [pytest.approx((0.04, -9.0)), pytest.approx((0.24, -8.0)), pytest.approx((0.44, -7.0)), pytest.approx((0.64, -6.0)), pytest.approx((0.84, -5.0))]
    c = s.colours(np.log(10.0) * np.array([-10.0, -9.2, -4.2]))
    from geolocate.maps.data import NEAR_ZERO_RGBA

    assert c[0].tolist() == NEAR_ZERO_RGBA
    assert c[1, :3].tolist() == [40, 11, 84] and c[2, :3].tolist() == [255, 225, 60]
    html = mapdata.legend_html(s, 1e4)
    assert "10<sup>-9</sup>" in html and "10<sup>-5</sup>" in html and "per km²" in html and "10,000 km²" in html


def test_density_colours_are_monotone():
    c = mapdata.density_colours(np.linspace(-20, -5, 50))
    assert c.dtype == np.uint8 and c.shape == (50, 4)
    assert np.all(np.diff(c[:, 3].astype(int)) >= 0)
    assert c[0, 3] < c[-1, 3]


def test_budget_outline_does_not_wrap_round_the_globe_at_the_antimeridian():
    import h3

    from geolocate.grid import CellSet

    disk = h3.grid_disk(h3.latlng_to_cell(-17.0, 179.95, 4), 2)  # Fiji, straddling 180°
    cs = CellSet.from_cells(np.array([h3.str_to_int(c) for c in disk], dtype=np.uint64))
    paths = mapdata.budget_outline(CellDistribution(cs, np.zeros(len(cs))).ranked())
    for p in paths:
        lon = np.array(p)[:, 0]
        assert np.ptp(lon) < 10.0  # a few cells wide, not 360° round


def test_budget_outline_is_the_union_edge():
    import h3

    from geolocate.grid import CellSet

    disk = h3.grid_disk(h3.latlng_to_cell(10.0, 20.0, 5), 1)  # 7 cells
    cs = CellSet.from_cells(np.array([h3.str_to_int(c) for c in disk], dtype=np.uint64))
    regions = CellDistribution(cs, np.zeros(7)).ranked()
    paths = mapdata.budget_outline(regions)
    assert len(paths) == 1  # one outer ring, no inner seams
    assert 18 <= len(paths[0]) <= 19  # a 7-hexagon flower has 18 boundary vertices (+ closing point)


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
    from geolocate.maps import basemap

    world = mapdata.border_paths_near(camera.WORLD_VIEW)
    fine = basemap.border_paths()
    assert 100 < len(world) < len(fine)
    assert sum(map(len, world)) < sum(map(len, fine)) / 2
