"""Curated OpenStreetMap presets: what an analyst can see in a photo, as tag conditions.

A preset is a name ("church", "tram stop") and one or more alternatives; an alternative is a set of
``(key, values)`` conditions that must all hold. ``values`` is a tuple of accepted values, or ``None``
for "present and not ``no``" (``bridge=yes``, ``bridge=viaduct``, ... but not ``bridge=no``).

Queries name a preset (case-insensitive; spaces, ``_`` and ``-`` are the same) or a raw ``key=value``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

Condition = tuple[str, tuple[str, ...] | None]


@dataclass(frozen=True)
class Preset:
    """One curated feature type.

    Attributes:
        name: the query name (lower case, words separated by spaces).
        alternatives: any one of these condition sets makes a feature match.
        group: heading in the app's picker.
    """

    name: str
    alternatives: tuple[tuple[Condition, ...], ...]
    group: str

    @property
    def keys(self) -> set[str]:
        """Every tag key the preset reads."""
        return {k for alt in self.alternatives for k, _ in alt}

    def matches(self, tags: Mapping[str, str]) -> bool:
        """True when the tags satisfy one alternative."""
        return any(all(_holds(tags.get(k), v) for k, v in alt) for alt in self.alternatives)

    def describe(self) -> str:
        """The preset's tag conditions in OSM notation, e.g. ``amenity=pharmacy``."""
        alts = [" + ".join(f"{k}={'|'.join(v)}" if v else f"{k}=*" for k, v in alt) for alt in self.alternatives]
        return " or ".join(alts)


def _holds(value: str | None, accepted: tuple[str, ...] | None) -> bool:
    if value is None:
        return False
    if accepted is None:
        return value != "no"
    return value in accepted


def _p(name: str, group: str, *alts: dict[str, str | tuple[str, ...] | None]) -> Preset:
    def cond(v: str | tuple[str, ...] | None) -> tuple[str, ...] | None:
        return (v,) if isinstance(v, str) else v

    return Preset(name, tuple(tuple((k, cond(v)) for k, v in a.items()) for a in alts), group)


_WORSHIP = "amenity"
PRESETS: tuple[Preset, ...] = (
    # worship
    _p("place of worship", "worship", {_WORSHIP: "place_of_worship"}),
    _p("church", "worship", {_WORSHIP: "place_of_worship", "religion": "christian"}),
    _p("mosque", "worship", {_WORSHIP: "place_of_worship", "religion": "muslim"}),
    _p("synagogue", "worship", {_WORSHIP: "place_of_worship", "religion": "jewish"}),
    _p("hindu temple", "worship", {_WORSHIP: "place_of_worship", "religion": "hindu"}),
    _p("buddhist temple", "worship", {_WORSHIP: "place_of_worship", "religion": "buddhist"}),
    # rail and transport
    _p("railway station", "transport", {"railway": ("station", "halt")}),
    _p("railway", "transport", {"railway": ("rail", "light_rail", "narrow_gauge")}),
    _p("tram stop", "transport", {"railway": "tram_stop"}),
    _p("tram line", "transport", {"railway": "tram"}),
    _p("subway entrance", "transport", {"railway": "subway_entrance"}),
    _p("level crossing", "transport", {"railway": ("level_crossing", "crossing")}),
    _p("bus stop", "transport", {"highway": "bus_stop"}),
    _p("bus station", "transport", {"amenity": "bus_station"}),
    _p("ferry terminal", "transport", {"amenity": "ferry_terminal"}),
    _p("airport", "transport", {"aeroway": "aerodrome"}),
    _p("helipad", "transport", {"aeroway": "helipad"}),
    _p("motorway", "transport", {"highway": ("motorway", "motorway_link")}),
    _p("roundabout", "transport", {"junction": ("roundabout", "circular")}),
    _p("bridge", "transport", {"bridge": None}),
    _p("tunnel", "transport", {"tunnel": None}),
    _p("traffic signals", "transport", {"highway": "traffic_signals"}),
    _p("parking", "transport", {"amenity": "parking"}),
    # water
    _p("river", "water", {"waterway": "river"}),
    _p("stream", "water", {"waterway": "stream"}),
    _p("canal", "water", {"waterway": "canal"}),
    _p("lake", "water", {"natural": "water", "water": ("lake", "reservoir", "pond")}),
    _p("water", "water", {"natural": "water"}),
    _p("coastline", "water", {"natural": "coastline"}),
    _p("dam", "water", {"waterway": "dam"}),
    _p("waterfall", "water", {"waterway": "waterfall"}),
    _p("fountain", "water", {"amenity": "fountain"}),
    _p("marina", "water", {"leisure": "marina"}),
    _p("pier", "water", {"man_made": "pier"}),
    _p("beach", "water", {"natural": "beach"}),
    # shops and services
    _p("fuel", "shops and services", {"amenity": "fuel"}),
    _p("supermarket", "shops and services", {"shop": "supermarket"}),
    _p("pharmacy", "shops and services", {"amenity": "pharmacy"}, {"healthcare": "pharmacy"}),
    _p("hospital", "shops and services", {"amenity": "hospital"}),
    _p("school", "shops and services", {"amenity": "school"}),
    _p("university", "shops and services", {"amenity": "university"}),
    _p("library", "shops and services", {"amenity": "library"}),
    _p("bank", "shops and services", {"amenity": "bank"}),
    _p("post office", "shops and services", {"amenity": "post_office"}),
    _p("police", "shops and services", {"amenity": "police"}),
    _p("fire station", "shops and services", {"amenity": "fire_station"}),
    _p("restaurant", "shops and services", {"amenity": "restaurant"}),
    _p("cafe", "shops and services", {"amenity": "cafe"}),
    _p("fast food", "shops and services", {"amenity": "fast_food"}),
    _p("bar", "shops and services", {"amenity": ("bar", "pub")}),
    _p("hotel", "shops and services", {"tourism": "hotel"}),
    _p("museum", "shops and services", {"tourism": "museum"}),
    _p("cinema", "shops and services", {"amenity": "cinema"}),
    _p("theatre", "shops and services", {"amenity": "theatre"}),
    # landmarks and structures
    _p("wind turbine", "landmarks", {"power": "generator", "generator:source": "wind"}),
    _p("power line", "landmarks", {"power": ("line", "minor_line")}),
    _p("power tower", "landmarks", {"power": ("tower", "pole")}),
    _p("lighthouse", "landmarks", {"man_made": "lighthouse"}),
    _p("water tower", "landmarks", {"man_made": "water_tower"}),
    _p("tower", "landmarks", {"man_made": "tower"}),
    _p("mast", "landmarks", {"man_made": "mast"}),
    _p("chimney", "landmarks", {"man_made": "chimney"}),
    _p("windmill", "landmarks", {"man_made": "windmill"}),
    _p("crane", "landmarks", {"man_made": "crane"}),
    _p("castle", "landmarks", {"historic": "castle"}),
    _p("monument", "landmarks", {"historic": ("monument", "memorial")}),
    _p("statue", "landmarks", {"memorial": "statue"}, {"artwork_type": "statue"}),
    _p("ruins", "landmarks", {"historic": "ruins"}),
    _p("stadium", "landmarks", {"leisure": "stadium"}),
    # nature and land use
    _p("peak", "nature", {"natural": "peak"}),
    _p("volcano", "nature", {"natural": "volcano"}),
    _p("cliff", "nature", {"natural": "cliff"}),
    _p("park", "nature", {"leisure": "park"}),
    _p("playground", "nature", {"leisure": "playground"}),
    _p("golf course", "nature", {"leisure": "golf_course"}),
    _p("sports pitch", "nature", {"leisure": "pitch"}),
    _p("cemetery", "nature", {"landuse": "cemetery"}, {"amenity": "grave_yard"}),
    _p("vineyard", "nature", {"landuse": "vineyard"}),
)
"""The curated presets, grouped for the app's picker."""

