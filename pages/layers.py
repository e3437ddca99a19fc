"""Layers: the geodata behind the attribute experts and priors, on the map (for teaching)."""

from __future__ import annotations

import colorsys

import numpy as np
import pandas as pd
import streamlit as st

st.title("Layers")
st.caption(
    "An attribute expert turns what a photo shows (say, *forest* or *a city*) into a map by asking, for every hexagon, "
    "how much of it has that attribute. These are the layers it asks. Each hexagon shows its dominant class; hover "
    "for the class and its share of the hexagon. The layers themselves are finer than this map: land cover at MODIS's "
    "0.05° (H3 res 6, ~36 km²), countries to res 7 (~5 km²) along borders; the experts read them at the scale of the "
    "cells they score."
)
# A fresh server's first visit loads libraries, the layer and the offline basemap (seconds): the bar is drawn
# before any of it, so the page is never blank while it works.
loading = st.empty()
loading.progress(0.05, text="Loading the map libraries (first visit to this server only)…")

from geolocate.grid import global_grid  # noqa: E402 - after the progress bar, see above
from geolocate.maps import basemap, camera  # noqa: E402
from geolocate.maps import data as mapdata  # noqa: E402
from geolocate.maps import spec as mapspec  # noqa: E402
from geolocate.maps.data import MapData  # noqa: E402
from pages import _deckmap  # noqa: E402
from pages._shared import shared_countries  # noqa: E402, F401 - routes a first direct visit through app.py

LAYERS = {
    "Land cover (MODIS IGBP)": "landcover",
    "Population density (GeoNames)": "population",
    "Countries (Natural Earth)": "countries",
    "Scene: indoor / natural / urban": "scene",
}

IGBP_COLOURS = [
    (30, 60, 120), (5, 73, 7), (8, 106, 42), (84, 167, 8), (120, 210, 3), (0, 153, 0), (198, 176, 68), (220, 209, 89),
    (218, 222, 72), (251, 255, 19), (182, 255, 5), (39, 255, 135), (194, 79, 68), (255, 40, 40), (150, 200, 100),
    (240, 240, 250), (180, 170, 160),
]
POP_COLOURS = [(40, 40, 60), (70, 90, 140), (90, 160, 170), (240, 190, 60), (255, 80, 40)]
SCENE_COLOURS = [(200, 120, 220), (60, 180, 90), (240, 90, 60)]


def _palette(n: int) -> list[tuple[int, int, int]]:
    """Distinct colours for many classes (countries): golden-ratio hues."""
    out = []
    for i in range(n):
        r, g, b = colorsys.hsv_to_rgb((i * 0.618034) % 1, 0.55, 0.9)
        out.append((int(255 * r), int(255 * g), int(255 * b)))
    return out


@st.cache_resource(show_spinner=False)  # the page's progress bar says what is happening
def layer_map(key: str, res: int) -> tuple[MapData, list[str], list[tuple[int, int, int]], str]:
    """The layer as a category map (land only where the layer has a 'nothing' class; each hexagon its
    dominant class, hover: the class and its share), class names, colours, source. Read-only once built."""
    from geolocate import layers as L

    layer = {"landcover": L.landcover_layer, "population": L.geonames_population_layer, "countries": L.country_layer, "scene": L.scene_layer}[key]()
    frac = layer.at_resolution(res)
    dom = np.argmax(frac, axis=1)
    share = frac[np.arange(len(frac)), dom]
    grid = global_grid(res)
    if key == "landcover":
        keep, colours, names = dom != 0, IGBP_COLOURS, list(layer.classes)
    elif key == "countries":
        keep, colours = dom != 0, [(0, 0, 0)] + _palette(len(layer.classes) - 1)
        iso = {c["iso3"]: c["name"] for c in L.country_table()}
        names = ["sea"] + [iso.get(c, c) for c in layer.classes[1:]]
    elif key == "population":
        keep, colours, names = L.landcover_layer().at_resolution(res)[:, 0] < 0.5, POP_COLOURS, list(layer.classes)
    else:
        keep, colours, names = L.landcover_layer().at_resolution(res)[:, 0] < 0.5, SCENE_COLOURS, list(layer.classes)
    idx = np.flatnonzero(keep)
    rgba = np.column_stack([np.asarray(colours, dtype=np.uint8)[dom[idx]], np.full(len(idx), 190, dtype=np.uint8)])
    pct = np.round(share[idx] * 100).astype(int)
    labels = [f"{names[d]} ({p}% of the hexagon)" for d, p in zip(dom[idx].tolist(), pct.tolist())]
    return mapdata.category_map(grid.cells[idx], rgba, labels), names, colours, layer.source


