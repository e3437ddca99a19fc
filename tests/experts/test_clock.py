"""Clock expert: UTC offsets at a local time select the right IANA zones, DST included."""

import datetime as dt

import numpy as np
import pytest

from geolocate.experts.clock import (
    ClockEvidence,
    ClockExpert,
    EvidenceError,
    format_utc_offset,
    parse_utc_offset,
    zone_samples,
    zone_table,
)
from geolocate.grid import CellSet, cache_dir, children, global_grid, points_to_cells
from geolocate.layers import LayerError, country_layer, country_table


def _expert(offset: str, local: str) -> ClockExpert:
    return ClockExpert(ClockEvidence(parse_utc_offset(offset), dt.datetime.fromisoformat(local)))


def _share_at(e: ClockExpert, lat: float, lon: float, res: int = 5) -> float:
    return float(e.share(CellSet.from_cells(points_to_cells(np.array([lat]), np.array([lon]), res)))[0])


@pytest.mark.parametrize("text,minutes", [("+05:30", 330), ("-07:00", -420), ("+0545", 345), ("UTC-3", -180), ("Z", 0), ("+14:00", 840), ("−04:00", -240)])
def test_parse_offsets(text, minutes):
    assert parse_utc_offset(text) == minutes
    assert parse_utc_offset(format_utc_offset(minutes)) == minutes


@pytest.mark.parametrize("text", ["+15:00", "+05:75", "five", "", "+5:3"])
def test_bad_offsets_are_refused_with_a_message(text):
    with pytest.raises(EvidenceError, match="offset"):
        parse_utc_offset(text)


@pytest.mark.parametrize("date", ["2024-01-15T12:00", "2024-07-01T09:30", "2031-11-03T23:00"])
def test_plus_0530_is_india_and_sri_lanka_only(date):
    e = _expert("+05:30", date)
    assert sorted(e.matching_zones()) == ["Asia/Colombo", "Asia/Kolkata"]
    assert _share_at(e, 28.61, 77.21) == 1.0 and _share_at(e, 6.93, 79.85) == 1.0  # Delhi, Colombo
    assert _share_at(e, 27.70, 85.32) == 0.0 and _share_at(e, 24.86, 67.00) == 0.0  # Kathmandu (+05:45), Karachi (+05:00)
    g = global_grid(3)
    share = e.share(g)
    codes = ["none"] + [c["iso3"] for c in country_table()]
    try:
        frac = country_layer().values_at(g)
    except LayerError as err:
        pytest.skip(f"country layer unavailable for the area check: {err}")
    by_country = ((share * g.area_km2)[:, None] * frac).sum(axis=0)
    by_country /= by_country.sum()
    # The zones' polygons include territorial waters, and Natural Earth 1:110m draws Kashmir and the
    # borders coarsely: India, Sri Lanka and the sea hold 95 % of the area, no other country over 2 %.
    assert by_country[[codes.index("IND"), codes.index("LKA"), codes.index("none")]].sum() > 0.95
    assert by_country[codes.index("IND")] > 0.75 and by_country[codes.index("LKA")] > 0.01
    others = np.delete(by_country, [codes.index("IND"), codes.index("LKA"), codes.index("none")])
    assert others.max() < 0.02


def test_minus_0700_in_july_is_pacific_daylight_and_arizona_not_mountain_daylight():
    e = _expert("-07:00", "2024-07-01T12:00")
    zones = set(e.matching_zones())
    assert {"America/Los_Angeles", "America/Phoenix", "America/Vancouver"} <= zones
    assert not zones & {"America/Denver", "America/Edmonton", "America/Chicago"}
    assert _share_at(e, 34.05, -118.25) == 1.0  # Los Angeles
    assert _share_at(e, 33.45, -112.07) == 1.0  # Phoenix
    assert _share_at(e, 39.74, -104.99) == 0.0  # Denver
    # In January the same offset is Mountain standard time: Denver and Phoenix, not Los Angeles.
    e = _expert("-07:00", "2024-01-15T12:00")
    assert _share_at(e, 39.74, -104.99) == 1.0 and _share_at(e, 33.45, -112.07) == 1.0 and _share_at(e, 34.05, -118.25) == 0.0


