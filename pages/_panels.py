"""The Locate page's evidence panels: one function per evidence kind, rendered from one loop.

Each panel takes the kind's current evidence (restored from a link on a session's first run) and the
:class:`PanelContext`, draws its widgets in the current container (the sidebar), and returns the evidence
the widgets now state. Input errors are shown right under the field that caused them, once.
A new kind of evidence adds one entry to :data:`PANELS` (its module in ``geolocate/evidence/``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import streamlit as st

from geolocate.evidence import ATTRIBUTE_TERMS, RADIUS_MAX_KM, RADIUS_MIN_KM, AnalystEvidence, Message, SunClockEvidence, parse_latlon
from geolocate.evidence.analyst import AREA_MAX_KM, AREA_MIN_KM, Area, match_countries, parse_areas
from geolocate.evidence.sunclock import check_fields, exif_clock
from pages import _state as K
from pages._shared import escape_markdown, show_message

# ---- session keys of the panels (widgets double as AppTest handles) ----------------------------------
PLACE_QUERY = "place_query"
PLACE_PICK = "place_pick"
PLACE_NOTE = "_place_note"
"""What the last "Set as my guess" did (plain text)."""
CLICK_MODE = "click_mode"
"""What a click on the Locate map sets: one of :data:`CLICK_MODES`."""
CLICK_MODES = ("the guess", "an area to include", "an area to exclude")
CLICK_SEEN = "_click_seen"
"""The ``n`` of the last map click the analyst panel consumed (each click is used once)."""
CLICK_NOTE = "_click_note"
"""What the last consumed map click did (plain text)."""
MAP_CLICK = getattr(K, "MAP_CLICK", "locate_map_click")
"""The page stores the map's latest click here: {"lat", "lon", "n"} (interfaces: G1 owns the constant)."""
AREAS = "areas"
AREA_RADIUS = "area_radius"
BULK = "country_bulk"
BULK_NOTE = "_country_bulk_note"


@dataclass
class PanelContext:
    """What a panel may read besides its own evidence.

    Attributes:
        countries: ISO-3 code -> country name (the country pickers' options).
        terms: the "photo shows" terms whose layers are loaded.
        photos: the decoded photos (shrunk, in memory).
        privacy: privacy mode is on.
        restored: True on the session's first run (widgets take the link's values).
    """

    countries: dict[str, str]
    terms: list[str]
    photos: list[Any] = field(default_factory=list)
    privacy: bool = True
    restored: bool = False


def _init(key: str, value: Any, ctx: PanelContext) -> None:
    """Set a widget's value from the link on the first run (afterwards the widget owns it)."""
    if ctx.restored or key not in st.session_state:
        st.session_state[key] = value


def _field_errors(problems: list[str]) -> None:
    """Input problems of the widget just drawn, right under it: one message each, plain text."""
    for p in problems:
        show_message(Message("error", "", p))


def _note(text: str) -> None:
    """What an action did, small under its widget; the text may quote user or gazetteer text (escaped)."""
    st.caption(escape_markdown(text))


def _gazetteer() -> Any:
    """The offline gazetteer module, or None when this install has none."""
    import importlib

    try:
        return importlib.import_module("geolocate.gazetteer")
    except ImportError:
        return None


PLACE_KINDS = {"admin1": "region", "admin2": "district", "city": "town", "country": "country"}
"""Gazetteer kinds in words."""


def place_label(place: Any) -> str:
    """One line for a gazetteer place: name, admin region, country, kind and radius."""
    parts = [str(x) for x in (place.name, getattr(place, "admin1", ""), getattr(place, "country_name", "")) if x]
    kind = str(getattr(place, "kind", "place"))
    return f"{', '.join(dict.fromkeys(parts))} ({PLACE_KINDS.get(kind, kind)}, ± {float(place.radius_km):,.0f} km)"


def _use_place(place: Any) -> None:
    # A callback: it runs before the script, so it may set the guess widgets' values.
    radius = min(max(float(place.radius_km), RADIUS_MIN_KM), RADIUS_MAX_KM)
    st.session_state[K.GUESS] = f"{place.lat:.5f}, {place.lon:.5f}"
    st.session_state[K.RADIUS] = radius
    st.session_state[PLACE_NOTE] = f"Guess set to {place_label(place)}."


