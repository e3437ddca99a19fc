"""The pydeck fallback map (used only when the browser component is unavailable)."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

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

    out = [
        pdk.Layer(
            "PathLayer",
            id="borders",
            data=[{"path": p} for p in border_paths_near(view)],
            get_path="path",
            get_color=[150, 160, 175, 150],
            get_width=1,
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
    layers += base[1:]
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


