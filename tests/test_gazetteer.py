"""The offline gazetteer: golden search and describe cases on the shipped GeoNames data."""

from __future__ import annotations

import numpy as np
import pytest

from geolocate import gazetteer
from geolocate.gazetteer import Place, describe, describe_many, fold, search


def test_fold_case_accents_apostrophes():
    assert fold("São Paulo") == "sao paulo"
    assert fold("Kapa‘a") == "kapaa"
    assert fold("  Saint-Étienne ") == "saint etienne"


def test_paris_is_paris_france_first():
    top = search("Paris")[0]
    assert (top.name, top.country_iso3, top.kind) == ("Paris", "FRA", "city")
    assert top.population > 2_000_000
    assert 20 < top.radius_km < 60
    assert abs(top.lat - 48.85) < 0.1 and abs(top.lon - 2.35) < 0.1


def test_search_is_case_accent_and_typo_tolerant():
    assert search("paris")[0] == search("PARIS")[0]
    assert search("sao paulo")[0].country_iso3 == "BRA"
    assert search("Pairs")[0].name == "Paris"  # transposed letters
    assert search("Londn")[0].name == "London" and search("Londn")[0].country_iso3 == "GBR"
    assert search("Kapaa")[0].name == "Kapa‘a"  # the ʻokina folded away


def test_prefix_and_later_word_prefix():
    assert any(p.name == "Lihue" for p in search("Lihu"))
    assert "New York City" in [p.name for p in search("new york")]
    assert search("york city")[0].name == "New York City"
    assert "Las Vegas" in [p.name for p in search("vegas", limit=5)]


def test_qualifier_narrows_by_state_code_state_and_country():
    tx = search("paris, tx")
    assert [p.admin1 for p in tx] == ["Texas"]
    us = search("Paris, United States", limit=5)
    assert us and all(p.country_iso3 == "USA" for p in us)
    assert us[0].admin1 == "Texas"  # the largest US Paris
    assert search("Paris", country_iso3="CAN")[0].admin1 == "Ontario"
    assert search("Lihue, Hawaii")[0].admin2 == "Kauai County"


def test_regions_and_countries_are_places():
    hawaii = search("Hawaii")[0]
    assert (hawaii.kind, hawaii.country_iso3) == ("admin1", "USA")
    assert 100 < hawaii.radius_km < 1000
    assert abs(hawaii.lat - 21) < 2 and abs(hawaii.lon + 157.5) < 3
    kauai = search("Kauai")[0]
    assert kauai.kind == "admin2" and kauai.label == "Kauai County, Hawaii, United States"
    france = search("France")[0]
    assert (france.kind, france.country_iso3, france.country_name) == ("country", "FRA", "France")


def test_no_duplicate_labels_and_limit():
    res = search("Paris", limit=8)
    assert len(res) == 8
    assert len({p.label for p in res}) == 8
    assert search("", limit=5) == [] and search("Paris", limit=0) == []
    assert search("zzzzqqqq") == []


def test_place_is_frozen():
    p = search("Lihue")[0]
    assert isinstance(p, Place)
    with pytest.raises(AttributeError):
        p.name = "x"  # type: ignore[misc]


def test_describe_golden_places():
    assert describe(21.9812, -159.3721) == "Lihue, Kauai, Hawaii, United States"
    assert describe(48.8534, 2.3488) == "Paris, Île-de-France, France"


def test_describe_far_point_gives_distance_and_direction():
    # ~165 km west of Kauai, in the sea
    text = describe(22.1, -161.2)
    assert text.endswith("Hawaii, United States")
    km, _, direction = text.split(" ", 3)[:3]
    assert 120 < float(km.replace(",", "")) < 220
    assert direction == "W"
    # the Gulf of Guinea, far from every place
    assert " km S" in describe(0.0, 0.0)


def test_describe_many_matches_describe_and_handles_empty():
    lat = np.array([21.9812, 48.8534, 22.1])
    lon = np.array([-159.3721, 2.3488, -161.2])
    assert describe_many(lat, lon) == [describe(a, b) for a, b in zip(lat, lon)]
    assert describe_many(np.zeros(0), np.zeros(0)) == []


def test_country_iso3_of():
    assert gazetteer.country_iso3_of("United States") == "USA"
    assert gazetteer.country_iso3_of("usa") == "USA"
    assert gazetteer.country_iso3_of("FR") == "FRA"
    assert gazetteer.country_iso3_of("Texas") is None


def test_concurrent_first_use_builds_once(monkeypatch):
    import threading

    built = []
    real = gazetteer._Table

    class Counting(real):  # type: ignore[misc, valid-type]
        def __init__(self):
            built.append(1)
            super().__init__()

    monkeypatch.setattr(gazetteer, "_TABLE", None)
    monkeypatch.setattr(gazetteer, "_Table", Counting)
    results = []
    threads = [threading.Thread(target=lambda: results.append(gazetteer.search("Lihue")[0].name)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["Lihue"] * 4 and built == [1]


def test_large_cities_are_found_by_their_other_names():
    assert search("München")[0].label == "Munich, Upper Bavaria, Bavaria, Germany"
    assert search("Wien")[0].name == "Vienna"
    assert search("Lisboa")[0].name == "Lisbon"
    assert search("Peking")[0].name == "Beijing"
    assert search("LHR") == [] or search("LHR")[0].name != "London"  # airport codes are not names
