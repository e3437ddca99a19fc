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
     "outline": paths, "borders": paths + {"key"}, "cities": [[name, lat, lon, min_zoom], ...],
     "marker": [lat, lon] or null, "guess": [lat, lon] or null, "click": bool,
     "multiples": [{"title", "context", "density", "outline", "camera"}], "points": [[label, lat, lon], ...],
     "lines": [[lat1, lon1, lat2, lon2, label], ...], "shapes": [{"kind", "path"}, ...],
     "graticule": [[min_zoom, step_deg], ...], "detail": [[min_zoom, file], ...]}

    cells = {"h3": "id,id,...", "rgba": base64 uint8 (n*4)}
    labels = distinct texts; label = base64 uint16 (label_bytes 2) or uint32 (4): each cell's text index
    paths = {"coords": base64 float32 [lon, lat, ...], "starts": base64 int32 (vertex index of each path), "n"}

``cities``: place labels (plain text), each drawn once the view's zoom reaches its ``min_zoom`` (0: always;
``geolocate.maps.basemap.zoom_city_labels``), over every cell layer.
``lines`` (reveal maps): each a great-circle line from (lat1, lon1) to (lat2, lon2), degrees, with a
plain-text label (e.g. "Alice: 1,234 km") drawn at its midpoint (:func:`great_circle_midpoint`).
``shapes`` (evidence areas): closed rings of [lon, lat] degrees; ``kind`` is "guess" (a white dashed
ring), "include" (green) or "exclude" (red). ``graticule``: the component draws meridians and parallels
every ``step_deg`` from ``min_zoom`` on (the last row whose min_zoom the view reaches), [] for none.
``detail``: finer borders and coastlines the component fetches from its own folder once the view zooms
past ``min_zoom`` (``geolocate.maps.basemap.DETAIL_LEVELS``; [] when the spec has no borders).
A small multiple's ``camera`` frames its own cells (latitude, longitude, zoom; :func:`multiple_camera`).

:func:`decode` turns a spec back into plain layers (``{"layers": [{"id", "data"}], "initialViewState"}``),
for tests and for tools that read what the browser was sent.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict, Unpack

import numpy as np

from . import basemap
from .data import MapData, budget_outline

SCHEMA = "geolocate.mapspec/1"

SHAPE_KINDS = ("guess", "include", "exclude")
"""Kinds of evidence areas (``shapes``): a guess's ring (white, dashed), an area to include (green), to exclude (red)."""

GRATICULE_STEPS: tuple[tuple[float, float], ...] = ((0.0, 30.0), (3.0, 10.0), (5.0, 5.0), (7.0, 1.0))
"""(min zoom, step in degrees) of the graticule: lines every 30° on a world view, down to every 1° from zoom 7."""

SMALL_WIDTH_PX, SMALL_HEIGHT_PX = 270, 230
"""Size a small multiple's camera is fitted to (a third of the main map's width, the component's height)."""


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
        lines: (lat1, lon1, lat2, lon2, label) great-circle lines (degrees), e.g. from a guess to the
            truth, the plain-text label (e.g. "Alice: 1,234 km") drawn at the midpoint.
        shapes: evidence areas, {"kind": "guess" | "include" | "exclude", "path": [[lon, lat], ...]}
            (closed rings, degrees; e.g. ``geolocate.evidence.analyst.map_shapes``).
        graticule: draw meridians and parallels (default True; steps by zoom: :data:`GRATICULE_STEPS`).
    """

    height: int
    tiles: str | None
    marker: tuple[float, float] | None
    guess: tuple[float, float] | None
    click: bool
    multiples: Sequence[tuple[str, MapData]]
    points: Sequence[tuple[float, float, str]]
    lines: Sequence[tuple[float, float, float, float, str]]
    shapes: Sequence[Mapping[str, Any]]
    graticule: bool


def great_circle_midpoint(lat1: float, lon1: float, lat2: float, lon2: float) -> tuple[float, float]:
    """The point halfway along the great circle between two points, (lat, lon) degrees (lon in [-180, 180)).

    Antipodes have no unique great circle: the midpoint of the one through the north-south plane of
    the first point is returned.
    """
    from ..grid import latlon_to_xyz

    a, b = latlon_to_xyz(np.array([lat1, lat2], dtype=np.float64), np.array([lon1, lon2], dtype=np.float64))
    m = a + b
    norm = float(np.linalg.norm(m))
    if norm < 1e-9:  # antipodes: any great circle through both; take the one through the pole side
        return (float(90.0 - abs(lat1)), float(((lon1 + (0.0 if lat1 <= 0 else 180.0)) + 180.0) % 360.0 - 180.0))
    m /= norm
    return (float(np.degrees(np.arcsin(np.clip(m[2], -1.0, 1.0)))), float(np.degrees(np.arctan2(m[1], m[0]))))


def _lines(lines: Sequence[Sequence[Any]]) -> list[list[Any]]:
    out = []
    for row in lines:
        la1, lo1, la2, lo2, label = row
        vals = [float(la1), float(lo1), float(la2), float(lo2)]
        if not all(np.isfinite(vals)) or abs(vals[0]) > 90 or abs(vals[2]) > 90:
            raise ValueError(f"a line needs finite latitudes in [-90, 90] degrees, got {vals}")
        out.append([round(v, 5) for v in vals] + [str(label)])
    return out


def _shapes(shapes: Sequence[Mapping[str, Any]]) -> list[dict]:
    out = []
    for shape in shapes:
        kind = str(shape.get("kind", ""))
        if kind not in SHAPE_KINDS:
            raise ValueError(f"a shape's kind is one of {', '.join(SHAPE_KINDS)}, got {kind!r}")
        path = np.asarray(shape.get("path", []), dtype=np.float64).reshape(-1, 2)
        if len(path) < 3 or not np.isfinite(path).all():
            raise ValueError(f"a {kind} shape needs a ring of at least 3 finite [lon, lat] points")
        if np.ptp(path[:, 0]) > 180.0:  # crosses the antimeridian: continue east past 180° (as budget_outline)
            path[:, 0] = np.where(path[:, 0] < 0, path[:, 0] + 360.0, path[:, 0])
        if not np.array_equal(path[0], path[-1]):
            path = np.vstack([path, path[:1]])  # closed rings: the component draws paths as given
        out.append({"kind": kind, "path": np.round(path, 5).tolist()})
    return out


def map_shapes_checked(shapes: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Evidence areas as the spec carries them: kinds checked, rings closed and unwrapped across 180°.

    Raises:
        ValueError: an unknown kind or a ring of fewer than 3 finite points.
    """
    return _shapes(shapes)


