"""Benchmark figures for people (geolocate.benchfmt) and the RvA chart and its files (geolocate.plots)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from geolocate import benchfmt
from geolocate.plots import OKABE_ITO, PRIOR_COLOURS, chart_png, chart_svg, line_styles, rva_chart


@pytest.mark.parametrize(
    ("x", "digits", "text"),
    [
        (0.41234, 3, "0.412"),
        (1234.5, 3, "1,230"),
        (0.5, 3, "0.500"),
        (99.96, 3, "100"),
        (0.0, 3, "0"),
        (-0.01234, 3, "-0.0123"),
        (104_297_147, 3, "104,000,000"),
        (49.44, 2, "49"),
        (float("nan"), 3, "n/a"),
        (float("inf"), 3, "∞"),
    ],
)
def test_sig_golden_values(x, digits, text):
    assert benchfmt.sig(x, digits) == text


@pytest.mark.parametrize(
    ("args", "kwargs", "text"),
    [
        ((104_297_147, 49_439_939, 119_735_627), {"unit": "km²"}, "104 M km² [49-120 M]"),  # the example
        ((0.41234, 0.3951, 0.4312), {}, "0.412 [0.395-0.431]"),
        ((2500, 800, 4100), {"unit": "km²"}, "2.50 k km² [0.80-4.10 k]"),
        ((950, 500, 1500), {"unit": "km²"}, "950 km² [500-1,500]"),
        ((12.34, 1.2, 3000), {}, "12.3 [1.2-3,000]"),  # a bound never shows more figures than the value
        ((999_960, 500_000, 2e6), {}, "1.00 M [0.50-2.00 M]"),  # scaled by the rounded value
        ((5.92, 3.1, 8.77), {"scale_units": False}, "5.92 [3.10-8.77]"),
        ((1234.0, 1000.0, 1500.0), {"scale_units": False}, "1,230 [1,000-1,500]"),
        ((5.0, 1.0, float("inf")), {}, "5.00 [1.00-∞]"),
    ],
)
def test_interval_golden_values(args, kwargs, text):
    assert benchfmt.interval(*args, **kwargs) == text


def test_scaled_and_percent():
    assert [benchfmt.scaled(x) for x in (104_297_147, 999.6, 1e6 - 1, 12.0)] == ["104 M", "1.00 k", "1.00 M", "12.0"]
    assert benchfmt.scaled(1e5, unit="km²") == "100 k km²"
    assert [benchfmt.percent(x) for x in (0.1234, 1.0, 0.0005, float("nan"))] == ["12.3%", "100%", "0.0500%", "n/a"]


def test_ensemble_first_keeps_the_others_in_order():
    frame = pd.DataFrame({"expert": ["a", "b", "ensemble", "c"], "auc": [1, 2, 3, 4]})
    out = benchfmt.ensemble_first(frame)
    assert out["expert"].tolist() == ["ensemble", "a", "b", "c"] and out["auc"].tolist() == [3, 1, 2, 4]
    assert out.index.tolist() == [0, 1, 2, 3]


def test_evaluated_sample_says_n_and_the_split():
    report = {"n_images": 2997, "split": {"method": "sha1 of AUTHOR", "fit": 1430, "eval": 1567}, "bootstrap": {"unit": "author"}}
    assert benchfmt.evaluated_sample(report) == (1567, "n = 1,567 evaluated photos (eval half of 2,997, split by photographer)")
    by_id = report | {"bootstrap": {"unit": "image"}}
    assert benchfmt.evaluated_sample(by_id)[1] == "n = 1,567 evaluated photos (eval half of 2,997, split by image id (no photographer column))"
    elsewhere = {"n_images": 300, "split": {"method": "none: weights and mixtures fitted elsewhere", "fit": 0, "eval": 300}}
    assert benchfmt.evaluated_sample(elsewhere) == (300, "n = 300 evaluated photos (all 300; weights fitted elsewhere)")


def test_files_sha256_hashes_names_sizes_and_bytes_not_folders(tmp_path):
    a, b = tmp_path / "x" / "gt.csv", tmp_path / "y" / "gt.csv"
    for p in (a, b):
        p.parent.mkdir()
        p.write_bytes(b"IMG_ID,LAT,LON\n1,2,3\n")
    (tmp_path / "x" / "p.csv").write_bytes(b"pred")
    expected = hashlib.sha256(b"gt.csv\x0021\x00IMG_ID,LAT,LON\n1,2,3\n" + b"p.csv\x004\x00pred").hexdigest()
    assert benchfmt.files_sha256([tmp_path / "x" / "p.csv", a]) == expected  # name order, whatever the given order
    assert benchfmt.files_sha256([a]) == benchfmt.files_sha256([b])  # the same data in another folder
    b.write_bytes(b"IMG_ID,LAT,LON\n1,2,4\n")
    assert benchfmt.files_sha256([a]) != benchfmt.files_sha256([b])


def test_citation_names_the_paper_version_and_data_hash():
    text, bibtex = benchfmt.citation("0.5.0", "im2gps3k", "ab" * 32, 8)
    assert text.startswith("Michael J. Bianco, David Eigen and Michael Gormish. Enhancing Worldwide Image Geolocation by Ensembling")
    assert "(WACV), 2025" in text and "arXiv:2407.13862" in text
    assert "geolocate 0.5.0 on im2gps3k (SHA-256 of its 8 data files: " + "ab" * 32 + ")" in text
    assert "author    = {Michael J. Bianco and David Eigen and Michael Gormish}" in bibtex and "year      = {2025}" in bibtex


def _curves(names=("photo density", "base_L-m", "base_M-m", "ensemble")) -> pd.DataFrame:
    area = np.geomspace(1, 5e8, 12)
    return pd.concat([pd.DataFrame({"expert": n, "area_km2": area, "recall": np.linspace(0, 1, 12) ** (k + 1)}) for k, n in enumerate(names)], ignore_index=True)


def test_curves_csv_has_the_columns_and_rows():
    rows = list(csv.DictReader(io.StringIO(benchfmt.curves_csv(_curves().assign(extra=1)))))
    assert list(rows[0]) == ["expert", "area_km2", "recall"] and len(rows) == 48
    assert float(rows[-1]["recall"]) == 1.0


def test_line_styles_ensemble_first_and_every_line_distinct():
    names = ["uniform land", "population", "photo density"] + [f"model {i}" for i in range(9)] + ["ensemble"]
    styles = line_styles(names, {"uniform land": "prior", "population": "prior", "photo density": "prior"})
    assert styles["expert"].tolist()[0] == "ensemble" and styles["colour"][0] == "#000000" and styles["width"][0] > styles["width"][1:].max()
    assert styles["expert"].tolist()[-3:] == ["uniform land", "population", "photo density"]  # priors last, dashed
    assert all(d == [6, 4] for d in styles["dash"].tolist()[-3:])
    looks = {(c, tuple(d)) for c, d in zip(styles["colour"], styles["dash"])}
    assert len(looks) == len(names)  # no two lines look alike, even past the palette's seven colours
    assert set(styles["colour"][1:]) <= set(OKABE_ITO) | set(PRIOR_COLOURS)
    assert styles["colour"][1] != styles["colour"][10]  # the first model and the first prior differ


def test_line_styles_default_knows_the_standard_priors():
    styles = line_styles(["population", "m", "ensemble"], ensemble_colour="#ffffff")
    assert styles["expert"].tolist() == ["ensemble", "m", "population"] and styles["colour"][0] == "#ffffff"


def test_rva_chart_one_legend_with_colour_and_dash():
    spec = rva_chart(_curves(), kinds={"photo density": "prior"}).to_dict()
    enc = spec["layer"][2]["encoding"]
    assert enc["color"]["scale"]["domain"] == ["ensemble", "base_L-m", "base_M-m", "photo density"]
    assert enc["strokeDash"]["scale"]["domain"] == enc["color"]["scale"]["domain"]  # same field and domain: one legend
    assert enc["strokeDash"]["scale"]["range"][-1] == [6, 4]


def test_chart_png_and_svg_render_offline():
    pytest.importorskip("vl_convert")
    chart = rva_chart(_curves(), title=None, width=None)
    png = chart_png(chart, scale=1)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width = int.from_bytes(png[16:20], "big")
    assert width > 700  # a container-sized chart gets a real width in a file
    svg = chart_svg(chart)
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "base_M-m" in svg and "ensemble" in svg  # the legend is in the file
    json.dumps(chart.to_dict())  # the spec itself stays serialisable