ANY_VALUES: dict[str, tuple[str, ...]] = {
    "bridge": ("yes", "viaduct", "aqueduct", "boardwalk", "cantilever", "covered", "movable", "trestle", "suspension", "low_water_crossing", "culvert", "simple_brunnel", "abandoned"),
    "tunnel": ("yes", "culvert", "building_passage", "covered", "avalanche_protector", "flooded", "passage"),
}
"""The values of "any value but no" keys that the importer's C++ pre-filter passes (Python then checks
each object fully); a value not listed here is not imported for that preset."""

BY_NAME: dict[str, Preset] = {p.name: p for p in PRESETS}

STORED_KEYS: tuple[str, ...] = ("brand", "operator", "denomination")
"""Keys kept as ``key=value`` terms for every stored feature besides the presets' own (brands of fuel
stations and supermarkets, operators of railways, denominations of churches)."""


def normalise_name(text: str) -> str:
    """A preset name as written by a user -> the canonical form (``Tram_Stop`` -> ``tram stop``)."""
    return " ".join(text.strip().lower().replace("_", " ").replace("-", " ").split())


def preset(name: str) -> Preset | None:
    """The preset called ``name`` (any case, ``_`` or ``-`` for spaces), or None."""
    return BY_NAME.get(normalise_name(name))


def closest_presets(text: str, n: int = 3) -> list[str]:
    """Up to ``n`` preset names closest to ``text`` (for "did you mean" messages)."""
    t = normalise_name(text)
    names = list(BY_NAME)
    close = difflib.get_close_matches(t, names, n=n, cutoff=0.5)
    if len(close) < n:
        close += [m for m in names if t and (t in m or m in t) and m not in close][: n - len(close)]
    return close


def preset_keys(presets: Iterable[Preset] = PRESETS) -> set[str]:
    """Every tag key read by ``presets``."""
    return {k for p in presets for k in p.keys}


def matching_presets(tags: Mapping[str, str]) -> list[str]:
    """Names of the presets matched by a tag set."""
    return [p.name for p in PRESETS if p.matches(tags)]


__all__ = ["ANY_VALUES", "BY_NAME", "PRESETS", "STORED_KEYS", "Preset", "closest_presets", "matching_presets", "normalise_name", "preset", "preset_keys"]
