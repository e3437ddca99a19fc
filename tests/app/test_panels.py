"""AppTest runs of the analyst panel: place search, map clicks, drawn areas, country pickers."""

from __future__ import annotations

import csv
import io
import sys
import types

import numpy as np
import pytest
from apphelpers import PAGES, shown_text
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1 import element_tree as et

from geolocate.cli import main
from geolocate.experts.point import haversine_km
from geolocate.gazetteer import Place
from geolocate.maps import fmt
from pages import _panels as P

PAGE = str(PAGES / "locate.py")


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def leaves(node) -> list:
    """The elements under a block in page order (blocks unpacked, empty containers vanish)."""
    out = []
    for i in sorted(getattr(node, "children", {}) or {}):
        child = node.children[i]
        out += leaves(child) if isinstance(child, et.Block) else [child]
    return out


def after(at: AppTest, key: str) -> list:
    """The sidebar elements right after the widget ``key``, up to the next widget."""
    els = leaves(at.sidebar)
    i = next(j for j, e in enumerate(els) if getattr(e, "key", None) == key)
    out = []
    for e in els[i + 1 :]:
        if isinstance(e, et.Widget):
            break
        out.append(e)
    return out


def _notes(at: AppTest) -> list[str]:
    """The sidebar's captions as a person reads them (the panel escapes what it quotes)."""
    return [shown_text(c.value) for c in at.sidebar.caption]


def alerts(at: AppTest) -> list[str]:
    """Every error and warning on the page (sidebar and main column), as a person reads them."""
    return [shown_text(e.value) for e in (*at.error, *at.warning)]


_Place = Place  # the gazetteer's own record: the panel's stand-in search returns real Places


@pytest.fixture
def gazetteer(monkeypatch):
    """A stand-in gazetteer module (the panel imports ``geolocate.gazetteer`` when it runs)."""
    places = [
        _Place("Kauai", "Hawaii", "USA", "United States", 22.05, -159.5, 73000, "island", 40.0),
        _Place("Kaua'i County", "Hawaii", "USA", "United States", 22.0, -159.6, 73000, "admin2", 60.0),
    ]
    def search(query, limit=10, country_iso3=None):
        return [p for p in places if query.lower()[:3] in p.name.lower()][:limit]

    try:  # the real module's other functions (names of candidate areas) stay as they are
        import geolocate.gazetteer as real

        monkeypatch.setattr(real, "search", search)
    except ImportError:
        mod = types.ModuleType("geolocate.gazetteer")
        mod.search = search  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "geolocate.gazetteer", mod)
    return places


def test_place_search_sets_the_guess_and_its_radius(gazetteer):
    at = _run(AppTest.from_file(PAGE, default_timeout=180))
    at.sidebar.text_input(key=P.PLACE_QUERY).input("kauai")
    _run(at)
    pick = at.sidebar.selectbox(key=P.PLACE_PICK)
    assert pick.options[:2] == ["Kauai, Hawaii, United States (island, ± 40 km)", "Kaua'i County, Hawaii, United States (district, ± 60 km)"]
    pick.set_value(1)
    _run(at)
    at.sidebar.button(key="place_use").click()
    _run(at)
    assert at.sidebar.text_input(key="guess").value == "22.00000, -159.60000"
    assert at.sidebar.number_input(key="radius").value == 60.0
    assert "Guess set to Kaua'i County, Hawaii, United States (district, ± 60 km)." in _notes(at)
    lat, lon = (float(v) for v in {m.label: m.value for m in at.metric}["Most likely region"].split(","))
    assert haversine_km(lat, lon, 22.0, -159.6) < 60
    # Nothing found is said at the field, not as an alert.
    at.sidebar.text_input(key=P.PLACE_QUERY).input("zzzz")
    _run(at)
    assert "No place matches 'zzzz'." in [shown_text(t.value) for t in after(at, P.PLACE_QUERY)] and not alerts(at)