choice = st.radio("Layer", list(LAYERS), horizontal=True)
res = st.select_slider("Hexagon resolution", options=[2, 3], value=2, format_func=lambda r: {2: "res 2 (~87,000 km², fast)", 3: "res 3 (~12,000 km²)"}[r])
loading.progress(0.4, text=f"Reading the layer: {choice} (first time at this resolution only)…")
try:
    data, names, colours, source = layer_map(LAYERS[choice], res)
except Exception as err:  # noqa: BLE001 - a missing layer file gives its fix, not a traceback
    loading.empty()
    st.warning(f"{choice} is not available: {err}")
    st.stop()
loading.progress(0.7, text="Loading the offline basemap: borders and city names (first visit only)…")
# What draw() reads, cached per process; assigned, since Streamlit's magic would print a bare expression's value.
_basemap = (mapspec.world_borders(), basemap.view_city_labels(camera.WORLD_VIEW))
loading.progress(0.9, text="Drawing the map…")
_deckmap.draw(data, camera.WORLD_VIEW, "layers-world", key="layer_map", height=520)  # offline borders and city names
loading.empty()
st.caption(f"Source: {source}. {len(data.cells):,} hexagons. Hover a hexagon for its class and its share of the hexagon.")

present = sorted({t.rsplit(" (", 1)[0] for t in data.labels or []})
if len(present) <= 25:
    legend = pd.DataFrame({"class": names, "colour": ["#{:02x}{:02x}{:02x}".format(*c) for c in colours[: len(names)]]})
    legend = legend[legend["class"].isin(present)]
    st.dataframe(
        legend.style.apply(lambda col: [f"background-color: {v}; color: {v}" for v in col], subset=["colour"]),
        hide_index=True,
    )


def osm_extracts() -> None:
    """The OpenStreetMap extracts imported for 'What is visible' queries, and their coverage on a map."""
    st.subheader("OpenStreetMap extracts (for 'What is visible')")
    try:
        from geolocate.osm.store import default_store_dir, load_store

        store = load_store(default_store_dir())
    except Exception as err:  # noqa: BLE001 - no store (or no pyosmium) is a caption, not a traceback
        st.caption(f"No feature store could be read ({type(err).__name__}).")
        return
    if store.is_empty:
        st.caption("No extract imported. Import one with: python -m geolocate osm import EXTRACT.osm.pbf (any Geofabrik region, country or the planet).")
        return
    st.dataframe(
        {
            "extract": [str(m.get("name", "")) for m in store.extracts],
            "features": [int(m.get("features", 0)) for m in store.extracts],
            "coverage (km²)": [round(float(m.get("coverage_km2", 0.0)), 1) for m in store.extracts],
        },
        hide_index=True,
    )
    cells = store.coverage.cells
    if len(cells):
        from geolocate.grid import cell_centers, cell_resolutions, cells_to_parents

        while len(cells) > 20_000:  # a country's coverage: drawn at a coarser resolution
            cells = np.unique(cells_to_parents(cells, int(cell_resolutions(cells).max()) - 1))

        lat, lon = cell_centers(cells)
        rgba = np.tile(np.array([[0, 200, 255, 140]], dtype=np.uint8), (len(cells), 1))
        cover = mapdata.category_map(cells, rgba, ["covered by an imported extract"] * len(cells))
        cam = camera.fit_view(lat, lon, pad_deg=0.05)
        _deckmap.draw(cover, cam, "layers-osm", key="osm_coverage", height=360)
        st.caption(f"Covered area: {store.coverage.area_km2:,.1f} km². Outside it a map-feature query is unknown, never ruled out.")


osm_extracts()
