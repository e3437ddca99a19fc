import numpy as np
import pytest
from h3.api import numpy_int as h3n

from geolocate import grid as G


@pytest.mark.parametrize("res,count", [(0, 122), (1, 842), (2, 5882), (3, 41162), (4, 288122)])
def test_global_grid_counts_and_area(res, count):
    g = G.global_grid(res)
    assert len(g) == count
    assert g.area_km2.sum() == pytest.approx(510_065_621.724, rel=1e-9)
    assert np.all(np.diff(g.cells.astype(np.int64)) > 0)  # sorted, unique


def test_locate_known_points():
    g = G.global_grid(4)
    paris = g.locate([48.8566], [2.3522])[0]
    assert g.cells[paris] == h3n.latlng_to_cell(48.8566, 2.3522, 4)
    # The cell contains the point: its centre is within the cell's circumradius (res 4 edge ~ 26 km).
    assert G.latlon_to_xyz(g.lat[paris], g.lon[paris]) @ G.latlon_to_xyz(48.8566, 2.3522) > np.cos(30 / G.EARTH_RADIUS_KM)


def test_points_out_of_range_rejected():
    with pytest.raises(ValueError, match="out of range or NaN"):
        G.points_to_cells(np.array([91.0]), np.array([0.0]), 3)
    with pytest.raises(ValueError, match="coordinate 1"):
        G.points_to_cells(np.array([0.0, np.nan]), np.array([0.0, 0.0]), 3)


def test_children_and_parents_roundtrip():
    g = G.global_grid(3)
    kids, owner = G.children(g.cells[:5], 5)
    assert len(kids) == 5 * 49 and np.all(kids.resolution == 5)
    assert np.array_equal(G.cells_to_parents(kids.cells, 3), g.cells[:5][owner])
    # Children of a hexagon tile it up to H3's small aperture-7 mismatch.
    for i in range(5):
        assert kids.area_km2[owner == i].sum() == pytest.approx(g.area_km2[i], rel=0.02)
    assert np.array_equal(g.index_of_any(kids.cells), owner)


def test_xyz_unit_vectors_and_resolution_bits():
    cs = G.CellSet.from_cells(np.array([h3n.latlng_to_cell(10.0, 20.0, r) for r in range(0, 9)], dtype=np.uint64))
    assert np.allclose(np.linalg.norm(cs.xyz, axis=1), 1.0)
    assert cs.resolution.tolist() == list(range(9))


def test_grid_disk_cache_is_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOLOCATE_CACHE_DIR", str(tmp_path))
    G.global_grid.cache_clear()
    try:
        a = G.global_grid(2)
        files = list(tmp_path.glob("grid_res2_*.npz"))
        assert len(files) == 1
        # A second process reads the file instead of rebuilding: mark the file and see the mark.
        with np.load(files[0]) as z:
            arrays = {k: z[k] for k in z.files}
        arrays["area_km2"] = arrays["area_km2"] * 2
        np.savez(files[0], **arrays)
        G.global_grid.cache_clear()
        b = G.global_grid(2)
        assert np.array_equal(a.cells, b.cells) and np.array_equal(b.area_km2, 2 * a.area_km2)
        files[0].write_bytes(b"corrupt")  # a broken cache is rebuilt, not trusted
        G.global_grid.cache_clear()
        c = G.global_grid(2)
        assert len(c) == 5882 and np.array_equal(c.area_km2, a.area_km2)
    finally:
        G.global_grid.cache_clear()


def test_vectorised_parents_match_h3_including_pentagons():
    g = G.global_grid(3)
    pentagons = np.flatnonzero([h3n.is_pentagon(int(c)) for c in g.cells])
    assert len(pentagons) == 12
    kids, _ = G.children(g.cells[np.r_[0:20, pentagons]], 7)
    for r in range(0, 8):
        expect = np.array([h3n.cell_to_parent(int(c), r) for c in kids.cells], dtype=np.uint64)
        assert np.array_equal(G.cells_to_parents(kids.cells, r), expect)
    assert np.array_equal(G.cells_to_parents(g.cells, 5), g.cells)  # coarser cells map to themselves


def _mixed_cells() -> np.ndarray:
    """Hexagons and the 12 pentagons at resolutions 0-4 (pentagon descendants have 1 + 5 (7^k - 1) / 6)."""
    g = G.global_grid(2)
    pentagons = [c for c in g.cells.tolist() if h3n.is_pentagon(c)]
    picks = [int(g.cells[i]) for i in (0, 700, 3000)] + pentagons
    cells = [h3n.cell_to_parent(c, r) for c in picks for r in range(0, 3)] + [h3n.cell_to_center_child(c, 4) for c in picks]
    return np.array(sorted(set(cells)), dtype=np.uint64)


@pytest.mark.parametrize("res", [3, 5])
def test_descendant_index_bounds_and_counts_match_h3(res):
    cells = _mixed_cells()
    lo, hi = G.descendant_index_bounds(cells, res)
    counts = G.descendant_counts(cells, res)
    # Every cell of the global grid at ``res`` falls in exactly its ancestors' [lo, hi] blocks.
    grid = G.global_grid(res).cells
    for c, a, b, n in zip(cells.tolist(), lo.tolist(), hi.tolist(), counts.tolist()):
        r = h3n.get_resolution(c)
        kids = np.sort(np.asarray(h3n.cell_to_children(c, res), dtype=np.uint64)) if r < res else np.array([h3n.cell_to_parent(c, res)], dtype=np.uint64)
        block = grid[(grid >= a) & (grid <= b)]
        assert np.array_equal(block, kids), (hex(c), r)
        assert n == len(kids) == (1 if r >= res else 1 + 5 * (7 ** (res - r) - 1) // 6 if h3n.is_pentagon(c) else 7 ** (res - r))


def test_descendant_bounds_of_finer_cells_are_their_ancestor():
    fine = np.array([h3n.latlng_to_cell(48.85, 2.35, 7), h3n.latlng_to_cell(-33.9, 151.2, 5)], dtype=np.uint64)
    lo, hi = G.descendant_index_bounds(fine, 5)
    expect = np.array([h3n.cell_to_parent(int(fine[0]), 5), int(fine[1])], dtype=np.uint64)
    assert np.array_equal(lo, expect) and np.array_equal(hi, expect)
    assert G.descendant_counts(fine, 5).tolist() == [1.0, 1.0]
