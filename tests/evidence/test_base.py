"""The evidence protocol: the registry, URL keys owned by one kind each, and EvidenceSet round trips."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest

from geolocate.evidence import AnalystEvidence, Evidence, EvidenceContext, EvidenceSet, SunClockEvidence, base, kinds


def test_every_registered_kind_implements_the_protocol_and_owns_distinct_keys():
    names = [k.kind for k in kinds()]
    assert names[:2] == ["analyst", "sunclock"]  # registration order = panel and report order
    seen: dict[str, str] = {}
    for k in kinds():
        empty = k()
        assert isinstance(empty, Evidence) and empty.is_empty and empty.to_query() == {} and empty.summary() == []
        assert empty.experts(EvidenceContext()) == ([], [])
        for key in k.query_keys:
            assert key not in seen, f"{key} belongs to {seen.get(key)} and {k.kind}"
            seen[key] = k.kind
        assert not {"w", "budget", "res", "show"} & set(k.query_keys)  # the view's own keys


def test_a_kind_claiming_another_kinds_key_is_refused():
    @dataclass(frozen=True)
    class Thief:
        kind: ClassVar[str] = "thief"
        query_keys: ClassVar[tuple[str, ...]] = ("guess",)

    with pytest.raises(ValueError, match=r"URL keys \['guess'\] already belong to \['analyst'\]"):
        base.register(Thief)
    assert "thief" not in [k.kind for k in kinds()]


def test_evidence_set_round_trips_every_kind_and_ignores_foreign_keys():
    ev = EvidenceSet.of(AnalystEvidence(point=(48.85, 2.35), radius_km=200.0, exclude=("DEU",)), SunClockEvidence(utc_offset="+02:00", local_time="2024-07-01T14:30"))
    q = ev.to_query()
    assert q == {"guess": "48.85,2.35", "radius": "200", "out": "DEU", "utc_offset": "+02:00", "local_time": "2024-07-01T14:30"}
    back, problems = EvidenceSet.from_query({**q, "w": "population:2", "budget": "5"})
    assert problems == [] and back == ev
    assert back.get("analyst").exclude == ("DEU",) and not back.is_empty
    assert back.summary() == [("guess", "48.85, 2.35 ± 200 km"), ("not in", "DEU"), ("clock", "UTC+02:00 at 2024-07-01T14:30")]


def test_evidence_set_builds_every_kinds_experts_in_order():
    ev = EvidenceSet.of(AnalystEvidence(point=(10.0, 20.0)), SunClockEvidence(utc_offset="+05:30", local_time="2024-07-01T14:30"))
    experts, messages = ev.experts(EvidenceContext())
    assert [e.name for e in experts] == ["analyst guess", "clock"]
    assert [m.level for m in messages] == ["info"] and "UTC+05:30" in messages[0].text


def test_replace_swaps_one_kind_only():
    ev = EvidenceSet.of(AnalystEvidence(include=("FRA",)), SunClockEvidence(sun_altitude_deg=30.0))
    new = ev.replace(AnalystEvidence(include=("ITA",)))
    assert new.get("analyst").include == ("ITA",) and new.get("sunclock") == ev.get("sunclock")


def test_details_list_what_the_kinds_found_for_the_report():
    from geolocate.evidence.text import TextEvidence

    text, _ = TextEvidence.from_typed("Tel. +33 4 91 54 12 30")
    ev = EvidenceSet.of(AnalystEvidence(point=(1.0, 2.0)), text)
    pairs = ev.details(EvidenceContext())
    assert any(k == "text: +33 4 91 54 12 30" and "France" in v and "(phone)" in v for k, v in pairs), pairs
    assert EvidenceSet.of(AnalystEvidence(point=(1.0, 2.0))).details(EvidenceContext()) == []  # a kind without findings has none
