"""Sun/clock evidence: URL round trip, validation messages, EXIF clock, build_experts and its feasibility notes."""

import datetime as dt

import pytest

from geolocate.evidence.sunclock import QUERY_KEYS, SunClockEvidence, build_experts, exif_clock
from geolocate.experts.clock import ClockExpert
from geolocate.experts.sun import SunExpert


def test_query_round_trip_keeps_every_field():
    ev = SunClockEvidence(
        shadows=((1.8, 2.4), (1.0, 0.5)),
        sun_azimuth_deg=135.0,
        times=("2024-06-21T09:00Z", "2024-06-21T14:30+02:00"),
        time_uncertainty_min=7.5,
        shadow_uncertainty_pct=3.0,
        azimuth_uncertainty_deg=4.0,
        utc_offset="+02:00",
        local_time="2024-06-21T11:00",
        use_exif_time=False,
    )
    q = ev.to_query()
    assert set(q) <= set(QUERY_KEYS)
    back, problems = SunClockEvidence.from_query(q)
    assert problems == [] and back == ev
    assert SunClockEvidence().to_query() == {} and SunClockEvidence().empty


def test_query_plus_sign_decoded_as_space_is_restored():
    back, problems = SunClockEvidence.from_query({"time": "2024-06-21T14:30 09:00", "utc_offset": " 09:00", "local_time": "2024-06-21T14:30"})
    assert problems == []
    assert back.times == ("2024-06-21T14:30+09:00",) and back.utc_offset == "+09:00"
    # A space between date and time is not an offset.
    back, problems = SunClockEvidence.from_query({"time": "2024-06-21 14:30,2024-06-21 14:30:15 09:00"})
    assert problems == [] and back.times == ("2024-06-21 14:30", "2024-06-21 14:30:15+09:00")


def test_bad_query_values_are_dropped_with_one_problem_each():
    back, problems = SunClockEvidence.from_query(
        {"shadow": "1:0,-1:2,x,2:abc", "sun_alt": "95", "sun_az": "north", "time": "2024-13-01T00:00", "time_unc": "-3", "utc_offset": "+25:00", "other_page_key": "kept out"}
    )
    assert back.shadows == ((1.0, 0.0),)
    assert back.sun_altitude_deg is None and back.sun_azimuth_deg is None and back.times == () and back.utc_offset is None
    assert len(problems) == 8  # three shadows, altitude, azimuth, time, uncertainty, offset
    assert any("'-1:2'" in p for p in problems) and any("HEIGHT:LENGTH" in p for p in problems) and any("95" in p for p in problems)


def test_shadow_and_time_make_a_sun_expert():
    experts, notes = build_experts(SunClockEvidence(shadows=((1, 1),), times=("2024-03-20T12:00Z",)))
    assert [type(e) for e in experts] == [SunExpert] and notes == []
    ob = experts[0].observations[0]
    assert ob.altitude_deg == pytest.approx(45) and ob.time.sigma_min == 15.0


def test_one_time_per_observation_or_one_for_all():
    ev = SunClockEvidence(shadows=((1, 1), (1, 2)), sun_altitude_deg=30, times=("2024-03-20T09:00Z", "2024-03-20T12:00Z", "2024-03-20T15:00Z"))
    (e,), notes = build_experts(ev, check=False)
    assert [o.time.unix_s for o in e.observations] == [dt.datetime(2024, 3, 20, h, tzinfo=dt.UTC).timestamp() for h in (9, 12, 15)]
    experts, notes = build_experts(SunClockEvidence(shadows=((1, 1), (1, 2)), times=("2024-03-20T09:00Z",) * 3))
    assert experts == [] and notes[0].level == "error" and "3 times for 2 observations" in str(notes[0])


def test_exif_time_with_offset_gives_sun_time_and_clock():
    exif = {"DateTimeOriginal": "2024:07:01 09:00:00", "OffsetTimeOriginal": "+05:30"}
    c = exif_clock(exif)
    assert c.local == dt.datetime(2024, 7, 1, 9) and c.offset_min == 330 and c.reason == ""
    experts, notes = build_experts(SunClockEvidence(shadows=((1.0, 1.0),)), photo_exif=exif)
    sun, clock = experts
    assert isinstance(sun, SunExpert) and isinstance(clock, ClockExpert)
    assert sun.observations[0].time.unix_s == dt.datetime(2024, 7, 1, 3, 30, tzinfo=dt.UTC).timestamp()
    assert sun.observations[0].time.sigma_min == 5.0
    assert any("EXIF time" in str(n) for n in notes) and any("UTC+05:30" in str(n) for n in notes)
    assert not [n for n in notes if n.level == "error"]  # 45 degrees at 09:00 IST is plausible in India


