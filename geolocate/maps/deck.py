"""The pydeck fallback map (used only when the browser component is unavailable)."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .data import HALO_RGBA, MARKER_RGBA, OUTLINE_RGBA, MapData, border_paths_near, budget_outline

TOOLTIP = {
    "html": "<b>region #{rank}</b> &nbsp; p = {prob_pct}% &nbsp; area {area_km2} km²<br/>"
    "density {density} per km²<br/>regions #1–#{rank}: {cum_pct}% in {cum_area_km2} km²",
    "style": {"backgroundColor": "#1c1c24", "color": "#f0f0f0", "fontSize": "12px"},
}


def basemap_layers(view: Mapping[str, float], labels: bool = True) -> list[Any]:
    """Offline basemap layers: country borders and coastlines near the view, and labels of the largest cities in view."""
    import pydeck as pdk

    from . import basemap

    fine = basemap.detail_paths_near(view)  # 1:10m coastlines and borders when zoomed in
    out = [
        pdk.Layer(
            "PathLayer",
            id="borders",
            data=[{"path": p} for p in (fine if fine is not None else border_paths_near(view))],
            get_path="path",
            get_color=[225, 235, 250, 235] if fine is not None else [150, 160, 175, 150],
            get_width=1.5 if fine is not None else 1,
            width_units="'pixels'",
            pickable=False,
        )
    ]
    if labels:
        cities = basemap.view_city_labels(view)
        out += [
            pdk.Layer(
                "ScatterplotLayer",
                id="city_dots",
                data=cities,
                get_position=["lon", "lat"],
                get_fill_color=[230, 230, 230, 200],
                get_radius=2,
                radius_units="'pixels'",
                pickable=False,
            ),
            pdk.Layer(
                "TextLayer",
                id="city_labels",
                data=cities,
                get_position=["lon", "lat"],
                get_text="name",
                get_size=12,
                size_units="'pixels'",
                get_color=[235, 235, 235, 230],
                get_pixel_offset=[6, 0],
                get_text_anchor="'start'",
                get_alignment_baseline="'center'",
                font_family="'sans-serif'",
                outline_width=2,
                outline_color=[0, 0, 0, 255],
                font_settings={"sdf": True},
                pickable=False,
            ),
        ]
    return out


TEXT_TOOLTIP = {"text": "{label}", "style": TOOLTIP["style"]}
"""Tooltip of maps whose pickable objects carry a plain-text ``label`` (category cells, named points):
pydeck's "text" tooltip never interprets it as HTML."""
GUESS_RGBA = [255, 80, 200, 255]
"""A person's guess: pink (as the component draws it)."""


SHAPE_RGBA = {"guess": [255, 255, 255, 255], "include": [40, 230, 90, 255], "exclude": [255, 60, 60, 255]}
"""Outline of each kind of evidence area (as the component; the component also dashes a guess's ring)."""
LINE_RGBA = [255, 170, 230, 255]


def _great_circle(la1: float, lo1: float, la2: float, lo2: float, n: int = 64) -> list[list[float]]:
    """The great circle as n + 1 points [lon, lat] (degrees), longitudes continuous across 180°."""
    from ..grid import latlon_to_xyz

    a, b = latlon_to_xyz(np.array([la1, la2]), np.array([lo1, lo2]))
    w = float(np.arccos(np.clip(a @ b, -1.0, 1.0)))
    t = np.linspace(0.0, 1.0, n + 1)[:, None]
    xyz = a * (1 - t) + b * t if w < 1e-9 else (np.sin((1 - t) * w) * a + np.sin(t * w) * b) / np.sin(w)
    lon = np.degrees(np.unwrap(np.arctan2(xyz[:, 1], xyz[:, 0])))
    lat = np.degrees(np.arctan2(xyz[:, 2], np.hypot(xyz[:, 0], xyz[:, 1])))
    return np.round(np.column_stack([lon, lat]), 5).tolist()


def overlay_layers(lines: Sequence[Sequence[Any]] = (), shapes: Sequence[Mapping[str, Any]] = ()) -> tuple[list[Any], list[Any]]:
    """Evidence areas and guess-to-truth lines as pydeck layers: (under the labels, the line labels).

    Args:
        lines: (lat1, lon1, lat2, lon2, label) degrees; the label (plain text) at the great circle's midpoint.
        shapes: {"kind": "guess" | "include" | "exclude", "path": [[lon, lat], ...]} closed rings.
    """
    import pydeck as pdk

    from .spec import great_circle_midpoint

    under: list[Any] = []
    if shapes:
        rows = [{"path": [list(map(float, v)) for v in sh["path"]], "colour": SHAPE_RGBA.get(str(sh["kind"]), SHAPE_RGBA["include"])} for sh in shapes]
        under.append(pdk.Layer("PathLayer", id="shapes", data=rows, get_path="path", get_color="colour", get_width=2, width_units="'pixels'", pickable=False))
    labels: list[Any] = []
    if lines:
        rows = [{"path": _great_circle(float(ln[0]), float(ln[1]), float(ln[2]), float(ln[3])), "label": str(ln[4])} for ln in lines]
        under.append(pdk.Layer("PathLayer", id="lines", data=rows, get_path="path", get_color=LINE_RGBA, get_width=2, width_units="'pixels'", pickable=False))
        mids = [great_circle_midpoint(float(ln[0]), float(ln[1]), float(ln[2]), float(ln[3])) for ln in lines]
        text = [{"lat": m[0], "lon": m[1], "label": str(ln[4])} for m, ln in zip(mids, lines)]
        labels.append(pdk.Layer(
            "TextLayer", id="line_labels", data=text, get_position=["lon", "lat"], get_text="label", get_size=13, size_units="'pixels'",
            get_color=[255, 225, 245, 255], outline_width=3, outline_color=[0, 0, 0, 255], font_settings={"sdf": True}, pickable=False,
        ))
    return under, labels


