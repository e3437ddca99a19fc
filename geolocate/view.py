"""Map data and shareable view state for the workbench (pure Python: no Streamlit here).

The app stays a thin layer over these functions:

    * :class:`AnalystEvidence` and :func:`analyst_experts` turn what an analyst knows (a point guess with a
      radius, countries in or out, plain-language attributes such as "snow" or "forest") into experts;
    * :func:`map_records` picks the cells worth drawing (never the whole globe: the deck payload stays a
      few MB), colours them by log density and flags the ones inside the area budget;
    * :func:`build_deck` assembles a pydeck ``Deck`` that serialises compactly;
    * :func:`encode_query` / :func:`decode_query` put weights, budget and evidence in URL query parameters.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass, field
from typing import Mapping, Sequence
from urllib.parse import quote, unquote

import numpy as np

from .distribution import CellDistribution, RankedRegions
from .experts import AttributeExpert, PointExpert, RegionExpert, override_probs
from .experts.base import Expert

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

DEFAULT_WEIGHTS: dict[str, float] = {"uniform land": 0.5, "population": 0.25, "photo density": 0.5}
"""Starting slider positions for the priors; every other expert starts at 1."""

WEIGHT_MAX = 3.0
BUDGET_MIN_KM2, BUDGET_MAX_KM2 = 1.0, 1e7
DEFAULT_BUDGET_KM2 = 1e4
DEFAULT_REFINE = 6
MAX_MAP_CELLS = 8_000
"""Hexagons sent to the browser at most (about 1.4 MB of deck JSON)."""
MAP_MASS = 0.999
"""Cells are drawn, densest first, until they hold this much probability (or MAX_MAP_CELLS)."""


def default_weight(name: str) -> float:
    """Initial weight of an expert (priors are damped; evidence starts at 1)."""
    return DEFAULT_WEIGHTS.get(name, 1.0)


# --------------------------------------------------------------------------------------------- evidence


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
    """

    point: tuple[float, float] | None = None
    radius_km: float = 100.0
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    hard: bool = False
    attributes: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return self.point is None and not self.include and not self.exclude and not self.attributes


POINT_EXPERT = "analyst guess"
REGION_EXPERT = "analyst region"


def attribute_expert_name(term: str) -> str:
    return f"analyst: {term}"


def analyst_experts(evidence: AnalystEvidence, layers: Mapping[str, object] | None = None) -> tuple[list[Expert], list[str]]:
    """Experts for the analyst's evidence, and messages for evidence that could not be used.

    Args:
        evidence: the analyst's statements.
        layers: layer name -> :class:`~geolocate.layers.Layer` (``landcover``, ``scene``); missing layers
            make their terms unavailable (message) instead of failing. Default: load them.

    Returns:
        (experts, messages). The region expert is hard (a mask, no weight) when ``evidence.hard``.
    """
    experts: list[Expert] = []
    messages: list[str] = []
    if evidence.point is not None:
        lat, lon = evidence.point
        if not evidence.radius_km > 0:
            messages.append("the guess radius must be a positive number of km")
        else:
            experts.append(PointExpert(lat, lon, scale_km=evidence.radius_km / 2.0, name=POINT_EXPERT, kind="analyst"))
    if evidence.include or evidence.exclude:
        experts.append(RegionExpert(include=evidence.include, exclude=evidence.exclude, hard=evidence.hard, name=REGION_EXPERT))
    if evidence.attributes:
        layers = dict(layers) if layers is not None else attribute_layers()
        for term in evidence.attributes:
            if term not in ATTRIBUTE_TERMS:
                messages.append(f"unknown attribute {term!r}; choose from {', '.join(ATTRIBUTE_TERMS)}")
                continue
            layer_name, classes = ATTRIBUTE_TERMS[term]
            layer = layers.get(layer_name)
            if layer is None:
                messages.append(f"'{term}' needs the {layer_name} layer, which is not available")
                continue
            experts.append(AttributeExpert(layer, override_probs(layer, classes), name=attribute_expert_name(term), kind="analyst"))
    return experts, messages


