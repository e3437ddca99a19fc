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
from pages import _state as K
from pages._shared import show_message


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


def analyst_panel(ev: AnalystEvidence, ctx: PanelContext) -> AnalystEvidence:
    """'What you know': a guess with a radius, countries in or out, what the photo shows."""
    _init(K.GUESS, f"{ev.point[0]:.5g}, {ev.point[1]:.5g}" if ev.point else "", ctx)
    _init(K.RADIUS, float(ev.radius_km), ctx)
    _init(K.INCLUDE, [c for c in ev.include if c in ctx.countries], ctx)
    _init(K.EXCLUDE, [c for c in ev.exclude if c in ctx.countries], ctx)
    _init(K.HARD, ev.hard, ctx)
    _init(K.ATTRIBUTES, [a for a in ev.attributes if a in ctx.terms], ctx)
    st.header("What you know")
    st.caption("Works with no image model at all: each statement becomes an expert with its own weight.")
    guess_text = st.text_input("Your guess (lat, lon)", key=K.GUESS, placeholder="e.g. 48.85, 2.35")
    point = None
    if guess_text.strip():
        try:
            point = parse_latlon(guess_text)
        except ValueError as err:
            show_message(Message("warning", "Your guess is ignored:", str(err)))
    st.number_input("…give or take (km)", min_value=RADIUS_MIN_KM, max_value=RADIUS_MAX_KM, step=10.0, key=K.RADIUS)
    names = ctx.countries

    def fmt(c: str) -> str:
        return f"{names.get(c, c)} ({c})"

    st.multiselect("It is in one of these countries", list(names), key=K.INCLUDE, format_func=fmt)
    st.multiselect("It is not in these countries", list(names), key=K.EXCLUDE, format_func=fmt)
    st.checkbox("Countries are certain (rule the rest out)", key=K.HARD)
    st.multiselect("The photo shows", ctx.terms, key=K.ATTRIBUTES, help="Plain-language land cover / scene; each becomes an expert.")
    return AnalystEvidence(
        point=point,
        radius_km=float(st.session_state[K.RADIUS]),
        include=tuple(st.session_state[K.INCLUDE]),
        exclude=tuple(st.session_state[K.EXCLUDE]),
        hard=bool(st.session_state[K.HARD]),
        attributes=tuple(a for a in st.session_state[K.ATTRIBUTES] if a in ctx.terms and a in ATTRIBUTE_TERMS),
    )


def sunclock_panel(ev: SunClockEvidence, ctx: PanelContext) -> SunClockEvidence:
    """'Sun, shadow and clock': shadows or the sun's angles with times, a clock's UTC offset, EXIF time."""
    _init(K.SUN_SHADOW, ", ".join(f"{h:g}:{length:g}" for h, length in ev.shadows), ctx)
    _init(K.SUN_ALT, "" if ev.sun_altitude_deg is None else f"{ev.sun_altitude_deg:g}", ctx)
    _init(K.SUN_AZ, "" if ev.sun_azimuth_deg is None else f"{ev.sun_azimuth_deg:g}", ctx)
    _init(K.SUN_TIME, ", ".join(ev.times), ctx)
    _init(K.SUN_TIME_UNC, float(ev.time_uncertainty_min), ctx)
    _init(K.SUN_RATIO_UNC, float(ev.shadow_uncertainty_pct), ctx)
    _init(K.CLOCK_OFFSET, ev.utc_offset or "", ctx)
    _init(K.CLOCK_LOCAL, ev.local_time or "", ctx)
    _init(K.SUN_EXIF, ev.use_exif_time, ctx)
    opened = bool(st.session_state.get(K.SUN_SHADOW) or st.session_state.get(K.SUN_ALT) or st.session_state.get(K.CLOCK_OFFSET))
    with st.expander(SunClockEvidence.label, expanded=opened):
        st.text_input("Shadows: object height : shadow length", key=K.SUN_SHADOW, placeholder="e.g. 1.8:2.4 (several: 1.8:2.4, 3:1)", help="Any unit, the same for both; the object stands vertically on level ground.")
        st.text_input("…or the sun's altitude (degrees)", key=K.SUN_ALT, placeholder="e.g. 35")
        st.text_input("Sun's azimuth (degrees from north; shadow direction + 180)", key=K.SUN_AZ, placeholder="optional")
        st.text_input("When (one time, or one per shadow)", key=K.SUN_TIME, placeholder="2024-06-21T14:30Z (UTC) or 2024-06-21T14:30 (local clock)", help="Z or +HH:MM: a UTC instant. No offset: the local clock time at the place (each place's time zone converts it). Empty: the photo's EXIF time.")
        st.number_input("Time uncertainty (minutes)", min_value=0.0, max_value=1440.0, step=5.0, key=K.SUN_TIME_UNC)
        st.number_input("Shadow ratio uncertainty (%)", min_value=0.1, max_value=99.0, step=1.0, key=K.SUN_RATIO_UNC)
        st.text_input("Clock's UTC offset", key=K.CLOCK_OFFSET, placeholder="e.g. +05:30")
        st.text_input("…at local time", key=K.CLOCK_LOCAL, placeholder="e.g. 2024-07-01T14:30")
        st.checkbox("Use the photo's EXIF time and offset", key=K.SUN_EXIF)
        typed = {
            "shadow": st.session_state[K.SUN_SHADOW], "sun_alt": st.session_state[K.SUN_ALT], "sun_az": st.session_state[K.SUN_AZ],
            "time": st.session_state[K.SUN_TIME], "time_unc": str(st.session_state[K.SUN_TIME_UNC]),
            "shadow_unc": str(st.session_state[K.SUN_RATIO_UNC]), "utc_offset": st.session_state[K.CLOCK_OFFSET],
            "local_time": st.session_state[K.CLOCK_LOCAL], "exif_time": "1" if st.session_state[K.SUN_EXIF] else "0",
        }
        new, problems = SunClockEvidence.from_query({k: v for k, v in typed.items() if str(v).strip()})
        for p in problems:
            show_message(Message("warning", "Sun/clock input ignored:", p))
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