def multiple_camera(data: MapData, width_px: int = SMALL_WIDTH_PX, height_px: int = SMALL_HEIGHT_PX) -> dict:
    """A camera that frames a small multiple's own cells: its budget's cells, else its drawn cells.

    Returns:
        {"latitude", "longitude", "zoom"} (degrees; the world view for a map with no cells).
    """
    from ..grid import cell_centers
    from .camera import WORLD_VIEW, fit_view

    if len(data.budget):
        lat, lon = data.budget.lat, data.budget.lon
    elif len(data.cells):
        lat, lon = cell_centers(data.cells[:200])
    else:
        return {k: float(WORLD_VIEW[k]) for k in ("latitude", "longitude", "zoom")}
    extent = max(float(np.ptp(lat)), 1.0)
    cam = fit_view(lat, lon, pad_deg=0.25 * extent, width_px=width_px, height_px=height_px)
    return {k: float(cam[k]) for k in ("latitude", "longitude", "zoom")}


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
        cities: place labels, dicts with name, lat, lon and optionally min_zoom (drawn from that zoom on).
        **options: see :class:`MapOptions`.
    """
    marker, guess = options.get("marker"), options.get("guess")
    multiples, points = options.get("multiples", ()), options.get("points", ())
    context, density = _cells_of(data)
    small = []
    for title, d in multiples:
        c, dens = _cells_of(d)
        small.append({"title": title, "context": c, "density": dens, "outline": paths_spec(budget_outline(d.budget)), "camera": multiple_camera(d)})
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
        "cities": [[str(c["name"]), round(float(c["lat"]), 4), round(float(c["lon"]), 4), float(c.get("min_zoom", 0.0))] for c in cities],
        "marker": [float(marker[0]), float(marker[1])] if marker is not None else None,
        "guess": [float(guess[0]), float(guess[1])] if guess is not None else None,
        "click": bool(options.get("click", False)),
        "multiples": small,
        "points": [[str(t), round(float(la), 5), round(float(lo), 5)] for la, lo, t in points],
        "lines": _lines(options.get("lines", ())),
        "shapes": _shapes(options.get("shapes", ())),
        "graticule": [list(step) for step in GRATICULE_STEPS] if options.get("graticule", True) else [],
        "detail": [[lv.min_zoom, lv.file] for lv in basemap.DETAIL_LEVELS] if borders is not None else [],
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
        {"initialViewState": camera, "tiles", "graticule", "layers": [{"id", "data"}, ...], "multiples": [...]},
        with layer ids in the component's drawing order: context, density, borders, budget_halo, budget,
        shapes, lines, city_dots, city_labels, line_labels, truth, guess, points (shapes, lines,
        line_labels, truth, guess and points only when present). Labels come after every cell layer: they
        draw above the cells.
    """
    outline = [{"path": p} for p in decode_paths(spec["outline"])]
    cities = [{"name": c[0], "lat": c[1], "lon": c[2], "min_zoom": c[3] if len(c) > 3 else 0.0} for c in spec["cities"]]
    layers = [
        {"id": "context", "data": _decode_cells(spec["context"])},
        {"id": "density", "data": _decode_cells(spec["density"])},
        {"id": "borders", "data": [{"path": p} for p in decode_paths(spec["borders"])]},
        {"id": "budget_halo", "data": outline},
        {"id": "budget", "data": outline},
    ]
    if spec.get("shapes"):
        layers.append({"id": "shapes", "data": [{"kind": sh["kind"], "path": sh["path"]} for sh in spec["shapes"]]})
    lines = [{"from": [la1, lo1], "to": [la2, lo2], "label": t} for la1, lo1, la2, lo2, t in spec.get("lines", [])]
    if lines:
        layers.append({"id": "lines", "data": lines})
    layers += [{"id": "city_dots", "data": cities}, {"id": "city_labels", "data": cities}]
    if lines:
        mids = [great_circle_midpoint(*ln["from"], *ln["to"]) for ln in lines]
        layers.append({"id": "line_labels", "data": [{"label": ln["label"], "lat": m[0], "lon": m[1]} for ln, m in zip(lines, mids)]})
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
        "graticule": [tuple(step) for step in spec.get("graticule", [])],
        "layers": layers,
        "multiples": [
            {"title": m["title"], "density": _decode_cells(m["density"]), "context": _decode_cells(m["context"]), "camera": m.get("camera")}
            for m in spec.get("multiples", [])
        ],
    }
