"""Hand-off links and coordinate formats: golden values (MGRS and plus codes from the packages' own docs)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from geolocate.handoff import SERVICES, coordinate_formats, decimal_degrees, dms, links, mgrs_code, plus_code, zoom_for_km


def test_mgrs_golden_from_the_mgrs_readme():
    # mgrs's README: toMGRS(42.0, -93.0) == '15TWG0000049776'
    assert mgrs_code(42.0, -93.0) == "15T WG 00000 49776"
    assert mgrs_code(42.0, -93.0, precision=3) == "15T WG 000 497"


def test_plus_code_golden_from_openlocationcode_docs():
    # openlocationcode's module docs: encode(47.365590, 8.524997) == '8FVC9G8F+6X'
    assert plus_code(47.365590, 8.524997, 10) == "8FVC9G8F+6X"
    assert plus_code(47.365590, 8.524997) == "8FVC9G8F+6XQ"


def test_dms_eiffel_tower_and_carry():
    assert dms(48.858370, 2.294481) == "48°51′30.1″N 2°17′40.1″E"
    assert dms(-33.999999, -18.5) == "34°00′00.0″S 18°30′00.0″W"  # 59.9964″ carries into the degree


def test_decimal_degrees_and_range_checks():
    assert decimal_degrees(21.981212, -159.37213) == "21.98121, -159.37213"
    assert decimal_degrees(10.0, 190.0) == "10.00000, -170.00000"  # wrapped past the antimeridian
    with pytest.raises(ValueError, match="latitude must be in"):
        links(91.0, 0.0)
    with pytest.raises(ValueError):
        dms(float("nan"), 0.0)


def test_links_golden_urls():
    by = {link.service: link.url for link in links(21.98121, -159.3721, zoom=13)}
    assert tuple(by) == SERVICES
    assert by["OpenStreetMap"] == "https://www.openstreetmap.org/?mlat=21.981210&mlon=-159.372100#map=13/21.981210/-159.372100"
    assert by["KartaView"] == "https://kartaview.org/map/@21.981210,-159.372100,13z"
    g = urlsplit(by["Google Maps satellite"])
    assert (g.netloc, g.path) == ("www.google.com", "/maps/@")
    assert parse_qs(g.query) == {"api": ["1"], "map_action": ["map"], "center": ["21.981210,-159.372100"], "zoom": ["13"], "basemap": ["satellite"]}
    sv = parse_qs(urlsplit(by["Google Street View"]).query)
    assert sv == {"api": ["1"], "map_action": ["pano"], "viewpoint": ["21.981210,-159.372100"]}
    assert parse_qs(urlsplit(by["Mapillary"]).query) == {"lat": ["21.981210"], "lng": ["-159.372100"], "z": ["13"]}
    assert parse_qs(urlsplit(by["Bing Maps aerial"]).query) == {"cp": ["21.981210~-159.372100"], "lvl": ["13"], "style": ["a"]}
    assert parse_qs(urlsplit(by["Apple Maps satellite"]).query) == {"ll": ["21.981210,-159.372100"], "z": ["13"], "t": ["k"]}
    assert all(u.startswith("https://") for u in by.values())


def test_zoom_for_km():
    assert zoom_for_km(50) == 11
    assert zoom_for_km(1) > zoom_for_km(100) > zoom_for_km(5000)
    assert zoom_for_km(0.001) == 19 and zoom_for_km(1e9) == 1 and zoom_for_km(0) == 15


def test_coordinate_formats_has_all_four():
    f = coordinate_formats(42.0, -93.0)
    assert f == {"Decimal degrees": "42.00000, -93.00000", "DMS": "42°00′00.0″N 93°00′00.0″W", "MGRS": "15T WG 00000 49776", "Plus code": "86J92222+222"}
