"""What an analyst states about a photo, as experts (pure Python: no Streamlit here).

:class:`AnalystEvidence` holds the statements (a point guess with a radius, countries in or out,
circles drawn in or out, plain-language attributes such as "snow" or "forest"); it is the ``analyst``
kind of the evidence protocol (:mod:`geolocate.evidence.base`): URL keys ``guess``, ``radius``, ``in``,
``out``, ``hard``, ``attr``, ``area``. :func:`analyst_experts` turns it into experts, :func:`map_shapes`
into outlines for the map, :func:`match_countries` finds countries by name or group for the pickers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar

from ..experts import AttributeExpert, PointExpert, RegionExpert, override_probs
from ..experts.base import Expert, ExpertKind
from ..layers import Layer
from .base import EvidenceContext, Message, register

# Friendly attribute terms -> (layer, classes). IGBP land cover (MODIS) classes; "desert" takes open
# shrubland too because most hot deserts are mapped as such by MCD12C1, not only as "barren".
ATTRIBUTE_TERMS: dict[str, tuple[str, list[str]]] = {
    "urban": ("landcover", ["urban and built-up"]),
    "snow": ("landcover", ["permanent snow and ice"]),
    "forest": (
        "landcover",
        ["evergreen needleleaf forest", "evergreen broadleaf forest", "deciduous needleleaf forest", "deciduous broadleaf forest", "mixed forest"],
    ),
    "desert": ("landcover", ["barren", "open shrubland"]),
    "cropland": ("landcover", ["cropland", "cropland / natural vegetation mosaic"]),
    "water/coast": ("landcover", ["water"]),
    "grassland": ("landcover", ["grassland", "savanna", "woody savanna"]),
    "wetland": ("landcover", ["permanent wetland"]),
    "indoor scene": ("scene", ["indoor"]),
    "natural scene": ("scene", ["natural"]),
    "urban scene": ("scene", ["urban"]),
}
"""Plain-language attribute overrides an analyst can assert, mapped to layer classes."""

RADIUS_MIN_KM, RADIUS_MAX_KM = 1.0, 5000.0
"""Accepted range of the guess radius (km); the app's number input has the same bounds."""

POINT_EXPERT = "analyst guess"
REGION_EXPERT = "analyst region"
AREA_EXPERT = "analyst areas"
"""The expert of the circles drawn in or out (its own weight, apart from the countries')."""

AREA_MIN_KM, AREA_MAX_KM = 0.1, 5000.0
"""Accepted range of an area's radius (km): a street block up to a continent."""
MAX_AREAS = 50
"""Areas read from a link or the panel; the rest are ignored."""


@dataclass(frozen=True)
class Area:
    """A circle the analyst drew: the photo is inside it (``include``) or not.

    Attributes:
        include: True: the photo is in this circle (or another included one); False: it is not in it.
        lat: centre latitude, degrees.
        lon: centre longitude, degrees.
        radius_km: radius, km.
    """

    include: bool
    lat: float
    lon: float
    radius_km: float

    @property
    def word(self) -> str:
        """"in" or "out"."""
        return "in" if self.include else "out"

    def text(self) -> str:
        """The panel's line for this area: ``in 48.85, 2.35, 50`` (parsed back by :func:`parse_area`)."""
        return f"{self.word} {_num(self.lat)}, {_num(self.lon)}, {_num(self.radius_km)}"

    def query(self) -> str:
        """The link's item for this area: ``in:48.85,2.35,50``."""
        return f"{self.word}:{_num(self.lat)},{_num(self.lon)},{_num(self.radius_km)}"


