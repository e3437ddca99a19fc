"""Reveal data (guess-truth lines, search area, comparison) and the projector's QR code."""

from __future__ import annotations

import math

import numpy as np
import pytest

from geolocate.maps import spec as mapspec
from geolocate.maps.camera import WORLD_VIEW
from geolocate.teach import projector, reveal

R = 6371.0088


def test_guess_lines_run_from_each_guess_to_the_truth_with_name_and_distance():
    lines = reveal.guess_lines((0.0, 10.0), [(0.0, 12.0, "Bob"), (0.0, 11.0, "Ann"), (0.0, 10.05, "Cy"), (3.0, 10.0, "Dee")])
    # Nearest first; 1° of a great circle is 111.195 km, 0.05° is 5.56 km.
    assert [line[4] for line in lines] == ["Cy: 5.6 km", "Ann: 111 km", "Bob: 222 km", "Dee: 334 km"]
    assert lines[1][:4] == (0.0, 11.0, 0.0, 10.0)
    assert reveal.distance_text(R * math.radians(1.0)) == "111 km" and reveal.distance_text(0.4) == "0.40 km"
    long = reveal.guess_lines((0, 0), [(0, 1, "x" * 60)])[0][4]
    assert long.startswith("x" * reveal.NAME_CHARS + ":") and len(long) < 40


def test_lines_and_search_area_reach_the_map_spec():
    cells = ["831fb4fffffffff"]  # the res-3 cell around Paris
    data = reveal.search_area_map(cells)
    lines = reveal.guess_lines((48.85, 2.35), [(45.76, 4.84, "Ann")])
    spec = mapspec.map_spec(data, WORLD_VIEW, "k", marker=(48.85, 2.35), lines=lines)
    assert spec["outline"]["n"] >= 1  # the ensemble's search area, outlined
    assert spec["density"]["h3"] == ""  # nothing else of the model is drawn
    assert spec["lines"] == [[45.76, 4.84, 48.85, 2.35, "Ann: 391 km"]]  # Paris to Lyon by haversine: 391.5 km
    ring = mapspec.decode_paths(spec["outline"])[0]
    assert all(0 < lon < 6 and 45 < lat < 52 for lon, lat in ring)  # around Paris, degrees [lon, lat]


def test_search_area_cells_fit_the_budget():
    from geolocate.distribution import CellDistribution
    from geolocate.grid import global_grid

    g = global_grid(2)
    logd = -np.arange(len(g), dtype=np.float64)  # a strict ranking
    dist = CellDistribution.from_log_density(g, logd)
    ids = reveal.search_area_cells(dist, budget_km2=3 * float(g.area_km2.max()))
    assert 1 <= len(ids) <= 3 and ids[0] == format(int(g.cells[0]), "x")
    assert len(reveal.search_area_cells(dist, budget_km2=1e12, max_cells=5)) == 5


def test_comparison_ranks_models_and_people_by_area():
    df = reveal.comparison({"ensemble": 5e3, "m": 2e6}, [{"name": "Ann", "area_km2": 4e4, "distance_km": 111.2}], {"ensemble": 30.0})
    assert df["who"].tolist() == ["ensemble", "Ann", "m"] and df["rank"].tolist() == [1, 2, 3]
    assert df["kind"].tolist() == ["ensemble", "student", "model"]
    assert df.loc[0, "distance_km"] == 30.0 and np.isnan(df.loc[2, "distance_km"])


def test_qr_code_decodes_to_the_join_link():
    cv2 = pytest.importorskip("cv2")  # OpenCV's QR decoder (installed with rapidocr-onnxruntime)
    link = "http://192.168.1.20:8501/classroom?round=ABC234"
    png = projector.qr_png(link)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    text, points, _ = cv2.QRCodeDetector().detectAndDecode(img)
    assert text == link and points is not None
    assert projector.spaced_code("abc234") == "ABC 234"