def attribute_layers() -> dict[str, object]:
    """Layers behind the analyst's attribute terms: {"landcover": Layer, "scene": Layer (when its asset exists)}."""
    from .layers import LayerError, landcover_layer, scene_layer

    out: dict[str, object] = {"landcover": landcover_layer()}
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
    if len(parts) != 2:
        raise ValueError(f"enter latitude and longitude as two numbers, e.g. '48.85, 2.35' (got {text!r})")
    vals = []
    for p, axis in zip(parts, ("NS", "EW")):
        sign = 1.0
        if p[-1].upper() in _HEMI:
            if p[-1].upper() not in axis:
                raise ValueError(f"'{p}': expected {axis[0]}/{axis[1]} for this coordinate")
            sign, p = _HEMI[p[-1].upper()], p[:-1]
        try:
            vals.append(sign * float(p.replace("°", "")))
        except ValueError:
            raise ValueError(f"'{p}' is not a number of degrees") from None
    lat, lon = vals
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"({lat}, {lon}) is out of range: latitude must be in [-90, 90], longitude in [-180, 180]")
    return lat, lon


# --------------------------------------------------------------------------------------------- map data

# A dark-to-bright ramp (inferno-like) that reads on the dark theme; it stops at saturated yellow so the
# densest cells never look like the cyan budget outline.
_RAMP = np.array(
    [[40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21], [250, 180, 30], [255, 225, 60]],
    dtype=np.float64,
)