def _add_countries(target: str, countries: dict[str, str]) -> None:
    codes, what = match_countries(str(st.session_state.get(BULK, "")), countries)
    have = list(st.session_state.get(target, []))
    new = [c for c in codes if c not in have]
    st.session_state[target] = have + new
    where = "'in one of these countries'" if target == K.INCLUDE else "'not in these countries'"
    if not codes:
        st.session_state[BULK_NOTE] = f"No country matches {str(st.session_state.get(BULK, ''))[:40]!r}: nothing added."
    else:
        st.session_state[BULK_NOTE] = f"Added {len(new)} of {len(codes)} countries ({what}) to {where}: " + ", ".join(countries[c] for c in new)


def _consume_map_click() -> None:
    """Use the map's latest click once: it sets the guess, or adds an area to include or exclude."""
    click = st.session_state.get(MAP_CLICK)
    if not isinstance(click, dict) or click.get("n") is None or click.get("n") == st.session_state.get(CLICK_SEEN):
        return
    st.session_state[CLICK_SEEN] = click["n"]
    try:
        lat, lon = float(click["lat"]), float(click["lon"])
    except (KeyError, TypeError, ValueError):
        return
    lon = (lon + 180.0) % 360.0 - 180.0  # a panned web map may give 190 for -170
    if not -90 <= lat <= 90:
        return
    mode = st.session_state.get(CLICK_MODE, CLICK_MODES[0])
    if mode == CLICK_MODES[0]:
        st.session_state[K.GUESS] = f"{lat:.4f}, {lon:.4f}"
        st.session_state[CLICK_NOTE] = f"Map click at {lat:.4f}, {lon:.4f}: set as your guess."
    else:
        radius = float(st.session_state.get(AREA_RADIUS, 50.0))
        area = Area(mode == CLICK_MODES[1], lat, lon, radius)
        lines = str(st.session_state.get(AREAS, "")).rstrip("\n")
        st.session_state[AREAS] = (lines + "\n" if lines else "") + area.text()
        st.session_state[CLICK_NOTE] = f"Map click at {lat:.4f}, {lon:.4f}: added an area to {'include' if area.include else 'exclude'} ({radius:g} km)."


def _place_search() -> None:
    gaz = _gazetteer()
    if gaz is None:
        return
    query = st.text_input("Find a place", key=PLACE_QUERY, placeholder="e.g. Kauai, Hanalei, Lyon", help="Offline gazetteer (towns, regions, islands): the place becomes your guess, with a radius that fits its size.")
    if query.strip():
        try:
            places = list(gaz.search(query, limit=8))
        except ValueError as err:
            _field_errors([str(err)])
            places = []
        if not places:
            _note(f"No place matches {query.strip()[:40]!r}.")
        else:
            i = st.selectbox("Matches", list(range(len(places))), format_func=lambda j: place_label(places[j]), key=PLACE_PICK)
            i = i if i is not None and i < len(places) else 0
            st.button("Set as my guess", key="place_use", on_click=_use_place, args=(places[i],))
    if note := st.session_state.get(PLACE_NOTE):
        _note(note)