def test_dst_change_day():
    # US spring forward, 2024-03-10 02:00 local: New York is -05:00 at 01:30 and -04:00 at 03:30.
    ny = (40.71, -74.01)
    assert _share_at(_expert("-05:00", "2024-03-10T01:30"), *ny) == 1.0
    assert _share_at(_expert("-04:00", "2024-03-10T03:30"), *ny) == 1.0
    assert _share_at(_expert("-05:00", "2024-03-10T03:30"), *ny) == 0.0
    # EU, 2024-03-31 at 01:00 UTC: Paris +01:00 at 01:30 local, +02:00 at 03:30; London +01:00 at 03:30.
    paris, london = (48.86, 2.35), (51.51, -0.13)
    assert _share_at(_expert("+01:00", "2024-03-31T01:30"), *paris) == 1.0
    assert _share_at(_expert("+02:00", "2024-03-31T03:30"), *paris) == 1.0
    assert _share_at(_expert("+01:00", "2024-03-31T03:30"), *paris) == 0.0
    assert _share_at(_expert("+01:00", "2024-03-31T03:30"), *london) == 1.0
    # Autumn back, 2024-11-03 01:30 happens twice in New York: both readings are valid.
    assert _share_at(_expert("-04:00", "2024-11-03T01:30"), *ny) == 1.0
    assert _share_at(_expert("-05:00", "2024-11-03T01:30"), *ny) == 1.0


def test_border_cells_get_their_fraction_and_children_average_to_the_parent():
    e = _expert("-07:00", "2024-07-01T12:00")
    g = global_grid(3)
    share = e.share(g)
    partial = np.flatnonzero((share > 0.05) & (share < 0.95))
    assert len(partial) > 20
    pos, zid, frac = zone_samples(g)
    assert np.allclose(np.bincount(pos, frac, minlength=len(g)), 1.0)
    # A res-3 share is the mean of its 7 res-4 children's shares (both count res-5 descendants).
    from h3.api import numpy_int as h3n
    cells = [c for c in g.cells[partial] if not h3n.is_pentagon(int(c))][:10]
    kids, owner = children(np.array(cells, dtype=np.uint64), 4)
    kid_share = e.share(kids)
    assert np.allclose(np.bincount(owner, kid_share) / 7, share[g.index_of(np.array(cells, dtype=np.uint64))])
    # Finer cells inherit the zone of their res-5 ancestor: shares are 0 or 1.
    fine, _ = children(np.array(cells[:2], dtype=np.uint64), 6)
    assert set(np.unique(e.share(fine))) <= {0.0, 1.0}


def test_zone_table_is_cached_on_disk():
    cells, zone, names = zone_table()
    assert len(cells) == 2_016_842 and len(zone) == len(cells)
    files = list(cache_dir().glob("tz_res5_tzfpy*.npz"))
    assert files and not list(cache_dir().glob(".tz_res5_*.tmp"))
    with np.load(files[0]) as z:
        assert np.array_equal(z["zone"], zone)


def test_clock_log_density_is_finite_and_zero_outside():
    e = _expert("+09:00", "2024-07-01T12:00")
    g = global_grid(3)
    ld = e.log_density(g)
    assert np.all(np.isfinite(ld))
    tokyo = g.locate(np.array([35.68]), np.array([139.76]))[0]
    paris = g.locate(np.array([48.86]), np.array([2.35]))[0]
    assert ld[tokyo] == 0.0 and ld[paris] == -700.0


def test_a_corrupt_zone_cache_is_rebuilt_not_trusted(tmp_path, monkeypatch):
    import tzfpy

    monkeypatch.setenv("GEOLOCATE_CACHE_DIR", str(tmp_path))
    (tmp_path / f"tz_res5_tzfpy{tzfpy.data_version()}.npz").write_bytes(b"PK\x03\x04 truncated")
    zone_table.cache_clear()
    try:
        cells, zone, names = zone_table()
        assert len(zone) == len(cells) == 2_016_842 and "Asia/Kolkata" in names
        with np.load(tmp_path / f"tz_res5_tzfpy{tzfpy.data_version()}.npz") as z:
            assert np.array_equal(z["zone"], zone)
    finally:
        zone_table.cache_clear()
