"""The shareable link: the view's own keys and every evidence kind's keys, round trips and bad links."""

from __future__ import annotations

from geolocate import evidence, presets, share
from geolocate.evidence import AnalystEvidence, EvidenceSet, SunClockEvidence
from geolocate.share import ViewParams


def test_query_round_trip():
    params = ViewParams(
        weights={"uniform land": 0.5, "analyst: urban": 1.25, "odd;name:x": 2.0},
        budget_km2=3200.0,
        refine=5,
        show="analyst guess",
        evidence=EvidenceSet.of(
            AnalystEvidence(point=(48.85, 2.35), radius_km=50.0, include=("FRA", "BEL"), exclude=("DEU",), hard=True, attributes=("urban", "forest")),
            SunClockEvidence(shadows=((1.8, 2.4),), times=("2024-06-21T12:00Z",), time_uncertainty_min=30.0),
        ),
    )
    q = share.encode_query(params)
    assert all(isinstance(v, str) for v in q.values())
    back, msgs = share.decode_query(q)
    assert msgs == []
    assert back == params


def test_query_defaults_are_omitted_and_garbage_is_reported():
    assert share.encode_query(ViewParams()) == {}
    back, msgs = share.decode_query({"w": "a:9;b:x;c:0.5", "budget": "-3", "res": "12", "guess": "999,0", "in": "FRA,XXX", "attr": "lava"})
    assert back.weights == {"a": presets.WEIGHT_MAX, "c": 0.5}  # 9 is clamped to the maximum, "x" dropped
    assert back.budget_km2 == share.BUDGET_MIN_KM2 and back.refine == share.DEFAULT_REFINE  # -3 km² clamped up
    assert back.evidence.get("analyst").point is None and back.evidence.get("analyst").include == ("FRA",) and back.evidence.get("analyst").attributes == ()
    assert len(msgs) == 1 and msgs[0].level == "warning"  # one summary, not one toast per item
    assert msgs[0].text.startswith("The link had 7 problem(s)")
    for word in ("'a' 9", "'b:x'", "budget -3", "res '12'", "guess", "'XXX'", "'lava'"):
        assert word in msgs[0].detail, word


def test_radius_from_a_link_is_clamped_with_a_message():
    back, msgs = share.decode_query({"guess": "48.85,2.35", "radius": "99999"})
    assert back.evidence.get("analyst").radius_km == evidence.RADIUS_MAX_KM == 5000.0
    assert "radius 99999 km is outside 1..5000 km; using 5000 km" in msgs[0].detail
    back, msgs = share.decode_query({"guess": "48.85,2.35", "radius": "nan"})
    assert back.evidence.get("analyst").radius_km == 100.0 and "'nan'" in msgs[0].detail


def test_many_bad_link_items_make_one_short_message():
    q = {"w": ";".join(f"x{i}:bad" for i in range(1500)), "in": ",".join(f"Q{i}" for i in range(1500))}
    back, msgs = share.decode_query(q)
    assert back.weights == {} and back.evidence.get("analyst").include == ()
    assert len(msgs) == 1 and len(msgs[0].detail) < 1000
    assert "only the first 200 of 1500" in msgs[0].detail


def test_link_text_is_carried_as_plain_detail_not_markdown():
    back, msgs = share.decode_query({"attr": "![x](http://host/pixel.png)"})
    assert "http://host" not in msgs[0].text  # the app's own words carry no user text ...
    assert "'![x](http://host/pi…'" in msgs[0].detail  # ... which is quoted (and clipped) for st.text


def test_log_budget_options():
    opts = share.log_budget_options()
    assert opts[0] == 1.0 and opts[-1] == 1e7 and 1e4 in opts and share.DEFAULT_BUDGET_KM2 in opts
    assert all(b > a for a, b in zip(opts, opts[1:]))


def test_include_exclude_are_aliases_and_unknown_keys_are_reported():
    back, msgs = share.decode_query({"guess": "48.85,2.35", "exclude": "DEU", "include": "FRA", "zoom": "3", "embed": "true"})
    a = back.evidence.get("analyst")
    assert a.exclude == ("DEU",) and a.include == ("FRA",)
    assert share.encode_query(back) == {"guess": "48.85,2.35", "radius": "100", "in": "FRA", "out": "DEU"}  # written with the short keys
    assert len(msgs) == 1 and "unknown link parameters ignored: 'zoom'" in msgs[0].detail and "embed" not in msgs[0].detail


def test_drawn_areas_travel_in_the_link_and_old_links_read_as_before():
    from geolocate.evidence.analyst import Area

    params = ViewParams(evidence=EvidenceSet.of(AnalystEvidence(include=("USA",), areas=(Area(True, 22.05, -159.5, 40.0), Area(False, 22.2, -159.4, 10.0)), hard=True)))
    q = share.encode_query(params)
    assert q["area"] == "in:22.05,-159.5,40;out:22.2,-159.4,10"
    back, msgs = share.decode_query(q)
    assert msgs == [] and back == params
    # A link from before areas existed decodes to the same evidence, with no areas and no message.
    old = {"guess": "48.85,2.35", "radius": "50", "in": "FRA", "hard": "1"}
    back, msgs = share.decode_query(old)
    assert msgs == [] and back.evidence.get("analyst") == AnalystEvidence(point=(48.85, 2.35), radius_km=50.0, include=("FRA",), hard=True)
    assert share.encode_query(back) == old
    back, msgs = share.decode_query({"area": "in:1,2,3;up:1,2,3"})
    assert back.evidence.get("analyst").areas == (Area(True, 1.0, 2.0, 3.0),) and "'up:1,2,3'" in msgs[0].detail