def test_a_pending_map_click_becomes_the_guess_then_an_include_area_once():
    at = _run(AppTest.from_file(PAGE, default_timeout=180))
    at.session_state[P.MAP_CLICK] = {"lat": 64.1, "lon": -21.9, "n": 1}
    _run(at)
    assert at.sidebar.text_input(key="guess").value == "64.1000, -21.9000"
    assert "Map click at 64.1000, -21.9000: set as your guess." in _notes(at)
    # The next click adds an area to include (radius from its field); a rerun does not add it again.
    at.sidebar.radio(key=P.CLICK_MODE).set_value(P.CLICK_MODES[1])
    at.sidebar.number_input(key=P.AREA_RADIUS).set_value(300.0)
    _run(at)
    at.session_state[P.MAP_CLICK] = {"lat": 48.85, "lon": 2.35, "n": 2}
    _run(at)
    _run(at)
    assert at.sidebar.text_area(key=P.AREAS).value == "in 48.85, 2.35, 300"
    assert at.sidebar.text_input(key="guess").value == "64.1000, -21.9000"  # the guess stayed
    assert "analyst areas" in [s.label for s in at.main.slider]
    assert at.query_params["area"] == "in:48.85,2.35,300"


def test_bad_area_lines_are_one_message_each_under_the_field():
    at = _run(AppTest.from_file(PAGE, default_timeout=180))
    at.sidebar.text_area(key=P.AREAS).input("in 48.85, 2.35, 50\nsomewhere\nout 1, 2, 0")
    _run(at)
    under = [shown_text(e.value) for e in after(at, P.AREAS) if isinstance(e, et.AlertBase)]
    assert len(under) == 2 and "'somewhere': start with 'in' or 'out'" in under[0] and "radius must be 0.1 to 5000 km" in under[1]
    assert alerts(at) == under  # nowhere else
    assert "analyst areas" in [s.label for s in at.main.slider]  # the good line still counts


def test_country_pickers_take_one_match_on_enter_and_add_all_only_when_asked():
    at = _run(AppTest.from_file(PAGE, default_timeout=180))
    for key in ("include", "exclude"):
        # No "Select all matches" row: Enter takes the first (best-ranked) match, never every match.
        assert at.sidebar.multiselect(key=key).proto.select_all == 0
    at.sidebar.text_input(key=P.BULK).input("United States")
    at.sidebar.button(key="bulk_in").click()
    _run(at)
    assert sorted(at.sidebar.multiselect(key="include").value) == ["UMI", "USA", "VIR"]
    (note,) = [t for t in _notes(at) if t.startswith("Added")]
    head, _, names = note.partition(": ")
    assert head == "Added 3 of 3 countries (names containing 'United States') to 'in one of these countries'"
    assert sorted(names.split(", ")) == ["United States Minor Outlying Islands", "United States Virgin Islands", "United States of America"]
    at.sidebar.text_input(key=P.BULK).input("EU")
    at.sidebar.button(key="bulk_out").click()
    _run(at)
    assert len(at.sidebar.multiselect(key="exclude").value) == 27


LINK = "?area=in:64.9,-18.6,250;out:64.1,-21.9,60&hard=1&budget=20000"


def test_area_link_gives_the_same_top_regions_on_the_page_and_in_predict(tmp_path, capsys):
    from urllib.parse import parse_qsl

    at = AppTest.from_file(PAGE, default_timeout=180)
    for k, v in parse_qsl(LINK.lstrip("?")):
        at.query_params[k] = v
    _run(at)
    assert at.sidebar.text_area(key=P.AREAS).value == "in 64.9, -18.6, 250\nout 64.1, -21.9, 60"
    assert at.sidebar.checkbox(key="hard").value
    table = next(df for df in at.dataframe if "lat, lon" in df.value.columns).value
    page_ll = np.array([[float(v) for v in t.split(",")] for t in table["lat, lon"]])
    # Every top region is inside the included circle and outside the excluded one.
    d_in = haversine_km(page_ll[:, 0], page_ll[:, 1], 64.9, -18.6)
    d_out = haversine_km(page_ll[:, 0], page_ll[:, 1], 64.1, -21.9)
    assert (d_in < 250 + 20).all() and (d_out > 60 - 20).all()
    out = tmp_path / "o.csv"
    assert main(["predict", "--link", LINK, "--csv", str(out), "--quiet"]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    np.testing.assert_allclose(page_ll, [[float(r["lat"]), float(r["lon"])] for r in rows[: len(page_ll)]], atol=2e-5)
    assert [fmt.format_prob(float(r["prob"])) for r in rows[: len(page_ll)]] == list(table["probability"])
