"""The map as the browser's own deck.gl component receives it: compact, binary layers (no Streamlit here).

``st.pydeck_chart`` sends the whole deck as JSON on every change and the browser parses it and rebuilds
every layer: ~0.7 MB and half a second of a 2-core machine per slider move. The workbench's map component
(``assets/deckmap/index.html``) instead receives this spec, a few hundred kB of base64 arrays, and keeps
what did not change: the same H3 ids keep their hexagons (only the colours are recomputed), the same
borders key keeps the borders, and the camera moves only when ``camera["key"]`` changes (so sliders keep
the analyst's pan and zoom).

Spec (schema ``geolocate.mapspec/1``)::

    {"schema", "seq", "height",
     "camera": {"key", "latitude", "longitude", "zoom"},
     "tiles": URL template of raster tiles or null (privacy mode: the browser fetches nothing),
     "context": cells, "density": cells + ({"prob", "area"} or {"labels", "label", "label_bytes"}),
     "outline": paths, "borders": paths + {"key"}, "cities": [[name, lat, lon], ...],
     "marker": [lat, lon] or null, "guess": [lat, lon] or null, "click": bool,
     "multiples": [{"title", "context", "density", "outline"}], "points": [[label, lat, lon], ...]}

    cells = {"h3": "id,id,...", "rgba": base64 uint8 (n*4)}
    labels = distinct texts; label = base64 uint16 (label_bytes 2) or uint32 (4): each cell's text index
    paths = {"coords": base64 float32 [lon, lat, ...], "starts": base64 int32 (vertex index of each path), "n"}

:func:`decode` turns a spec back into plain layers (``{"layers": [{"id", "data"}], "initialViewState"}``),
for tests and for tools that read what the browser was sent.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict, Unpack

import numpy as np

from .data import MapData, budget_outline

SCHEMA = "geolocate.mapspec/1"


def _b64(arr: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(arr).tobytes()).decode("ascii")


def _unb64(text: str, dtype: Any) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=dtype)


def cells_spec(
    cells: np.ndarray,
    rgba: np.ndarray,
    prob: np.ndarray | None = None,
    area_km2: np.ndarray | None = None,
    labels: Sequence[str] | None = None,
) -> dict:
    """H3 cells and their colours (and, for pickable cells, probability and area, or a label) in the spec's form.

    Args:
        cells: uint64 H3 ids, shape (n,).
        rgba: uint8 colours, shape (n, 4).
        prob: probability of each cell, shape (n,) (tooltips; densest first, so cumulative sums are ranks).
        area_km2: area of each cell (km²), shape (n,).
        labels: a plain-text label per cell shown on hover instead of the probability; sent as the
            distinct texts ("labels") and each cell's index among them ("label", base64 uint16 or uint32).
    """
    out: dict[str, Any] = {"h3": ",".join(format(c, "x") for c in np.asarray(cells, dtype=np.uint64).tolist()), "rgba": _b64(np.asarray(rgba, dtype=np.uint8))}
    if labels is not None:
        texts, index = np.unique(np.asarray(list(labels), dtype=object).astype(str), return_inverse=True)
        out["labels"] = texts.tolist()
        out["label"] = _b64(index.astype(np.uint16 if len(texts) < 65536 else np.uint32))
        out["label_bytes"] = 2 if len(texts) < 65536 else 4
    elif prob is not None and area_km2 is not None:
        out["prob"] = _b64(np.asarray(prob, dtype=np.float32))
        out["area"] = _b64(np.asarray(area_km2, dtype=np.float32))
    return out


def paths_spec(paths: Sequence[Sequence[Sequence[float]]]) -> dict:
    """Paths of [lon, lat] (degrees) as one float32 coordinate array and the start vertex of each path."""
    lengths = np.array([len(p) for p in paths], dtype=np.int32)
    coords = np.concatenate([np.asarray(p, dtype=np.float32).reshape(-1, 2) for p in paths]) if len(paths) else np.zeros((0, 2), np.float32)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int32) if len(paths) else np.zeros(0, np.int32)
    return {"coords": _b64(coords), "starts": _b64(starts), "n": len(paths)}


@functools.lru_cache(maxsize=1)
def world_borders() -> dict:
    """Every shipped border and coastline path at full detail, in the spec's form (computed once).

    Sent with every spec (~150 kB of base64); the browser rebuilds the layer only when ``key`` changes,
    so a pan anywhere shows borders and a slider move costs nothing here.
    """
    from . import basemap

    return {**paths_spec(basemap.border_paths()), "key": "world-full"}


def _cells_of(data: MapData) -> tuple[dict, dict]:
    return (
        cells_spec(data.context_cells, data.context_rgba),
        cells_spec(data.cells, data.rgba, data.prob, data.area_km2, labels=data.labels),
    )


class MapOptions(TypedDict, total=False):
    """What a map shows besides its cells, all optional (:func:`map_spec`, ``pages._deckmap.draw``).

    Attributes:
        height: map height (px), default 540.
        tiles: raster tile URL template (``{z}/{x}/{y}``) drawn under everything; None (default) in privacy mode.
        marker: a known position (EXIF GPS, the truth), (lat, lon) degrees, drawn as a fixed-size dot.
        guess: the user's guess, (lat, lon) degrees.
        click: report clicks on the map back to the app (as {"lat", "lon", "n"}).
        multiples: (title, MapData) of small linked maps drawn under the main one.
        points: (lat, lon, label) of places drawn as pink dots whose plain-text label shows on hover
            (e.g. every student's guess).
    """

    height: int
    tiles: str | None
    marker: tuple[float, float] | None
    guess: tuple[float, float] | None
    click: bool
    multiples: Sequence[tuple[str, MapData]]
    points: Sequence[tuple[float, float, str]]


def map_spec(
    data: MapData,
    camera: Mapping[str, float],
    camera_key: str,
    *,
    seq: int = 0,
    borders: Mapping[str, Any] | None = None,
    cities: Sequence[Mapping[str, Any]] = (),
    **options: Unpack[MapOptions],
) -> dict:
    """The spec of one map (see the module docstring).

    Args:
        data: the main map's cells (from :func:`geolocate.maps.data.map_records` or ``category_map``).
        camera: latitude, longitude (degrees) and zoom the camera is fitted to.
        camera_key: the browser moves its camera only when this changes (a new view, not a slider move).
        seq: a number that changes on every call (the browser writes it on its body once drawn).
        borders: border and coastline paths (:func:`paths_spec` plus a "key"; e.g. :func:`world_borders`);
            the browser rebuilds the layer only when the key changes. None draws none.
        cities: place labels, dicts with name, lat, lon.
        **options: see :class:`MapOptions`.
    """
    marker, guess = options.get("marker"), options.get("guess")
    multiples, points = options.get("multiples", ()), options.get("points", ())
    context, density = _cells_of(data)
    small = []
    for title, d in multiples:
        c, dens = _cells_of(d)
        small.append({"title": title, "context": c, "density": dens, "outline": paths_spec(budget_outline(d.budget))})
    return {
        "schema": SCHEMA,
        "seq": int(seq),
        "height": int(options.get("height", 540)),
        "camera": {"key": str(camera_key), "latitude": float(camera["latitude"]), "longitude": float(camera["longitude"]), "zoom": float(camera["zoom"])},
        "tiles": options.get("tiles"),
        "context": context,
        "density": density,
        "outline": paths_spec(budget_outline(data.budget)),
        "borders": dict(borders) if borders is not None else {**paths_spec([]), "key": "none"},
        "cities": [[str(c["name"]), round(float(c["lat"]), 4), round(float(c["lon"]), 4)] for c in cities],
        "marker": [float(marker[0]), float(marker[1])] if marker is not None else None,
        "guess": [float(guess[0]), float(guess[1])] if guess is not None else None,
        "click": bool(options.get("click", False)),
        "multiples": small,
        "points": [[str(t), round(float(la), 5), round(float(lo), 5)] for la, lo, t in points],
    }


def _decode_cells(spec: Mapping[str, Any]) -> list[dict]:
    ids = spec["h3"].split(",") if spec["h3"] else []
    rgba = _unb64(spec["rgba"], np.uint8).reshape(-1, 4).tolist()
    rows = [{"h3": h, "colour": c} for h, c in zip(ids, rgba)]
    if "labels" in spec:
        index = _unb64(spec["label"], np.uint16 if spec.get("label_bytes", 2) == 2 else np.uint32).tolist()
        for row, k in zip(rows, index):
            row["label"] = spec["labels"][k]
    if "prob" in spec:
        for row, p, a in zip(rows, _unb64(spec["prob"], np.float32).tolist(), _unb64(spec["area"], np.float32).tolist()):
            row["prob"], row["area_km2"] = p, a
    return rows


def decode_paths(spec: Mapping[str, Any]) -> list[list[list[float]]]:
    """The paths of a :func:`paths_spec` as lists of [lon, lat] (float32 precision)."""
    coords = _unb64(spec["coords"], np.float32).reshape(-1, 2)
    starts = _unb64(spec["starts"], np.int32).tolist() + [len(coords)]
    return [coords[a:b].tolist() for a, b in zip(starts[:-1], starts[1:])]


def decode(spec: Mapping[str, Any]) -> dict:
    """The layers the browser draws from a spec, as plain lists (ids as the component names them).

    Returns:
        {"initialViewState": camera, "tiles", "layers": [{"id", "data"}, ...], "multiples": [...]}, with
        layer ids context, density, borders, budget_halo, budget, city_dots, city_labels, truth, guess,
        points (the last three only when present).
    """
    outline = [{"path": p} for p in decode_paths(spec["outline"])]
    cities = [{"name": n, "lat": la, "lon": lo} for n, la, lo in spec["cities"]]
    layers = [
        {"id": "context", "data": _decode_cells(spec["context"])},
        {"id": "density", "data": _decode_cells(spec["density"])},
        {"id": "borders", "data": [{"path": p} for p in decode_paths(spec["borders"])]},
        {"id": "budget_halo", "data": outline},
        {"id": "budget", "data": outline},
        {"id": "city_dots", "data": cities},
        {"id": "city_labels", "data": cities},
    ]
    if spec.get("marker"):
        layers.append({"id": "truth", "data": [{"lat": spec["marker"][0], "lon": spec["marker"][1]}]})
    if spec.get("guess"):
        layers.append({"id": "guess", "data": [{"lat": spec["guess"][0], "lon": spec["guess"][1]}]})
    if spec.get("points"):
        layers.append({"id": "points", "data": [{"label": t, "lat": la, "lon": lo} for t, la, lo in spec["points"]]})
    cam = {k: v for k, v in spec["camera"].items() if k != "key"}
    return {
        "initialViewState": cam,
        "tiles": spec.get("tiles"),
        "layers": layers,
        "multiples": [{"title": m["title"], "density": _decode_cells(m["density"]), "context": _decode_cells(m["context"])} for m in spec.get("multiples", [])],
    }