def analyst_panel(ev: AnalystEvidence, ctx: PanelContext) -> AnalystEvidence:
    """'What you know': a place or a guess with a radius, areas in or out, countries in or out, what the photo shows."""
    _init(K.GUESS, f"{ev.point[0]:.5g}, {ev.point[1]:.5g}" if ev.point else "", ctx)
    _init(K.RADIUS, float(ev.radius_km), ctx)
    _init(K.INCLUDE, [c for c in ev.include if c in ctx.countries], ctx)
    _init(K.EXCLUDE, [c for c in ev.exclude if c in ctx.countries], ctx)
    _init(K.HARD, ev.hard, ctx)
    _init(K.ATTRIBUTES, [a for a in ev.attributes if a in ctx.terms], ctx)
    _init(AREAS, "\n".join(a.text() for a in ev.areas), ctx)
    _consume_map_click()
    st.header("What you know")
    st.caption("Works with no image model at all: each statement becomes an expert with its own weight.")
    _place_search()
    guess_text = st.text_input("Your guess (lat, lon)", key=K.GUESS, placeholder="e.g. 48.85, 2.35")
    point = None
    if guess_text.strip():
        try:
            point = parse_latlon(guess_text)
        except ValueError as err:
            _field_errors([f"Your guess is ignored: {err}"])
    st.number_input("…give or take (km)", min_value=RADIUS_MIN_KM, max_value=RADIUS_MAX_KM, step=10.0, key=K.RADIUS)
    st.radio("A map click sets:", CLICK_MODES, key=CLICK_MODE, horizontal=False, help="Click the main map: the guess moves there, or a circle of the radius below is added to the areas.")
    if note := st.session_state.get(CLICK_NOTE):
        _note(note)
    st.number_input("Radius of a clicked area (km)", min_value=AREA_MIN_KM, max_value=AREA_MAX_KM, value=50.0, step=10.0, key=AREA_RADIUS)
    areas_text = st.text_area(
        "Areas it is in or not in (one per line)", key=AREAS, placeholder="in 48.85, 2.35, 50\nout 48.8, 2.6, 10",
        help="'in' or 'out', then lat, lon and a radius in km. Several 'in' areas: it is in one of them. Map clicks add lines here.",
    )
    areas, area_problems = parse_areas(areas_text)
    _field_errors(area_problems)
    names = ctx.countries

    def fmt(c: str) -> str:
        return f"{names.get(c, c)} ({c})"

    # select_all=False: Enter takes the best match only ("United States" -> the USA), never every match.
    st.multiselect("It is in one of these countries", list(names), key=K.INCLUDE, format_func=fmt, select_all=False)
    st.multiselect("It is not in these countries", list(names), key=K.EXCLUDE, format_func=fmt, select_all=False)
    with st.expander("Add all matching countries at once"):
        st.text_input("Countries whose name contains, a continent, or EU", key=BULK, placeholder="e.g. United States, Africa, EU")
        st.button("Add them to 'in'", key="bulk_in", on_click=_add_countries, args=(K.INCLUDE, names), help="Adds every matching country to 'It is in one of these countries'.")
        st.button("Add them to 'not in'", key="bulk_out", on_click=_add_countries, args=(K.EXCLUDE, names), help="Adds every matching country to 'It is not in these countries'.")
        if note := st.session_state.pop(BULK_NOTE, None):
            _note(note)
    st.checkbox("Countries and areas are certain (rule the rest out)", key=K.HARD)
    st.multiselect("The photo shows", ctx.terms, key=K.ATTRIBUTES, help="Plain-language land cover / scene; each becomes an expert.")
    return AnalystEvidence(
        point=point,
        radius_km=float(st.session_state[K.RADIUS]),
        include=tuple(st.session_state[K.INCLUDE]),
        exclude=tuple(st.session_state[K.EXCLUDE]),
        hard=bool(st.session_state[K.HARD]),
        attributes=tuple(a for a in st.session_state[K.ATTRIBUTES] if a in ctx.terms and a in ATTRIBUTE_TERMS),
        areas=areas,
    )


