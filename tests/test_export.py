"""Exports of ranked regions: GeoJSON (RFC 7946, antimeridian split), KML and CSV."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import shape

from geolocate.distribution import CellDistribution
from geolocate.export import cell_geometry, regions_to_csv, regions_to_geojson, regions_to_kml
from geolocate.grid import CellSet


def _dist(cells: list[str], mass: list[float]) -> CellDistribution:
    ids = np.array([h3.str_to_int(c) for c in cells], dtype=np.uint64)
    cs = CellSet.from_cells(ids)
    return CellDistribution(cs, np.log(np.asarray(mass)))


FIJI = h3.latlng_to_cell(-17.0, 179.99, 5)  # crosses the antimeridian
PARIS = h3.latlng_to_cell(48.85, 2.35, 5)
TOKYO = h3.latlng_to_cell(35.68, 139.69, 5)


@pytest.fixture
def regions():
    return _dist([FIJI, PARIS, TOKYO], [0.5, 0.3, 0.2]).ranked()


def test_antimeridian_cell_is_split_into_two_valid_parts():
    geom = cell_geometry(FIJI)
    assert geom.geom_type == "MultiPolygon"
    parts = list(geom.geoms)
    assert len(parts) == 2
    # One part ends at +180, the other starts at -180; neither spans the globe.
    assert {round(p.bounds[2], 6) for p in parts} & {180.0}
    assert {round(p.bounds[0], 6) for p in parts} & {-180.0}
    assert all(p.bounds[2] - p.bounds[0] < 1.0 for p in parts)
    # The split preserves the cell: its planar area equals the unwrapped cell's.
    ring = np.array(h3.cell_to_boundary(FIJI))
    lon = np.where(ring[:, 1] < 0, ring[:, 1] + 360, ring[:, 1])
    from shapely.geometry import Polygon

    assert geom.area == pytest.approx(Polygon(zip(lon, ring[:, 0])).area, rel=1e-9)


def test_ordinary_cell_is_a_ccw_polygon_around_its_centre():
    geom = cell_geometry(PARIS)
    assert geom.geom_type == "Polygon"
    assert geom.exterior.is_ccw
    lat, lon = h3.cell_to_latlng(PARIS)
    assert geom.contains(shape({"type": "Point", "coordinates": [lon, lat]}))


def test_pole_cell_is_closed_along_the_pole():
    geom = cell_geometry(h3.latlng_to_cell(90.0, 0.0, 2))
    assert geom.is_valid and geom.geom_type == "Polygon"
    assert geom.bounds[0] == -180.0 and geom.bounds[2] == 180.0 and geom.bounds[3] == 90.0


def test_geojson_parses_back_with_geopandas(regions):
    fc = regions_to_geojson(regions)
    text = json.dumps(fc)
    gdf = gpd.read_file(io.StringIO(text))
    assert len(gdf) == 3
    assert list(gdf["rank"]) == [1, 2, 3]
    assert list(gdf["h3"]) == [FIJI, PARIS, TOKYO]
    assert gdf.geometry.iloc[0].geom_type == "MultiPolygon"
    assert gdf["cum_prob"].iloc[-1] == pytest.approx(1.0)
    assert gdf["prob"].tolist() == pytest.approx([0.5, 0.3, 0.2])
    assert gdf["cum_area_km2"].iloc[-1] == pytest.approx(regions.total_area_km2)
    assert (gdf.geometry.is_valid).all()
    # Every geometry contains its own cell centre.
    for h, g in zip(gdf["h3"], gdf.geometry):
        lat, lon = h3.cell_to_latlng(h)
        assert g.buffer(1e-9).contains(shape({"type": "Point", "coordinates": [lon, lat]}))
    props = fc["features"][0]["properties"]
    assert set(props) == {"rank", "h3", "prob", "area_km2", "density_per_km2", "cum_prob", "cum_area_km2", "name", "area_id", "area_name"}


def test_csv_round_trips(regions):
    df = pd.read_csv(io.StringIO(regions_to_csv(regions)))
    assert list(df.columns) == ["rank", "h3", "lat", "lon", "resolution", "prob", "area_km2", "density_per_km2", "cum_prob", "cum_area_km2", "name", "area_id", "area_name"]
    assert df["h3"].tolist() == [FIJI, PARIS, TOKYO]
    assert df["prob"].tolist() == pytest.approx([0.5, 0.3, 0.2])


def test_kml_is_well_formed_with_multigeometry_for_split_cells(regions):
    root = ET.fromstring(regions_to_kml(regions))
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    marks = root.findall(".//k:Placemark", ns)
    assert len(marks) == 3
    assert marks[0].find("k:MultiGeometry", ns) is not None
    assert len(marks[0].findall(".//k:Polygon", ns)) == 2
    assert marks[1].find("k:Polygon", ns) is not None
    coords = marks[1].find(".//k:coordinates", ns).text.split()
    first, last = coords[0], coords[-1]
    assert first == last  # closed ring
    data = {d.get("name"): d.find("k:value", ns).text for d in marks[1].findall(".//k:Data", ns)}
    assert data["h3"] == PARIS and float(data["prob"]) == pytest.approx(0.3)


def test_empty_regions_export_empty_collections():
    regions = _dist([PARIS], [1.0]).within_budget(1.0)  # smaller than the cell
    assert len(regions) == 0
    assert regions_to_geojson(regions) == {"type": "FeatureCollection", "features": []}
    assert "<Placemark>" not in regions_to_kml(regions)


def test_kml_styles_follow_the_rank_bands(regions):
    root = ET.fromstring(regions_to_kml(regions))
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    styles = [m.find("k:styleUrl", ns).text for m in root.findall(".//k:Placemark", ns)]
    # Fiji holds the first half (starts at 0: band 0), Paris starts at 0.5 (band 2), Tokyo at 0.8 (band 3).
    assert styles == ["#band0", "#band2", "#band3"]
    assert [s.get("id") for s in root.findall(".//k:Style", ns)] == ["band0", "band1", "band2", "band3"]


# ------------------------------------------------------------------------------------- names and areas


def test_every_export_carries_names_and_candidate_areas(regions):
    # three far-apart cells: three candidate areas named by the gazetteer
    fc = regions_to_geojson(regions)
    props = [f["properties"] for f in fc["features"]]
    assert [p["area_id"] for p in props] == [1, 2, 3]
    assert "Paris" in props[1]["name"] and "France" in props[1]["name"]
    assert "Japan" in props[2]["name"] and "Japan" in props[2]["area_name"]
    assert "Fiji" in props[0]["area_name"] or "km" in props[0]["name"]
    df = pd.read_csv(io.StringIO(regions_to_csv(regions)))
    assert df["name"].tolist() == [p["name"] for p in props]
    assert df["area_id"].tolist() == [1, 2, 3] and df["area_name"].tolist() == [p["area_name"] for p in props]
    root = ET.fromstring(regions_to_kml(regions))
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    folders = root.findall("k:Document/k:Folder", ns)
    assert [f.find("k:name", ns).text.split(":")[0] for f in folders] == ["Area 1", "Area 2", "Area 3"]
    assert "(30.0%)" in folders[1].find("k:name", ns).text and props[1]["area_name"] in folders[1].find("k:name", ns).text
    paris = folders[1].find("k:Placemark", ns)
    assert paris.find("k:name", ns).text == "#2 " + props[1]["name"]
    data = {d.get("name"): d.find("k:value", ns).text for d in paris.findall(".//k:Data", ns)}
    assert data["area_id"] == "2" and data["name"] == props[1]["name"]


def test_given_names_and_areas_are_used(regions):
    from geolocate.candidates import candidate_areas

    areas = candidate_areas(regions, max_areas=1)
    fc = regions_to_geojson(regions, names=["a", "b", "c"], areas=areas)
    assert [f["properties"]["name"] for f in fc["features"]] == ["a", "b", "c"]
    assert [f["properties"]["area_id"] for f in fc["features"]] == [1, 0, 0]
    assert [f["properties"]["area_name"] for f in fc["features"]][1:] == ["", ""]
    root = ET.fromstring(regions_to_kml(regions, names=["a", "b", "c"], areas=areas))
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    assert [f.find("k:name", ns).text for f in root.findall("k:Document/k:Folder", ns)][-1] == "Other regions"
    with pytest.raises(ValueError, match="2 names for 3 regions"):
        regions_to_csv(regions, names=["a", "b"])