class _PhotoLike:
    exif_time = "2024:07:01 12:00:00"
    exif_offset = None
    gps = (48.85, 2.35)  # never used as evidence


def test_exif_time_without_offset_gives_no_clock_evidence_and_says_why():
    c = exif_clock(_PhotoLike())
    assert c.offset_min is None and "no UTC offset" in c.reason
    experts, notes = build_experts(SunClockEvidence(), photo_exif=_PhotoLike())
    assert experts == []
    assert [n.level for n in notes] == ["info"] and "OffsetTimeOriginal" in str(notes[0])
    # A shadow still uses the EXIF time, as local clock time at each place.
    (sun,), _ = build_experts(SunClockEvidence(shadows=((1, 1),)), photo_exif=_PhotoLike(), check=False)
    assert sun.observations[0].time.local == dt.datetime(2024, 7, 1, 12)


def test_typed_time_wins_over_exif_and_exif_can_be_ignored():
    exif = {"DateTimeOriginal": "2024:07:01 09:00:00", "OffsetTimeOriginal": "+05:30"}
    (sun, _clock), _ = build_experts(SunClockEvidence(shadows=((1, 1),), times=("2024-07-01T06:00Z",)), photo_exif=exif, check=False)
    assert sun.observations[0].time.unix_s == dt.datetime(2024, 7, 1, 6, tzinfo=dt.UTC).timestamp()
    experts, notes = build_experts(SunClockEvidence(shadows=((1, 1),), use_exif_time=False), photo_exif=exif)
    assert experts == [] and "needs a time" in str(notes[0])


def test_sun_below_the_horizon_everywhere_the_clock_allows_is_an_error_that_says_so():
    # 20:00 UTC is 01:30 in India and Sri Lanka (UTC+05:30).
    ev = SunClockEvidence(shadows=((1, 2),), times=("2024-06-21T20:00Z",), utc_offset="+05:30", local_time="2024-06-22T01:30")
    experts, notes = build_experts(ev)
    errors = [n for n in notes if n.level == "error"]
    assert len(errors) == 1 and "below the horizon" in str(errors[0]) and "UTC+05:30" in str(errors[0])
    # A daytime but wrong altitude says which altitudes are possible there.
    # Noon in India in June: the sun stands high everywhere there, never at 20 degrees.
    ev = SunClockEvidence(sun_altitude_deg=20, times=("2024-06-21T06:30Z",), utc_offset="+05:30", local_time="2024-06-21T12:00")
    errors = [n for n in build_experts(ev)[1] if n.level == "error"]
    assert len(errors) == 1 and "not 20.0°" in str(errors[0])


def test_two_observations_that_cannot_both_hold_are_reported():
    # A shadow with the sun 89.6 degrees high at 12:00 UTC, and the sun 89.5 degrees high at 13:00 UTC:
    # each pins the place near its subsolar point, and the two points are 15 degrees of longitude apart.
    ev = SunClockEvidence(
        shadows=((80, 0.5),), sun_altitude_deg=89.5, times=("2024-03-20T12:00Z", "2024-03-20T13:00Z"),
        time_uncertainty_min=2, shadow_uncertainty_pct=1, altitude_uncertainty_deg=0.3,
    )
    notes = build_experts(ev)[1]
    assert any(n.level == "error" and "do not fit together" in str(n) for n in notes)


def test_bad_clock_input_is_a_message_not_an_exception():
    for ev, words in [
        (SunClockEvidence(utc_offset="+05:30"), "local date and time"),
        (SunClockEvidence(utc_offset="+5h", local_time="2024-01-01T10:00"), "not understood"),
        (SunClockEvidence(utc_offset="+01:00", local_time="2024-01-01T10:00+01:00"), "without an offset"),
        (SunClockEvidence(local_time="2024-01-01T10:00"), "needs its UTC offset"),
    ]:
        experts, notes = build_experts(ev)
        assert experts == [] and notes[0].level == "error" and words in str(notes[0])


