"""The CLI reproduces the page: ``predict --link`` gives the Locate page's top regions for the same link."""

from __future__ import annotations

import csv
import io

import numpy as np
from apphelpers import PAGES
from streamlit.testing.v1 import AppTest

from geolocate.cli import main
from geolocate.maps import fmt

LINK = "?guess=48.85,2.35&radius=200&exclude=DEU&budget=20000"


def _page_table(link: str):
    from urllib.parse import parse_qsl

    at = AppTest.from_file(str(PAGES / "locate.py"), default_timeout=120)
    for k, v in parse_qsl(link.lstrip("?")):
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    table = next(df for df in at.dataframe if "lat, lon" in df.value.columns).value
    return at, table


def test_predict_link_gives_the_pages_top_ten(tmp_path, capsys):
    at, table = _page_table(LINK)
    out = tmp_path / "out.csv"
    assert main(["predict", "--link", LINK, "--csv", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(table) == 10 and len(rows) >= 10
    # Same cells in the same order with the same coordinates and probabilities (to the table's digits).
    page_ll = np.array([[float(v) for v in t.split(",")] for t in table["lat, lon"]])
    np.testing.assert_allclose(page_ll, [[float(r["lat"]), float(r["lon"])] for r in rows[:10]], atol=2e-5)
    assert [fmt.format_prob(float(r["prob"])) for r in rows[:10]] == list(table["probability"])
    # And exactly, against what the page's exports serialise.
    regions = at.session_state["_regions"]
    assert [r["h3"] for r in rows[: len(regions)]] == [format(c, "x") for c in regions.cells[: len(rows)].tolist()]
    np.testing.assert_allclose([float(r["prob"]) for r in rows], regions.prob, rtol=1e-7)
    assert sum(float(r["area_km2"]) for r in rows) <= 20000
    # The link's evidence reached the CLI: the guess is an expert, Germany is down-weighted.
    assert "analyst guess" in printed and "not in DEU" in printed
    lat, lon = (float(v) for v in table["lat, lon"][0].split(","))
    assert abs(lat - 48.85) < 2 and abs(lon - 2.35) < 3


def test_predict_flags_equal_the_same_link(tmp_path, capsys):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert main(["predict", "--link", LINK, "--csv", str(a), "--quiet"]) == 0
    assert main(["predict", "--guess", "48.85,2.35", "--radius", "200", "--exclude", "DEU", "--budget", "20000", "--csv", str(b), "--quiet"]) == 0
    assert a.read_text() == b.read_text()


def test_a_bad_link_is_one_warning_and_the_rest_still_runs(tmp_path, capsys):
    out = tmp_path / "o.csv"
    assert main(["predict", "--link", "https://host/locate?guess=999,0&budget=lots&out=DEU", "--csv", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "guess" in err and "'lots'" in err
    assert out.read_text().startswith("rank,h3,lat,lon")


def test_unwritable_output_is_a_message_and_exit_2(capsys):
    assert main(["predict", "--guess", "48.85,2.35", "--csv", "/proc/nope/x.csv", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "cannot write /proc/nope/x.csv" in err and "Traceback" not in err


# ------------------------------------------------------------------------------- investigations and areas


def test_investigation_restores_the_same_regions_as_its_link(tmp_path, capsys):
    from geolocate.investigation import load, save
    from geolocate.share import decode_query, encode_query

    params, _ = decode_query(dict(p.split("=") for p in LINK.lstrip("?").split("&")))
    inv_path = tmp_path / "case.json"
    inv_path.write_text(save(params, "red dirt road; check Waimea", method="log-linear"))
    assert load(inv_path.read_text()).query == encode_query(params)
    assert encode_query(params)["budget"] == "20000" and encode_query(params)["guess"] == "48.85,2.35"
    a, b = tmp_path / "link.csv", tmp_path / "inv.csv"
    assert main(["predict", "--link", LINK, "--csv", str(a), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["predict", "--investigation", str(inv_path), "--csv", str(b), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert a.read_text() == b.read_text()
    assert "red dirt road; check Waimea" in printed and "investigation saved" in printed


def test_investigation_errors_exit_2_with_the_field(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "geolocate.investigation", "version": 99, "query": {}}')
    assert main(["predict", "--investigation", str(bad), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "version" in err and "newer geolocate" in err and "Traceback" not in err
    assert main(["predict", "--investigation", str(tmp_path / "missing.json"), "--quiet"]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["predict", "--investigation", str(bad), "--link", LINK, "--quiet"]) == 2
    assert "not both" in capsys.readouterr().err


def test_predict_prints_candidate_areas_above_named_regions(tmp_path, capsys):
    out = tmp_path / "k.csv"
    assert main(["predict", "--guess", "21.98,-159.37", "--radius", "100", "--budget", "20000", "--csv", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert printed.index("candidate areas") < printed.index("top regions")
    first_area = next(line for line in printed.splitlines() if line.strip().startswith("1. "))
    assert "Kauai, Hawaii, United States" in first_area and "%" in first_area and "km²" in first_area
    assert "why: analyst guess puts" in printed
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert rows[0]["area_id"] == "1" and rows[0]["area_name"] in first_area and "Hawaii" in rows[0]["name"]
