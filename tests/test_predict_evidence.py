"""``python -m geolocate predict`` without a photo: sun, shadow and clock evidence; bad input exits 2 with a message."""

import csv
import io
import json

import pytest
from PIL import Image

from geolocate.cli import main


def _run(argv, capsys):
    try:
        rc = main(["predict", "--quiet", *argv])
    except SystemExit as exit_:  # argparse usage errors
        rc = exit_.code
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return rc, out.out, out.err


def test_shadow_and_time_without_a_photo_write_csv_and_geojson(tmp_path, capsys):
    csv_path, gj = tmp_path / "r.csv", tmp_path / "r.geojson"
    rc, out, err = _run(["--shadow", "1:1", "--time", "2024-03-20T12:00Z", "--time-uncertainty", "5", "--no-priors",
                         "--budget", "50000", "--csv", str(csv_path), "--geojson", str(gj)], capsys)
    assert rc == 0, err
    assert "analyst sun: shadow 1:1 (sun at 45.0°) at 2024-03-20 12:00 UTC ± 5 min" in out
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert list(rows[0])[:2] == ["rank", "h3"] and {"prob", "area_km2"} <= set(rows[0])
    assert sum(float(r["area_km2"]) for r in rows) <= 50000
    # Every listed cell sits on the 45-degree ring around the subsolar point (0.1 N, 1.9 E).
    from geolocate.experts.point import haversine_km
    from geolocate.grid import EARTH_RADIUS_KM

    arcs = [haversine_km(float(r["lat"]), float(r["lon"]), -0.1, 1.86) / EARTH_RADIUS_KM * 57.29578 for r in rows]
    assert all(abs(a - 45.0) < 1.5 for a in arcs)
    assert json.loads(gj.read_text())["type"] == "FeatureCollection"


def test_clock_flags_select_the_zone(tmp_path, capsys):
    csv_path = tmp_path / "r.csv"
    rc, out, err = _run(["--utc-offset", "-07:00", "--local-time", "2024-07-01T12:00", "--no-priors", "--budget", "1e6", "--csv", str(csv_path)], capsys)
    assert rc == 0, err
    assert "America/Los_Angeles" in out or "America/" in out
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    lons = [float(r["lon"]) for r in rows]
    # Pacific daylight / Arizona / Yukon (UTC-7 all year; its border is 141 W) / the nautical -7 band, not Denver's region only
    assert all(-142 < x < -95 for x in lons) and min(lons) < -120


def test_two_shadows_each_with_its_time(capsys):
    rc, out, err = _run(["--shadow", "1:0.9", "--time", "2024-06-21T08:00Z", "--shadow", "1:1.6", "--time", "2024-06-21T15:00Z", "--no-priors", "--top", "1"], capsys)
    assert rc == 0, err
    assert out.count("shadow 1:") == 2


@pytest.mark.parametrize(
    "argv,words",
    [
        (["--shadow", "0:2", "--time", "2024-03-20T12:00Z"], "ratio height/length must be positive"),
        (["--shadow", "-1:2", "--time", "2024-03-20T12:00Z"], "ratio height/length must be positive"),
        (["--shadow", "2", "--time", "2024-03-20T12:00Z"], "HEIGHT:LENGTH"),
        (["--sun-altitude", "0", "--time", "2024-03-20T12:00Z"], "above 0 and at most 90"),
        (["--sun-altitude", "91", "--time", "2024-03-20T12:00Z"], "above 0 and at most 90"),
        (["--sun-altitude", "30", "--time", "tomorrow noon"], "is not understood"),
        (["--sun-altitude", "30", "--time", "2024-02-30T12:00"], "is not understood"),
        (["--utc-offset", "-07:00"], "local date and time"),
        (["--utc-offset", "+25:00", "--local-time", "2024-07-01T12:00"], "outside the offsets in use"),
        (["--shadow", "1:1"], "needs a time"),
        (["--shadow", "1:1", "--shadow", "1:2", "--time", "2024-03-20T12:00Z", "--time", "2024-03-20T13:00Z", "--time", "2024-03-20T14:00Z"], "3 times for 2 observations"),
        ([], "give a photo, a --link, or evidence"),
        # 20:00 UTC is 01:30 at UTC+05:30: the sun is down everywhere the clock allows.
        (["--shadow", "1:2", "--time", "2024-06-21T20:00Z", "--utc-offset", "+05:30", "--local-time", "2024-06-22T01:30"], "below the horizon"),
    ],
)
def test_bad_evidence_exits_2_with_a_clear_message(argv, words, capsys):
    rc, out, err = _run([*argv, "--no-priors"], capsys)
    assert rc == 2
    assert words in err


def test_photo_exif_time_and_offset_feed_the_sun_and_clock(tmp_path, capsys, monkeypatch):
    import geolocate.image.suite as suite

    # The image experts are not what this test is about (they have their own tests): skip them.
    monkeypatch.setattr(suite, "image_experts", lambda photos, **kw: ([], []))
    im = Image.new("RGB", (64, 48), (120, 140, 160))
    exif = Image.Exif()
    ifd = exif.get_ifd(0x8769)
    ifd[0x9003] = "2024:07:01 09:00:00"
    ifd[0x9011] = "+05:30"
    path = tmp_path / "p.jpg"
    im.save(path, exif=exif)
    rc, out, err = _run([str(path), "--shadow", "1:1", "--no-priors", "--top", "3"], capsys)
    assert rc in (0, 1), err
    assert "EXIF time (2024-07-01 03:30 UTC ± 5 min)" in out and "Clock: the photo's EXIF says UTC+05:30" in out


def test_a_certain_area_keeps_every_top_region_inside_its_circle(tmp_path, capsys):
    """`predict --area in:LAT,LON,KM --hard`: the page's drawn circle on the command line."""
    from geolocate.metrics import haversine_km

    out = tmp_path / "top.csv"
    rc, _, err = _run(["--area", "in:48.85,2.35,50", "--hard", "--csv", str(out)], capsys)
    assert rc == 0, err
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) >= 10
    near = [float(r["prob"]) for r in rows if haversine_km(48.85, 2.35, float(r["lat"]), float(r["lon"])) < 50 + 10]
    assert sum(near) > 0.999  # cells beyond the rim (a res-6 cell's radius) hold nothing
    assert float(rows[9]["cum_prob"]) > 0.1 and haversine_km(48.85, 2.35, float(rows[0]["lat"]), float(rows[0]["lon"])) < 60
    rc, _, err = _run(["--area", "in:48.85,2.35"], capsys)
    assert rc == 2 and "--area" in err
