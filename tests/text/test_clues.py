"""Clues from typed text: every clue type, duplicates, hostile input (geolocate/text/clues.py)."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("phonenumbers")
pytest.importorskip("tldextract")
pytest.importorskip("babel")

from geolocate.metrics import haversine_km  # noqa: E402
from geolocate.text import clues as C  # noqa: E402


def _one(clues, kind):
    mine = [c for c in clues if c.kind == kind]
    assert len(mine) == 1, [c.describe() for c in clues]
    return mine[0]


def test_international_number_gives_country_and_area_code_place():
    c = _one(C.phone_clues(["Tel. +351 21 346 2917"]), "phone")
    assert dict(c.likelihood) == {"PRT": 1.0} and c.floor == C.PHONE_FLOOR
    assert c.places and c.places[0].name == "Lisbon"
    assert haversine_km(c.places[0].lat, c.places[0].lon, 38.7223, -9.1393) < 50
    assert c.implication == "Portugal, Lisbon"
    m = _one(C.phone_clues(["Tél. 0033 4 91 54 12 30"]), "phone")
    assert dict(m.likelihood) == {"FRA": 1.0} and haversine_km(m.places[0].lat, m.places[0].lon, 43.2965, 5.3698) < 50


def test_same_number_read_twice_is_one_clue():
    clues = C.phone_clues(["+33 4 91 54 12 30", "Tel.+33491541230", "+33 (0)4 91 54 12 30"])
    c = _one(clues, "phone")
    assert c.lines == (0, 1, 2)


def test_national_number_weighted_by_validity():
    c = _one(C.phone_clues(["Call 020 7946 0958"]), "phone")
    lik = dict(c.likelihood)
    assert "GBR" in lik and len(lik) > 1 and c.floor == C.PHONE_FLOOR
    assert any(p.name == "London" for p in c.places)
    # a share of the mass near the places shrinks with the number of countries where it is valid
    assert 0 < c.place_weight < C.AREA_CODE_WEIGHT


def test_invalid_numbers_are_said_and_ignored():
    problems: list[str] = []
    assert C.phone_clues(["+1 000 000 0000"], problems) == []
    assert problems == ["+1 000 000 0000 is not a valid phone number anywhere; ignored"]
    assert C.phone_clues(["Prix 12,50 le 03.05.2024"]) == []  # a date and a price are not numbers


def test_web_addresses():
    cl = C.web_clues(["www.marseille-tourisme.fr", "info@hotel-berlin.de", "https://example.com/x", "startup.io", "www.visit.berlin"])
    by = {c.key: c for c in cl}
    assert dict(by["web:marseille-tourisme.fr"].likelihood) == {"FRA": 1.0} and by["web:marseille-tourisme.fr"].floor == C.WEB_FLOOR
    assert dict(by["web:hotel-berlin.de"].likelihood) == {"DEU": 1.0}
    assert not by["web:example.com"].informative and "generic" in by["web:example.com"].implication
    assert by["web:startup.io"].floor == C.REUSED_FLOOR
    assert by["web:visit.berlin"].places[0].name == "Berlin"
    assert C.web_clues(["Tel. 4.5 km", "St.Louis", "1.2.3.4"]) == []


def test_language_to_countries_by_speakers():
    c = _one(C.language_clues(["Boulangerie du port, ouvert tous les jours sauf le dimanche"]), "language")
    assert c.key == "language:fr"
    lik = dict(c.likelihood)
    assert lik["FRA"] > 0.9 and lik.get("USA", c.floor) < 0.2
    assert C.language_clues(["OK"]) == []  # too short to say


def test_scripts_to_countries():
    cy = _one(C.script_clues(["Аптека круглосуточно"]), "script")
    assert cy.key == "script:Cyrillic" and dict(cy.likelihood)["RUS"] == 1.0 and cy.floor == pytest.approx(C.DEFAULT_SCRIPT_FLOOR)
    assert "FRA" not in dict(cy.likelihood)
    ko = _one(C.script_clues(["서울 약국"]), "script")
    assert dict(ko.likelihood)["KOR"] == 1.0 and dict(ko.likelihood).get("JPN", 0) < 0.01
    ja = [c for c in C.script_clues(["東京のラーメン"]) if c.key == "script:Japanese"]
    assert ja and dict(ja[0].likelihood)["JPN"] == 1.0 and max(v for c, v in ja[0].likelihood if c != "JPN") < 0.01 and ja[0].lines == (0,)
    la = _one(C.script_clues(["Bakery"]), "script")
    assert la.floor == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("text", "inside", "outside"),
    [("Pastéis 1,20 €", {"PRT", "FRA", "DEU"}, {"GBR", "USA"}), ("120 Kč", {"CZE"}, {"POL", "SVK"}), ("25 zł", {"POL"}, {"CZE"}),
     ("₹ 250", {"IND"}, {"PAK"}), ("R$ 10,00", {"BRA"}, {"PRT"}), ("¥1200", {"JPN", "CHN"}, {"KOR"}), ("USD 20", {"USA", "ECU"}, {"CAN"})],
)
def test_currency_next_to_an_amount(text, inside, outside):
    c = _one(C.currency_clues([text]), "currency")
    where = set(dict(c.likelihood))
    assert inside <= where and not (outside & where) and c.floor == C.CURRENCY_FLOOR


def test_currency_needs_an_amount():
    assert C.currency_clues(["Euro Kč", "krone", "The EUR rate"]) == []


def test_place_names():
    c = _one(C.place_clues(["Pastelaria LISBOA"]), "place")
    assert c.places[0].name == "Lisbon" and c.places[0].country == "PRT"
    paris = _one(C.place_clues(["Rue de Paris"]), "place")
    assert paris.places[0].country == "FRA" and paris.places[0].weight > 0.9 and len(paris.places) > 1  # homonyms by population
    assert _one(C.place_clues(["SAO PAULO"]), "place").places[0].country == "BRA"  # accents folded
    assert C.place_clues(["Parisian style", "Have a nice day", "split the bill"]) == []  # word boundaries, common words
    tokyo = [c for c in C.place_clues(["東京都渋谷区"]) if c.places and c.places[0].name == "Tokyo"]
    assert tokyo  # names in scripts written without spaces
    assert dict(_one(C.place_clues(["Made in Italy"]), "place").likelihood) == {"ITA": 1.0}


def test_hostile_text():
    t = time.perf_counter()
    big = ("Lorem ipsum +1 000 000 0000 \u202e\u0000 www.ex.com 12 € " * 400)[:10_000]
    clues = C.extract_clues([big])
    assert time.perf_counter() - t < 10
    assert any(c.kind == "currency" for c in clues)
    assert C.clean_text("a\u202eb\u0000c\u200fd\u2066e") == "a b c d e"
    c = _one(C.extract_clues(["\u202e+351 21 346 2917\u0000"]), "phone")
    assert dict(c.likelihood) == {"PRT": 1.0}
    assert C.extract_clues(["", "   ", "\u0000\u0001"]) == []


def test_scripts_of_characters():
    assert C.dominant_script("Москва") == "Cyrillic"
    assert C.dominant_script("東京のラーメン") == "Japanese"
    assert C.dominant_script("北京") == "Han"
    assert C.dominant_script("123 !") == "Common"
    assert C.script_counts("abc ΔΕ") == {"Latin": 3, "Greek": 2}