def density_colours(log_density: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """RGBA colours (uint8, shape (n, 4)) for log densities: dark/transparent = low, bright/opaque = high.

    Args:
        log_density: natural-log densities per km², shape (n,).
        lo, hi: the range mapped onto the ramp (default: the 2nd percentile and the maximum).
    """
    x = np.asarray(log_density, dtype=np.float64)
    if not len(x):
        return np.zeros((0, 4), dtype=np.uint8)
    lo = float(np.percentile(x, 2)) if lo is None else lo
    hi = float(x.max()) if hi is None else hi
    t = np.clip((x - lo) / max(hi - lo, 1e-9), 0.0, 1.0)
    pos = t * (len(_RAMP) - 1)
    i = np.minimum(pos.astype(int), len(_RAMP) - 2)
    f = (pos - i)[:, None]
    rgb = _RAMP[i] * (1 - f) + _RAMP[i + 1] * f
    alpha = 70 + 170 * t
    return np.column_stack([rgb, alpha]).round().astype(np.uint8)


def _sig(x: np.ndarray, digits: int = 3) -> list[float]:
    """Values rounded to ``digits`` significant digits, as Python floats whose JSON is short.

    Vectorised: the mantissa is rounded to an integer m and divided by an exact power of ten, which is
    correctly rounded, so repr() prints e.g. 3.1e-06 rather than 3.1000000000000005e-06.
    """
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros_like(x)
    nz = np.isfinite(x) & (x != 0)
    e = np.floor(np.log10(np.abs(x[nz])))
    s = np.clip((digits - 1) - e, -300, 300)
    m = np.round(x[nz] * 10.0**s)
    small = s > 0
    out_nz = np.empty_like(m)
    out_nz[small] = m[small] / 10.0 ** np.minimum(s[small], 22)
    out_nz[~small] = m[~small] * 10.0 ** (-s[~small])
    out_nz[s > 22] = 0.0  # below 1e-20: indistinguishable from zero on a map
    out[nz] = out_nz
    return out.tolist()


@dataclass
class MapData:
    """What the map shows for one distribution.

    Attributes:
        records: one dict per drawn cell, densest first: h3 (string), rank, colour [r, g, b, a], prob,
            area_km2, density (per km²), prob_pct, cum_pct (%), cum_area_km2 (3 significant digits).
        budget: the regions inside the area budget.
        shown_prob: probability held by the drawn cells.
    """

    records: list[dict]
    budget: RankedRegions
    shown_prob: float

    @property
    def budget_records(self) -> list[dict]:
        return self.records[: len(self.budget)]


def map_records(dist: CellDistribution, budget_km2: float, max_cells: int = MAX_MAP_CELLS, mass: float = MAP_MASS) -> MapData:
    """The densest cells to draw, with colours, tooltips and budget flags.

    Cells are taken in rank order until they hold ``mass`` of the probability, at least all the cells inside
    the budget, and never more than ``max_cells``.

    Args:
        dist: the distribution.
        budget_km2: area budget (km²).
        max_cells: cap on drawn cells.
        mass: probability mass to cover.
    """
    budget = dist.within_budget(budget_km2)
    order = dist.order()
    prob = dist.prob[order]
    k_mass = int(np.searchsorted(np.cumsum(prob), mass, side="left")) + 1
    k = min(max(k_mass, len(budget)), max_cells, len(order))
    idx = order[:k]
    cells = dist.cells.cells[idx]
    area = dist.cells.area_km2[idx]
    logd = dist.log_density[idx]
    p = prob[:k]
    cum_p, cum_a = np.cumsum(p), np.cumsum(area)
    rgba = density_colours(logd)
    rgba[len(budget):, 3] = (rgba[len(budget):, 3] * 0.55).astype(np.uint8)  # outside the budget: dimmed
    colours = rgba.tolist()
    h3s = [format(c, "x") for c in cells.tolist()]
    cols = {
        "prob": _sig(p),
        "area_km2": _sig(area),
        "density": _sig(np.exp(logd)),
        "prob_pct": _sig(100 * p),
        "cum_pct": _sig(100 * cum_p),
        "cum_area_km2": _sig(cum_a),
    }
    names = list(cols)
    records = [
        {"h3": h, "rank": i + 1, "colour": c, **dict(zip(names, vals))}
        for i, (h, c, *vals) in enumerate(zip(h3s, colours, *cols.values()))
    ]
    return MapData(records, budget, float(cum_p[-1]) if k else 0.0)


def view_state(dist: CellDistribution, budget_km2: float) -> dict:
    """A view centred on the densest cell, zoomed so that the budget's extent roughly fills the map.

    Returns:
        dict with latitude, longitude (degrees), zoom, pitch, bearing.
    """
    lat, lon = dist.mode()
    side_km = math.sqrt(max(budget_km2, 1.0)) * 3.0
    # Web-Mercator: a 500 px map at zoom z spans about 500 * 156543 * cos(lat) / 2^z metres.
    zoom = math.log2(500 * 156.543 * max(math.cos(math.radians(lat)), 0.2) / side_km)
    return {"latitude": round(lat, 4), "longitude": round(lon, 4), "zoom": round(float(np.clip(zoom, 0.5, 11)), 2), "pitch": 0, "bearing": 0}


WORLD_VIEW = {"latitude": 20.0, "longitude": 0.0, "zoom": 0.8, "pitch": 0, "bearing": 0}

def budget_outline(regions: RankedRegions) -> list[list[list[float]]]:
    """Outline of the union of the budget's cells as paths of [lon, lat] (degrees), one per ring.

    Cells are merged per resolution with H3 (fast, in C), so the outline follows the region's edge rather
    than every hexagon; neighbouring groups of different resolutions keep the seam between them.
    """
    import h3

    paths: list[list[list[float]]] = []
    if not len(regions):
        return paths
    from .grid import cell_resolutions

    res = cell_resolutions(regions.cells)
    for r in np.unique(res).tolist():
        ids = [format(c, "x") for c in regions.cells[res == r].tolist()]
        shape = h3.cells_to_h3shape(ids, tight=True)
        polys = shape.__geo_interface__
        rings = [polys["coordinates"]] if polys["type"] == "Polygon" else polys["coordinates"]
        for poly in rings:
            for ring in poly:
                xy = np.asarray(ring, dtype=np.float64)
                if np.ptp(xy[:, 0]) > 180.0:
                    # Crosses the antimeridian: continue east past 180° (deck.gl draws longitudes > 180)
                    # instead of letting the fill wrap the long way round the globe.
                    xy[:, 0] = np.where(xy[:, 0] < 0, xy[:, 0] + 360.0, xy[:, 0])
                paths.append(np.round(xy, 5).tolist())
    return paths


TOOLTIP = {
    "html": "<b>#{rank}</b> &nbsp; p = {prob_pct}% &nbsp; area {area_km2} km²<br/>"
    "top {rank} cells: {cum_pct}% in {cum_area_km2} km²", "style": {"backgroundColor": "#1c1c24", "color": "#f0f0f0", "fontSize": "12px"}}


def build_deck(data: MapData, initial_view: Mapping[str, float], truth: tuple[float, float] | None = None, map_style: str | None = None):
    """A pydeck Deck: density hexagons, budget outlines on top, and the ground-truth point if any.

    The Deck serialises compactly (no indentation) so the payload is what the records weigh.
    """
    import pydeck as pdk

    layers = [
        pdk.Layer(
            "H3HexagonLayer",
            id="density",
            data=data.records,
            get_hexagon="h3",
            get_fill_color="colour",
            filled=True,
            stroked=False,
            extruded=False,
            pickable=True,
            high_precision=True,
            auto_highlight=True,
        ),
        # The budget as one translucent cyan overlay of the union of its cells. Lines are avoided on
        # purpose: in headless Chromium (SwiftShader) deck.gl draws pixel-wide paths and hexagon strokes
        # tens of pixels wide, and 3,000 res-7 outlines merge into a blob at the zoom that frames the budget.
        pdk.Layer(
            "PolygonLayer",
            id="budget",
            data=[{"polygon": p} for p in budget_outline(data.budget)],
            get_polygon="polygon",
            get_fill_color=[60, 220, 255, 60],
            filled=True,
            stroked=False,
            pickable=False,
        ),
    ]
    if truth is not None:
        layers.append(
            pdk.Layer(
                "ScatterplotLayer",
                id="truth",
                data=[{"lat": truth[0], "lon": truth[1], "rank": "EXIF GPS", "prob_pct": "-", "area_km2": "-", "cum_pct": "-", "cum_area_km2": "-"}],
                get_position=["lon", "lat"],
                get_fill_color=[0, 230, 255, 255],
                get_line_color=[0, 0, 0, 255],
                stroked=True,
                radius_units="pixels",
                get_radius=7,
                line_width_units="pixels",
                get_line_width=2,
                pickable=True,
            )
        )
    return CompactDeck(layers=layers, initial_view_state=pdk.ViewState(**initial_view), map_style=map_style, tooltip=TOOLTIP)


@functools.lru_cache(maxsize=1)
def _compact_deck_class():
    import pydeck as pdk
    from pydeck.bindings.json_tools import default_serialize

    class _CompactDeck(pdk.Deck):
        """pydeck's own to_json indents and sorts keys: ~3x the bytes for big data; this one is compact."""

        def to_json(self) -> str:
            return json.dumps(self, default=default_serialize, separators=(",", ":"), ensure_ascii=False)

    return _CompactDeck


def CompactDeck(**kwargs):  # noqa: N802 - behaves like a class constructor
    """A ``pydeck.Deck`` whose JSON has no indentation (same keyword arguments as ``pydeck.Deck``)."""
    return _compact_deck_class()(**kwargs)


# --------------------------------------------------------------------------------------------- query params


@dataclass
class ViewParams:
    """The shareable part of the view: expert weights, area budget (km²), refinement, shown expert and
    the analyst's evidence."""

    weights: dict[str, float] = field(default_factory=dict)
    budget_km2: float = DEFAULT_BUDGET_KM2
    refine: int = DEFAULT_REFINE
    show: str = "ensemble"
    evidence: AnalystEvidence = field(default_factory=AnalystEvidence)


def encode_query(params: ViewParams) -> dict[str, str]:
    """Query parameters (string values) for a view; defaults are left out to keep URLs short."""
    q: dict[str, str] = {}
    if params.weights:
        q["w"] = ";".join(f"{quote(n, safe=' ')}:{_num(v)}" for n, v in params.weights.items())
    if params.budget_km2 != DEFAULT_BUDGET_KM2:
        q["budget"] = _num(params.budget_km2)
    if params.refine != DEFAULT_REFINE:
        q["res"] = str(int(params.refine))
    if params.show != "ensemble":
        q["show"] = params.show
    ev = params.evidence
    if ev.point is not None:
        q["guess"] = f"{_num(ev.point[0])},{_num(ev.point[1])}"
        q["radius"] = _num(ev.radius_km)
    if ev.include:
        q["in"] = ",".join(ev.include)
    if ev.exclude:
        q["out"] = ",".join(ev.exclude)
    if ev.hard:
        q["hard"] = "1"
    if ev.attributes:
        q["attr"] = ",".join(ev.attributes)
    return q


def decode_query(query: Mapping[str, str], country_codes: Sequence[str] | None = None) -> tuple[ViewParams, list[str]]:
    """Read a view back from query parameters; invalid parts are dropped with a message each.

    Args:
        query: parameter -> value (as ``st.query_params`` gives them).
        country_codes: valid ISO-3 codes (unknown ones are dropped); None accepts any.

    Returns:
        (params, messages).
    """
    p, msgs = ViewParams(), []
    if "w" in query:
        for item in str(query["w"]).split(";"):
            name, _, val = item.rpartition(":")
            try:
                v = float(val)
                if not (math.isfinite(v) and 0 <= v <= WEIGHT_MAX):
                    raise ValueError
                p.weights[unquote(name)] = v
            except ValueError:
                msgs.append(f"ignored weight {item!r} (need name:number between 0 and {WEIGHT_MAX:g})")
    if "budget" in query:
        try:
            b = float(query["budget"])
            if not BUDGET_MIN_KM2 <= b <= BUDGET_MAX_KM2:
                raise ValueError
            p.budget_km2 = b
        except ValueError:
            msgs.append(f"ignored budget {query['budget']!r} (need km² between {BUDGET_MIN_KM2:g} and {BUDGET_MAX_KM2:g})")
    if "res" in query:
        try:
            r = int(query["res"])
            if not 3 <= r <= 7:
                raise ValueError
            p.refine = r
        except ValueError:
            msgs.append(f"ignored res {query['res']!r} (need 3..7)")
    if "show" in query:
        p.show = str(query["show"])
    point, radius = None, 100.0
    if "guess" in query:
        try:
            point = parse_latlon(str(query["guess"]))
        except ValueError as err:
            msgs.append(f"ignored guess: {err}")
    if "radius" in query:
        try:
            radius = float(query["radius"])
            if not (math.isfinite(radius) and radius > 0):
                raise ValueError
        except ValueError:
            msgs.append(f"ignored radius {query['radius']!r}")
            radius = 100.0

    def codes(key: str) -> tuple[str, ...]:
        vals = [c.strip().upper() for c in str(query.get(key, "")).split(",") if c.strip()]
        bad = [c for c in vals if country_codes is not None and c not in country_codes]
        if bad:
            msgs.append(f"ignored unknown country codes {bad}")
        return tuple(c for c in vals if c not in bad)

    attrs = [a for a in str(query.get("attr", "")).split(",") if a]
    bad_attrs = [a for a in attrs if a not in ATTRIBUTE_TERMS]
    if bad_attrs:
        msgs.append(f"ignored unknown attributes {bad_attrs}")
    p.evidence = AnalystEvidence(
        point=point,
        radius_km=radius,
        include=codes("in"),
        exclude=codes("out"),
        hard=str(query.get("hard", "")) in ("1", "true"),
        attributes=tuple(a for a in attrs if a in ATTRIBUTE_TERMS),
    )
    return p, msgs


def _num(v: float) -> str:
    return f"{float(v):.6g}"


def log_budget_options(lo: float = BUDGET_MIN_KM2, hi: float = BUDGET_MAX_KM2, per_decade: int = 4) -> list[float]:
    """Area budgets (km²) on a log scale for a select slider: 1, 1.8, 3.2, 5.6, 10, ... (rounded)."""
    n = int(round(math.log10(hi / lo) * per_decade))
    vals = lo * 10 ** (np.arange(n + 1) / per_decade)
    return [float(f"{v:.2g}") for v in vals]


def format_km2(a: float) -> str:
    """Area for people: '2,500 km²', '1.2 M km²'."""
    if a >= 1e6:
        return f"{a / 1e6:.3g} M km²"
    if a >= 100:
        return f"{a:,.0f} km²"
    return f"{a:.3g} km²"


def disc_radius_km(area_km2: float) -> float:
    """Radius (km) of a flat disc of that area, for intuition ("as big as a 56 km radius circle")."""
    return math.sqrt(area_km2 / math.pi)


# --------------------------------------------------------------------------------------------- uploads

MAX_UPLOAD_BYTES = 25 * 1024 * 1024
"""Per-file cap; matches server.maxUploadSize in .streamlit/config.toml (MB)."""


def load_uploads(items: Sequence[tuple[str, bytes]], loader, max_bytes: int = MAX_UPLOAD_BYTES) -> tuple[list, list[str]]:
    """Decode uploaded files in memory; bad files become one message each, never an exception.

    Args:
        items: (file name, bytes) pairs.
        loader: ``load_photo(data, name)`` raising ``ValueError`` (PhotoError) with a user-facing message.
        max_bytes: size cap per file.

    Returns:
        (photos that loaded, messages for the ones that did not).
    """
    photos, messages = [], []
    for name, data in items:
        if len(data) > max_bytes:
            messages.append(f"{name}: {len(data) / 2**20:.1f} MB is over the {max_bytes / 2**20:.0f} MB limit")
            continue
        try:
            photos.append(loader(data, name=name))
        except ValueError as err:
            msg = str(err)  # the photo loader already names the file; do not say it twice
            messages.append(msg if msg.startswith(f"{name}:") else f"{name}: {msg}")
        except Exception as err:  # noqa: BLE001 - a decoder bug must not become a traceback in the UI
            messages.append(f"{name}: could not be read as an image ({type(err).__name__})")
    return photos, messages