@pytest.mark.parametrize("when,offset", [("0001:01:01 00:00:00", "+14:00"), ("9999:12:31 23:59:59", "-12:00"), ("1899:12:31 23:00:00", "+00:00")])
def test_exif_times_out_of_range_are_a_note_not_an_overflow(when, offset):
    clk = exif_clock({"DateTimeOriginal": when, "OffsetTimeOriginal": offset})
    assert clk.local is None and clk.instant is None and "the year must be 1900-2100" in clk.reason
    experts, notes = build_experts(SunClockEvidence(utc_offset=None), photo_exif={"DateTimeOriginal": when, "OffsetTimeOriginal": offset})
    assert experts == [] and [n.level for n in notes] == ["info"] and "the year must be 1900-2100" in notes[0].detail


def test_predict_carries_on_with_an_exif_time_out_of_range(tmp_path, capsys, monkeypatch):
    from PIL import Image

    import geolocate.image.suite as suite
    from geolocate.cli import main

    monkeypatch.setattr(suite, "image_experts", lambda photos, **kw: ([], []))  # not what this test is about
    exif = Image.Exif()
    ifd = exif.get_ifd(0x8769)
    ifd[0x9003], ifd[0x9011] = "0001:01:01 00:00:00", "+14:00"
    Image.new("RGB", (32, 24), (90, 90, 90)).save(tmp_path / "p.jpg", exif=exif)
    assert main(["predict", str(tmp_path / "p.jpg"), "--quiet", "--top", "1", "--no-priors", "--guess", "10,10"]) == 0
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err and "the year must be 1900-2100" in out.out


@pytest.mark.parametrize(
    "typed, key, words",
    [
        ({"utc_offset": "+25:00", "local_time": "2024-07-01T14:30"}, "utc_offset", "outside the offsets in use"),
        ({"utc_offset": "+25:00"}, "utc_offset", "outside the offsets in use"),
        ({"utc_offset": "+05:30"}, "local_time", "needs the local date and time"),
        ({"local_time": "2024-07-01T14:30"}, "utc_offset", "needs its UTC offset"),
        ({"utc_offset": "+01:00", "local_time": "2024-07-01T14:30+01:00"}, "local_time", "without an offset"),
        ({"utc_offset": "+01:00", "local_time": "soon"}, "local_time", "'soon' is not understood"),
        ({"shadow": "1:1", "time": "noon"}, "time", "'noon' is not understood"),
        ({"shadow": "1:1"}, "time", "needs a time"),
        ({"shadow": "1:1", "exif_time": "0"}, "time", "needs a time"),
        ({"shadow": "1:x", "time": "2024-03-20T12:00Z"}, "shadow", "'x' is not a number"),
        ({"shadow": "1:1,1:2", "time": "2024-03-20T12:00Z,2024-03-20T13:00Z,2024-03-20T14:00Z"}, "time", "3 times for 2 observations"),
    ],
)
def test_check_fields_gives_one_problem_at_the_field_that_caused_it(typed, key, words):
    from geolocate.evidence.sunclock import check_fields

    ev, problems = check_fields(typed, exif_clock({"DateTimeOriginal": None}))
    assert list(problems) == [key] and len(problems[key]) == 1 and words in problems[key][0]
    # What the problem makes unusable is left out, so building the experts reports nothing more.
    assert ev.is_empty and build_experts(ev, photo_exif={"DateTimeOriginal": None}) == ([], [])


def test_check_fields_takes_the_exif_time_for_a_shadow_only_when_switched_on():
    from geolocate.evidence.sunclock import check_fields

    exif = exif_clock({"DateTimeOriginal": "2024:07:01 09:00:00", "OffsetTimeOriginal": "+05:30"})
    ev, problems = check_fields({"shadow": "1:1"}, exif)
    assert problems == {} and ev.shadows == ((1.0, 1.0),)
    ev, problems = check_fields({"shadow": "1:1", "exif_time": "0"}, exif)
    assert "needs a time" in problems["time"][0] and ev.shadows == ()
    ev, problems = check_fields({"utc_offset": "+05:30", "local_time": "2024-07-01T09:00", "shadow": "1:1", "time": "2024-07-01T03:30Z"})
    assert problems == {} and ev.utc_offset == "+05:30" and ev.times == ("2024-07-01T03:30Z",)


def test_a_photo_without_exif_time_gives_no_note_but_a_malformed_one_does():
    assert build_experts(SunClockEvidence(), photo_exif={"DateTimeOriginal": None}) == ([], [])
    _, notes = build_experts(SunClockEvidence(), photo_exif={"DateTimeOriginal": "yesterday"})
    assert [n.level for n in notes] == ["info"] and "malformed" in notes[0].detail