def parse_area(text: str) -> Area:
    """Parse one area: "in 48.85, 2.35, 50" or "out:40,3,20" (in/out, then lat, lon in degrees and the radius in km).

    Raises:
        ValueError: with a message for the user when the text is not an area.
    """
    m = re.match(r"\s*(in|out|include|exclude)\s*[:\s]\s*(.*)$", text, flags=re.IGNORECASE)
    if not m:
        raise ValueError(f"{clip_text(text.strip())!r}: start with 'in' or 'out', then lat, lon, radius km (e.g. 'in 48.85, 2.35, 50')")
    parts = [q for q in re.split(r"[,;\s]+", m.group(2).strip()) if q]
    if len(parts) != 3:
        raise ValueError(f"{clip_text(text.strip())!r}: give lat, lon and a radius in km after '{m.group(1)}' (e.g. 'in 48.85, 2.35, 50')")
    try:
        lat, lon = parse_latlon(f"{parts[0]} {parts[1]}")
    except ValueError as err:
        raise ValueError(f"{clip_text(text.strip())!r}: {err}") from None
    try:
        r = float(parts[2].lower().removesuffix("km"))
    except ValueError:
        r = float("nan")
    if not (math.isfinite(r) and AREA_MIN_KM <= r <= AREA_MAX_KM):
        raise ValueError(f"{clip_text(text.strip())!r}: the radius must be {AREA_MIN_KM:g} to {AREA_MAX_KM:g} km")
    return Area(m.group(1).lower() in ("in", "include"), lat, lon, r)


def parse_areas(text: str, sep: str = "\n") -> tuple[tuple[Area, ...], list[str]]:
    """Areas from lines (the panel) or ``;``-separated items (a link); bad ones are dropped and described."""
    areas: list[Area] = []
    problems: list[str] = []
    items = [t for t in text.split(sep) if t.strip()]
    if len(items) > MAX_AREAS:
        problems.append(f"area: only the first {MAX_AREAS} of {len(items)} areas were read")
        items = items[:MAX_AREAS]
    for item in items:
        try:
            areas.append(parse_area(item))
        except ValueError as err:
            problems.append(f"area {err}")
    return tuple(dict.fromkeys(areas)), problems


MAX_LINK_ITEMS = 200
"""Items read from one list-valued URL parameter (countries, attributes); the rest are ignored."""


def _num(v: float) -> str:
    return f"{float(v):.6g}"


def clip_text(text: str, n: int = 40) -> str:
    """``text`` cut to ``n`` characters with an ellipsis (for quoting user values in messages)."""
    return text if len(text) <= n else text[: n - 1] + "…"


