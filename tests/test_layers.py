import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from geolocate.grid import global_grid
from geolocate.layers import (
    IGBP_CLASSES,
    POPULATION_BINS,
    country_layer,
    country_table,
    geonames_population_layer,
    land_fraction,
    population_counts_geotiff,
    population_layer,
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
    from geolocate.layers import landcover_layer

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
    assert len(countries.classes) == len(country_table()) + 1 == 178
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