def sunclock_panel(ev: SunClockEvidence, ctx: PanelContext) -> SunClockEvidence:
    """'Sun, shadow and clock': shadows or the sun's angles with times, a clock's UTC offset, EXIF time.

    Each problem shows under the field that caused it, once (:func:`~geolocate.evidence.sunclock.check_fields`);
    the EXIF switch shows only when the single photo has an EXIF time.
    """
    _init(K.SUN_SHADOW, ", ".join(f"{h:g}:{length:g}" for h, length in ev.shadows), ctx)
    _init(K.SUN_ALT, "" if ev.sun_altitude_deg is None else f"{ev.sun_altitude_deg:g}", ctx)
    _init(K.SUN_AZ, "" if ev.sun_azimuth_deg is None else f"{ev.sun_azimuth_deg:g}", ctx)
    _init(K.SUN_TIME, ", ".join(ev.times), ctx)
    _init(K.SUN_TIME_UNC, float(ev.time_uncertainty_min), ctx)
    _init(K.SUN_RATIO_UNC, float(ev.shadow_uncertainty_pct), ctx)
    _init(K.CLOCK_OFFSET, ev.utc_offset or "", ctx)
    _init(K.CLOCK_LOCAL, ev.local_time or "", ctx)
    _init(K.SUN_EXIF, ev.use_exif_time, ctx)
    exif = exif_clock(ctx.photos[0]) if len(ctx.photos) == 1 else None
    opened = any(str(st.session_state.get(k) or "").strip() for k in (K.SUN_SHADOW, K.SUN_ALT, K.SUN_AZ, K.SUN_TIME, K.CLOCK_OFFSET, K.CLOCK_LOCAL))
    slots: dict[str, Any] = {}
    with st.expander(SunClockEvidence.label, expanded=opened):
        st.text_input("Shadows: object height : shadow length", key=K.SUN_SHADOW, placeholder="e.g. 1.8:2.4 (several: 1.8:2.4, 3:1)", help="Any unit, the same for both; the object stands vertically on level ground.")
        slots["shadow"] = st.container()
        st.text_input("…or the sun's altitude (degrees)", key=K.SUN_ALT, placeholder="e.g. 35")
        slots["sun_alt"] = st.container()
        st.text_input("Sun's azimuth (degrees from north; shadow direction + 180)", key=K.SUN_AZ, placeholder="optional")
        slots["sun_az"] = st.container()
        st.text_input("When (one time, or one per shadow)", key=K.SUN_TIME, placeholder="2024-06-21T14:30Z (UTC) or 2024-06-21T14:30 (local clock)", help="Z or +HH:MM: a UTC instant. No offset: the local clock time at the place (each place's time zone converts it). Empty: the photo's EXIF time.")
        slots["time"] = st.container()
        st.number_input("Time uncertainty (minutes)", min_value=0.0, max_value=1440.0, step=5.0, key=K.SUN_TIME_UNC)
        slots["time_unc"] = st.container()
        st.number_input("Shadow ratio uncertainty (%)", min_value=0.1, max_value=99.0, step=1.0, key=K.SUN_RATIO_UNC)
        slots["shadow_unc"] = st.container()
        st.text_input("Clock's UTC offset", key=K.CLOCK_OFFSET, placeholder="e.g. +05:30")
        slots["utc_offset"] = st.container()
        st.text_input("…at local time", key=K.CLOCK_LOCAL, placeholder="e.g. 2024-07-01T14:30")
        slots["local_time"] = st.container()
        if exif is not None and exif.local is not None:
            st.checkbox("Use the photo's EXIF time and offset", key=K.SUN_EXIF, help=f"EXIF time taken: {exif.local:%Y-%m-%d %H:%M:%S}" + ("" if exif.offset_min is None else f", offset {exif.offset_min:+d} min"))
        use_exif = bool(st.session_state.get(K.SUN_EXIF, ev.use_exif_time))
        typed = {
            "shadow": st.session_state[K.SUN_SHADOW], "sun_alt": st.session_state[K.SUN_ALT], "sun_az": st.session_state[K.SUN_AZ],
            "time": st.session_state[K.SUN_TIME], "time_unc": str(st.session_state[K.SUN_TIME_UNC]),
            "shadow_unc": str(st.session_state[K.SUN_RATIO_UNC]), "utc_offset": st.session_state[K.CLOCK_OFFSET],
            "local_time": st.session_state[K.CLOCK_LOCAL], "exif_time": "1" if use_exif else "0",
        }
        new, problems = check_fields({k: v for k, v in typed.items() if str(v).strip()}, exif)
        for key, texts in problems.items():
            with slots.get(key) or st.container():
                _field_errors(texts)
    # The uncertainties the page has no field for stay as the link gave them.
    return replace(new, altitude_uncertainty_deg=ev.altitude_uncertainty_deg, azimuth_uncertainty_deg=ev.azimuth_uncertainty_deg)


Panel = Callable[[Any, PanelContext], Any]

PANELS: dict[str, Panel] = {"analyst": analyst_panel, "sunclock": sunclock_panel}
"""Evidence kind -> its panel; kinds without a panel keep the evidence the link gave."""

PHOTO_VIEWS: dict[str, Callable[[Any, list[Any]], None]] = {}
"""Evidence kind -> a view drawn under the photo in the main column (e.g. the text read, boxes drawn)."""


def _optional_panels() -> None:
    """Panels of the evidence kinds whose modules are installed (text, model, map features)."""
    import importlib

    def load(name: str) -> Any:
        try:
            return importlib.import_module(f"pages.{name}")
        except ImportError:
            return None

    if (text := load("_panel_text")) is not None:
        PANELS["text"] = lambda ev, ctx: text.panel(ev, ctx.photos)
        if hasattr(text, "photo_view"):
            PHOTO_VIEWS["text"] = text.photo_view
    if (model := load("_panel_model")) is not None:
        PANELS["model"] = model.model_panel
    if (osm := load("_panel_osm")) is not None:
        PANELS["osm"] = osm.osm_panel


_optional_panels()