@register
@dataclass(frozen=True)
class AnalystEvidence:
    """What an analyst asserts about the photo.

    Attributes:
        point: (lat, lon) in degrees of a guess, or None.
        radius_km: how far off the guess may be, km (the kernel's sigma is half of it).
        include: ISO-3 codes the photo is in (any of).
        exclude: ISO-3 codes the photo is not in.
        hard: exclude the rest of the world outright instead of down-weighting it.
        attributes: terms from :data:`ATTRIBUTE_TERMS`.
        areas: circles the photo is in or not in (certain when ``hard``).
    """

    kind: ClassVar[str] = "analyst"
    label: ClassVar[str] = "What you know"
    query_keys: ClassVar[tuple[str, ...]] = ("guess", "radius", "in", "out", "hard", "attr", "include", "exclude", "area")
    """``include``/``exclude`` are read as aliases of ``in``/``out`` (links are written with the short keys)."""

    point: tuple[float, float] | None = None
    radius_km: float = 100.0
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    hard: bool = False
    attributes: tuple[str, ...] = ()
    areas: tuple[Area, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True when no statement is made (a default ``radius_km`` or ``hard`` alone says nothing)."""
        ignored = {"radius_km", "hard"}
        return all(getattr(self, f.name) in (None, (), "") for f in fields(self) if f.name not in ignored)

    def summary(self) -> list[tuple[str, str]]:
        """(statement, value) pairs for reports, in plain text (values are user data: escape before HTML)."""
        out: list[tuple[str, str]] = []
        if self.point is not None:
            out.append(("guess", f"{self.point[0]:.5g}, {self.point[1]:.5g} ± {self.radius_km:g} km"))
        if self.include:
            out.append(("in one of", ", ".join(self.include) + (" (certain)" if self.hard else "")))
        if self.exclude:
            out.append(("not in", ", ".join(self.exclude) + (" (certain)" if self.hard else "")))
        if self.attributes:
            out.append(("the photo shows", ", ".join(self.attributes)))
        for a in self.areas:
            out.append(("in the area" if a.include else "not in the area", f"{a.lat:.5g}, {a.lon:.5g} ± {a.radius_km:g} km" + (" (certain)" if self.hard else "")))
        return out

    def experts(self, context: EvidenceContext) -> tuple[list[Expert], list[Message]]:
        """The guess, region and attribute experts (see :func:`analyst_experts`)."""
        if self.is_empty:
            return [], []
        return analyst_experts(self, context.layers)

    def to_query(self) -> dict[str, str]:
        """URL parameters of the stated fields."""
        q: dict[str, str] = {}
        if self.point is not None:
            q["guess"] = f"{_num(self.point[0])},{_num(self.point[1])}"
            q["radius"] = _num(self.radius_km)
        if self.include:
            q["in"] = ",".join(self.include)
        if self.exclude:
            q["out"] = ",".join(self.exclude)
        if self.hard:
            q["hard"] = "1"
        if self.attributes:
            q["attr"] = ",".join(self.attributes)
        if self.areas:
            q["area"] = ";".join(a.query() for a in self.areas)
        return q

    @classmethod
    def from_query(cls, query: Mapping[str, str], country_codes: Sequence[str] | None = None) -> tuple[AnalystEvidence, list[str]]:
        """The statements a link carries; bad values are dropped or clamped and listed as problems.

        Args:
            query: URL parameters (other kinds' keys are ignored).
            country_codes: valid ISO-3 codes; None: the country layer's codes.
        """
        if country_codes is None and any(k in query for k in ("in", "out", "include", "exclude")):
            from ..experts.region import country_codes as known_codes

            country_codes = known_codes()
        problems: list[str] = []
        kw: dict[str, Any] = {}
        if "guess" in query:
            try:
                kw["point"] = parse_latlon(str(query["guess"]))
            except ValueError as err:
                problems.append(f"guess: {err}")
        if "radius" in query and "point" in kw:
            raw = str(query["radius"])
            try:
                r = float(raw)
            except ValueError:
                r = float("nan")
            if not math.isfinite(r) or r <= 0:
                problems.append(f"radius {clip_text(raw)!r} is not a positive number of km; using 100 km")
            else:
                if not RADIUS_MIN_KM <= r <= RADIUS_MAX_KM:
                    c = min(max(r, RADIUS_MIN_KM), RADIUS_MAX_KM)
                    problems.append(f"radius {r:g} km is outside {RADIUS_MIN_KM:g}..{RADIUS_MAX_KM:g} km; using {c:g} km")
                    r = c
                kw["radius_km"] = r
        for key, alias, attr in (("in", "include", "include"), ("out", "exclude", "exclude")):
            if key in query or alias in query:
                raw = ",".join(str(query[k]) for k in (key, alias) if k in query)
                vals = [c.strip().upper() for c in raw.split(",") if c.strip()]
                if len(vals) > MAX_LINK_ITEMS:
                    problems.append(f"{key}: only the first {MAX_LINK_ITEMS} of {len(vals)} codes were read")
                    vals = vals[:MAX_LINK_ITEMS]
                bad = [c for c in vals if country_codes is not None and c not in country_codes]
                if bad:
                    problems.append(f"{key}: unknown country codes {', '.join(repr(clip_text(b, 12)) for b in bad[:5])}" + (f" and {len(bad) - 5} more" if len(bad) > 5 else ""))
                kw[attr] = tuple(dict.fromkeys(c for c in vals if c not in bad))
        if "hard" in query:
            kw["hard"] = str(query["hard"]) in ("1", "true")
        if "attr" in query:
            vals = [a for a in str(query["attr"]).split(",") if a][:MAX_LINK_ITEMS]
            bad = [a for a in vals if a not in ATTRIBUTE_TERMS]
            if bad:
                problems.append(f"unknown attributes {', '.join(repr(clip_text(b, 20)) for b in bad[:5])}" + (f" and {len(bad) - 5} more" if len(bad) > 5 else ""))
            kw["attributes"] = tuple(dict.fromkeys(a for a in vals if a in ATTRIBUTE_TERMS))
        if "area" in query:
            kw["areas"], area_problems = parse_areas(str(query["area"]), sep=";")
            problems += area_problems
        return replace(cls(), **kw), problems


def attribute_expert_name(term: str) -> str:
    """Expert name of an attribute statement (also its weight key in shareable links)."""
    return f"analyst: {term}"


Builder = Callable[[AnalystEvidence, Mapping[str, Layer]], tuple[list[Expert], list[Message]]]
_BUILDERS: list[Builder] = []


def evidence_builder(fn: Builder) -> Builder:
    """Register a function turning one kind of evidence into experts (called in registration order)."""
    _BUILDERS.append(fn)
    return fn


@evidence_builder
def _point(ev: AnalystEvidence, layers: Mapping[str, Layer]) -> tuple[list[Expert], list[Message]]:
    if ev.point is None:
        return [], []
    if not ev.radius_km > 0:
        return [], [Message("warning", "The guess radius must be a positive number of km; the guess is ignored.")]
    lat, lon = ev.point
    return [PointExpert(lat, lon, scale_km=ev.radius_km / 2.0, name=POINT_EXPERT, kind=ExpertKind.ANALYST)], []


@evidence_builder
def _region(ev: AnalystEvidence, layers: Mapping[str, Layer]) -> tuple[list[Expert], list[Message]]:
    if not (ev.include or ev.exclude):
        return [], []
    return [RegionExpert(include=ev.include, exclude=ev.exclude, hard=ev.hard, name=REGION_EXPERT)], []


@evidence_builder
def _areas(ev: AnalystEvidence, layers: Mapping[str, Layer]) -> tuple[list[Expert], list[Message]]:
    if not ev.areas:
        return [], []
    inc = [(a.lat, a.lon, a.radius_km) for a in ev.areas if a.include]
    exc = [(a.lat, a.lon, a.radius_km) for a in ev.areas if not a.include]
    return [RegionExpert(include_circles=inc, exclude_circles=exc, hard=ev.hard, name=AREA_EXPERT)], []


@evidence_builder
def _attributes(ev: AnalystEvidence, layers: Mapping[str, Layer]) -> tuple[list[Expert], list[Message]]:
    experts: list[Expert] = []
    msgs: list[Message] = []
    for term in ev.attributes:
        if term not in ATTRIBUTE_TERMS:
            msgs.append(Message("warning", f"Unknown attribute ignored; choose from {', '.join(ATTRIBUTE_TERMS)}.", repr(term)))
            continue
        layer_name, classes = ATTRIBUTE_TERMS[term]
        layer = layers.get(layer_name)
        if layer is None:
            msgs.append(Message("warning", f"'{term}' needs the {layer_name} layer, which is not available."))
            continue
        experts.append(AttributeExpert(layer, override_probs(layer, classes), name=attribute_expert_name(term), kind=ExpertKind.ANALYST))
    return experts, msgs


def analyst_experts(evidence: AnalystEvidence, layers: Mapping[str, Layer] | None = None) -> tuple[list[Expert], list[Message]]:
    """Experts for the analyst's evidence, and messages for evidence that could not be used.

    Args:
        evidence: the analyst's statements.
        layers: layer name -> :class:`~geolocate.layers.Layer` (``landcover``, ``scene``); missing layers
            make their terms unavailable (message) instead of failing. Default: load them when needed.

    Returns:
        (experts, messages). The region expert is hard (a mask, no weight) when ``evidence.hard``.
    """
    if layers is None:
        layers = attribute_layers() if evidence.attributes else {}
    experts: list[Expert] = []
    messages: list[Message] = []
    for build in _BUILDERS:
        e, m = build(evidence, layers)
        experts += e
        messages += m
    return experts, messages


def map_shapes(evidence: AnalystEvidence) -> list[dict[str, Any]]:
    """Outlines of the guess and the areas for the map.

    Returns:
        ``[{"kind": "guess" | "include" | "exclude", "path": [[lon, lat], ...]}]``: closed rings in degrees
        (the guess as a circle of its radius), in the order guess, then areas as listed.
    """
    from ..experts.region import circle_ring

    shapes: list[dict[str, Any]] = []
    if evidence.point is not None:
        shapes.append({"kind": "guess", "path": circle_ring(*evidence.point, evidence.radius_km)})
    for a in evidence.areas:
        shapes.append({"kind": "include" if a.include else "exclude", "path": circle_ring(a.lat, a.lon, a.radius_km)})
    return shapes


COUNTRY_GROUPS: dict[str, tuple[str, ...]] = {
    "EU": (
        "AUT", "BEL", "BGR", "HRV", "CYP", "CZE", "DNK", "EST", "FIN", "FRA", "DEU", "GRC", "HUN", "IRL",
        "ITA", "LVA", "LTU", "LUX", "MLT", "NLD", "POL", "PRT", "ROU", "SVK", "SVN", "ESP", "SWE",
    ),
}
"""Named groups of countries (ISO-3) the pickers' "add all matching" understands, besides continents."""
COUNTRY_GROUPS["European Union"] = COUNTRY_GROUPS["EU"]


def match_countries(text: str, countries: Mapping[str, str], continents: Mapping[str, str] | None = None) -> tuple[list[str], str]:
    """Every country ``text`` names: a group ("EU"), a continent ("Africa"), or all names containing it.

    Args:
        text: what the analyst typed.
        countries: ISO-3 code -> name (the pickers' options).
        continents: ISO-3 code -> continent; None: the country table's.

    Returns:
        (ISO-3 codes in the order of ``countries``, what matched: "group EU", "continent Africa" or
        "names containing 'United States'"; "" when nothing matched).
    """
    t = text.strip()
    if not t:
        return [], ""
    if continents is None:
        from ..layers import country_table

        continents = {c["iso3"]: c.get("continent", "") for c in country_table()}
    for group, codes in COUNTRY_GROUPS.items():
        if t.casefold() == group.casefold():
            return [c for c in countries if c in codes], f"group {group}"
    by_continent = [c for c in countries if str(continents.get(c, "")).casefold() == t.casefold()]
    if by_continent:
        return by_continent, f"continent {continents[by_continent[0]]}"
    named = [c for c, name in countries.items() if t.casefold() in name.casefold() or t.casefold() == c.casefold()]
    return named, (f"names containing {clip_text(t)!r}" if named else "")


def attribute_layers() -> dict[str, Layer]:
    """Layers behind the analyst's attribute terms: {"landcover": Layer, "scene": Layer (when its asset exists)}."""
    from ..layers import LayerError, landcover_layer, scene_layer

    out: dict[str, Layer] = {"landcover": landcover_layer()}
    try:
        out["scene"] = scene_layer()
    except LayerError:
        pass
    return out


_HEMI = {"N": 1, "S": -1, "E": 1, "W": -1}


def parse_latlon(text: str) -> tuple[float, float]:
    """Parse "lat, lon" in decimal degrees ("48.85, 2.35", "48.85 2.35" or "48.85N 2.35E").

    Raises:
        ValueError: with a message for the user when the text is not a valid coordinate pair.
    """
    parts = [p for p in re.split(r"[,;\s]+", text.strip()) if p]
    if any(p.strip("°").lower() in ("nan", "+nan", "-nan") for p in parts):
        raise ValueError(f"{text[:60]!r}: 'nan' is not a number of degrees")
    if len(parts) != 2:
        raise ValueError(f"enter latitude and longitude as two numbers, e.g. '48.85, 2.35' (got {text[:60]!r})")
    vals = []
    for p, axis in zip(parts, ("NS", "EW")):
        sign = 1.0
        if p[-1].upper() in _HEMI:
            if p[-1].upper() not in axis:
                raise ValueError(f"'{p[:30]}': expected {axis[0]}/{axis[1]} for this coordinate")
            sign, p = _HEMI[p[-1].upper()], p[:-1]
        try:
            vals.append(sign * float(p.replace("°", "")))
        except ValueError:
            raise ValueError(f"'{p[:30]}' is not a number of degrees") from None
    lat, lon = vals
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"({lat}, {lon}) is out of range: latitude must be in [-90, 90], longitude in [-180, 180]")
    return lat, lon