def _point_layer(layer_id: str, rows: list[dict], rgba: list[int], radius: float, pickable: bool) -> Any:
    import pydeck as pdk

    return pdk.Layer(
        "ScatterplotLayer", id=layer_id, data=rows, get_position=["lon", "lat"], get_fill_color=rgba, get_line_color=[0, 0, 0, 255],
        # Quoted: pydeck turns bare strings into accessors ("@@=pixels"), which deck.gl ignores
        # and falls back to metres (a 7 m dot, or a flood of cyan when zoomed in).
        stroked=True, radius_units="'pixels'", get_radius=radius, line_width_units="'pixels'", get_line_width=2, pickable=pickable,
    )


def build_deck(
    data: MapData,
    initial_view: Mapping[str, float],
    truth: tuple[float, float] | None = None,
    map_style: str | None = None,
    basemap: bool = True,
    guess: tuple[float, float] | None = None,
    points: Sequence[tuple[float, float, str]] = (),
    lines: Sequence[Sequence[Any]] = (),
    shapes: Sequence[Mapping[str, Any]] = (),
) -> Any:
    """A pydeck Deck: context and density cells, the budget outline, the offline basemap and the EXIF point.

    Args:
        data: from :func:`map_records` (or :func:`category_map`: then the cells' labels are the tooltip).
        initial_view: the camera (from :func:`view_state` or :data:`WORLD_VIEW`).
        truth: (lat, lon) degrees of a known position (EXIF GPS), drawn as a small fixed-size marker.
        map_style: a tile style URL (e.g. :data:`geolocate.basemap.TILE_STYLE`); None draws no tiles and
            makes the browser fetch nothing.
        basemap: draw the offline borders and city labels.
        guess: (lat, lon) degrees of a person's guess, a pink dot.
        points: (lat, lon, label) of named places (pink dots; the label, plain text, on hover).
        lines: guess-to-truth lines (:func:`overlay_layers`).
        shapes: evidence areas (:func:`overlay_layers`).

    Layer order: cells, borders, budget outline, shapes and lines, then the labels (over every cell).

    The Deck serialises compactly (no indentation) so the payload is what the records weigh.
    """
    import pydeck as pdk

    from .basemap import NO_TILES

    labelled = data.labels is not None or len(points) > 0

    outline = [{"path": p} for p in budget_outline(data.budget)]

    def hexagons(layer_id: str, records: list, pickable: bool) -> pdk.Layer:
        return pdk.Layer(
            "H3HexagonLayer", id=layer_id, data=records, get_hexagon="h3", get_fill_color="colour",
            filled=True, stroked=False, extruded=False, high_precision=True,
            pickable=pickable, **({"auto_highlight": True} if pickable else {}),
        )

    base = basemap_layers(initial_view) if basemap else []
    # Borders over the cells, city labels over everything.
    layers = [hexagons("context", data.context, False), hexagons("density", data.records, True), *base[:1]]
    # The budget outline: a dark halo under a cyan line (cyan is not on the ramp), fixed pixel widths.
    layers += [
        pdk.Layer("PathLayer", id="budget_halo", data=outline, get_path="path", get_color=HALO_RGBA, get_width=4, width_units="'pixels'", pickable=False),
        pdk.Layer("PathLayer", id="budget", data=outline, get_path="path", get_color=OUTLINE_RGBA, get_width=2, width_units="'pixels'", pickable=False),
    ]
    under, line_labels = overlay_layers(lines, shapes)
    layers += under + base[1:] + line_labels
    if guess is not None:
        layers.append(_point_layer("guess", [{"lat": guess[0], "lon": guess[1], "label": "guess"}], GUESS_RGBA, 6, False))
    if points:
        layers.append(_point_layer("points", [{"lat": la, "lon": lo, "label": str(t)} for la, lo, t in points], GUESS_RGBA, 6, True))
    if truth is not None:
        marker = {"lat": truth[0], "lon": truth[1], "label": "true location"}
        if not labelled:  # the html tooltip's fields
            marker = {"lat": truth[0], "lon": truth[1], "rank": "EXIF GPS", "prob_pct": "-", "area_km2": "-", "density": "-", "cum_pct": "-", "cum_area_km2": "-"}
        layers.append(_point_layer("truth", [marker], MARKER_RGBA, 7, True))
    return CompactDeck(
        layers=layers,
        initial_view_state=pdk.ViewState(**initial_view),
        map_style=map_style or NO_TILES,
        map_provider="carto" if map_style else None,
        tooltip=TEXT_TOOLTIP if labelled else TOOLTIP,
    )


@functools.lru_cache(maxsize=1)
def _compact_deck_class() -> type:
    import pydeck as pdk
    from pydeck.bindings.json_tools import default_serialize

    class _CompactDeck(pdk.Deck):
        """pydeck's own to_json indents and sorts keys: ~3x the bytes for big data; this one is compact."""

        def to_json(self) -> str:
            return json.dumps(self, default=default_serialize, separators=(",", ":"), ensure_ascii=False)

    return _CompactDeck


def CompactDeck(**kwargs: Any) -> Any:  # noqa: N802 - behaves like a class constructor
    """A ``pydeck.Deck`` whose JSON has no indentation (same keyword arguments as ``pydeck.Deck``)."""
    return _compact_deck_class()(**kwargs)


