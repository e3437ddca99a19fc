"""A self-contained HTML report of one search, and map images rendered on the server (PIL, no browser).

The report is one file an analyst can attach to a case: the photo's thumbnail, EXIF summary and SHA-256,
the analyst's notes, every piece of evidence (plain text) and its weight, a world map and a map zoomed
on the search (both with land, borders, a graticule and the colour scale), the candidate areas with
their names, the top regions with place names, the shareable link (wrapped), the software version and
the time. Every value that came from a user (file names, link
text, evidence) is HTML-escaped; images are embedded as ``data:`` URIs, so opening the file fetches nothing.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .distribution import CellDistribution, RankedRegions
from .grid import cell_resolutions, cells_to_parents
from .maps.camera import _CELL_WIDTH_KM
from .maps.data import HALO_RGBA, MARKER_RGBA, OUTLINE_RGBA, ColourScale
from .maps.fmt import format_km2, format_prob

if TYPE_CHECKING:
    from .candidates import CandidateArea

BACKGROUND = (14, 17, 23)
"""Sea."""
LAND_RGBA = (38, 44, 54, 255)
BORDER_RGBA = (150, 160, 175, 170)
GRATICULE_RGBA = (90, 100, 115, 90)
LABEL_RGBA = (235, 238, 245, 255)
AREA_LABEL_RGBA = (0, 235, 255, 255)
WORLD_EXTENT = (-180.0, -60.0, 180.0, 84.0)
"""The world view's extent (west, south, east, north), degrees: Antarctica's ice is never a search area."""


_FONT_FILES = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "DejaVuSans.ttf")
"""Fonts with the glyphs place names need ("São Paulo", "km²"); Pillow's own default lacks some."""


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in _FONT_FILES:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size)
    except (OSError, TypeError):  # a Pillow without FreeType: the bitmap font
        return ImageFont.load_default()


@functools.lru_cache(maxsize=1)
def _country_parts() -> tuple[np.ndarray, np.ndarray]:
    """Every polygon of the shipped country outlines (shapely array) and its bounds (n, 4), read once."""
    import shapely

    from .maps.basemap import country_polygons

    geoms = [g for _, g in country_polygons()]
    if not geoms:
        return np.zeros(0, dtype=object), np.zeros((0, 4))
    parts = shapely.get_parts(np.array(geoms, dtype=object))
    return parts, shapely.bounds(parts)


def _land_paths(extent: tuple[float, float, float, float], width_px: int) -> list[list[list[float]]]:
    """Outlines of land inside an extent as [lon, lat] paths, degrees.

    A world view gets the browser map's outlines; zoomed in, every island clipped to the extent and
    simplified to about a pixel (coastlines that stay coastlines, not triangles).
    """
    import shapely

    from .maps.basemap import border_paths

    w, s, e, n = extent
    deg_per_px = (e - w) / max(width_px, 1)
    if deg_per_px > 0.2:
        return border_paths()
    parts, bounds = _country_parts()
    out: list[list[list[float]]] = []
    for shift in (-360.0, 0.0, 360.0):  # the extent may run past ±180
        lo, hi = w - shift, e - shift
        # a part wider than 180° is one drawn across the antimeridian: clipped, it would fill the sea
        hit = (bounds[:, 2] >= lo) & (bounds[:, 0] <= hi) & (bounds[:, 3] >= s) & (bounds[:, 1] <= n) & (bounds[:, 2] - bounds[:, 0] < 180.0)
        if not hit.any():
            continue
        clipped = shapely.clip_by_rect(parts[hit], lo - 1.0, s - 1.0, hi + 1.0, n + 1.0)
        clipped = shapely.simplify(clipped, max(deg_per_px, 1e-4), preserve_topology=True)
        for g in shapely.get_parts(clipped[~shapely.is_empty(clipped)]):
            if g.geom_type != "Polygon":
                continue
            xy = shapely.get_coordinates(g.exterior)
            if len(xy) >= 3:
                out.append((xy + [shift, 0.0]).tolist())
    return out


def _graticule_step(span_deg: float) -> float:
    for step in (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0):
        if span_deg / step <= 8:
            return step
    return 30.0


def _project(lon: np.ndarray, lat: np.ndarray, extent: tuple[float, float, float, float], size: tuple[int, int]) -> np.ndarray:
    """Equirectangular pixel coordinates (x right, y down) of lon/lat degrees inside extent (w, s, e, n)."""
    w, s, e, n = extent
    W, H = size
    x = (np.asarray(lon) - w) / (e - w) * W
    y = (n - np.asarray(lat)) / (n - s) * H
    return np.column_stack([x, y])


def _extent_for(view: dict, aspect: float) -> tuple[float, float, float, float]:
    from .maps.camera import view_bounds

    w, s, e, n = view_bounds(view)
    if e < w:
        e += 360.0
    return (w, s, e, n)


def render_map_png(
    dist: CellDistribution,
    extent: tuple[float, float, float, float],
    size: tuple[int, int] = (640, 400),
    budget: RankedRegions | None = None,
    truth: tuple[float, float] | None = None,
    scale: ColourScale | None = None,
    borders: bool = True,
    max_cells: int = 6000,
    areas: Sequence[CandidateArea] = (),
    legend: bool = True,
    labels: bool = True,
) -> bytes:
    """Draw the distribution as an equirectangular PNG, like the browser map.

    Land is filled and outlined (coastlines and borders at a detail that fits the extent: every island
    when zoomed in), a graticule drawn, cells coloured by log density over it (semi-transparent), the
    budget's cells outlined, the candidate areas numbered, city names and the colour scale drawn on
    top, and the known position marked.

    Args:
        dist: the distribution.
        extent: (west, south, east, north) degrees; east may exceed 180 to cross the antimeridian.
        size: (width, height) pixels.
        budget: regions to outline (e.g. ``dist.within_budget(...)``).
        truth: (lat, lon) degrees to mark.
        scale: colour scale (default: :meth:`ColourScale.for_distribution`).
        borders: draw the offline country borders.
        max_cells: cells drawn at most (the densest; aggregation keeps them visible).
        areas: candidate areas to number at their centres.
        legend: draw the colour scale (bottom left).
        labels: draw city names (largest first, decluttered).

    Returns:
        PNG bytes.
    """
    import h3

    W, H = size
    w, s, e, n = extent
    scale = scale or ColourScale.for_distribution(dist)
    px_per_deg = W / max(e - w, 1e-6)
    km_per_px = 111.2 / px_per_deg
    finest = int(cell_resolutions(dist.cells.cells).max())
    res = 0
    for r in range(min(finest, max(_CELL_WIDTH_KM)), -1, -1):
        if _CELL_WIDTH_KM[r] / km_per_px >= 2.5:
            res = r
            break
    # Only the cells around the extent (vectorised on the cells' own centres), then aggregated to ``res``.
    pad = 3 * km_per_px / 111.2 + max(_CELL_WIDTH_KM[min(res, 8)] / 111.2, 0.1) + 1.5
    clon = np.where(dist.cells.lon < w - pad, dist.cells.lon + 360.0, dist.cells.lon)
    near = (clon >= w - pad) & (clon <= e + pad) & (dist.cells.lat >= s - pad) & (dist.cells.lat <= n + pad)
    parents = cells_to_parents(dist.cells.cells[near], res)
    u, inv = np.unique(parents, return_inverse=True)
    prob = np.bincount(inv, weights=dist.prob[near], minlength=len(u))
    area = np.bincount(inv, weights=dist.cells.area_km2[near], minlength=len(u))
    with np.errstate(divide="ignore"):
        logd = np.log(prob / area)
    order = np.argsort(-logd, kind="stable")[:max_cells][::-1]  # densest drawn last, on top
    # cells below the colour scale are left out: a grey wash over the world would hide the geography
    order = order[logd[order] / math.log(10) >= scale.lo]
    # semi-transparent so coastlines and borders read through the cells, more so when zoomed in
    colours = scale.colours(logd[order], alpha=(70, 200) if km_per_px < 20 else (110, 235))
    img = Image.new("RGBA", (W, H), BACKGROUND + (255,))
    paths = _land_paths((w, s, e, n), W) if borders else []

    def visible(xy: np.ndarray) -> list[np.ndarray]:
        out = []
        for shift in (-360.0, 0.0, 360.0):
            if xy[:, 0].max() + shift < w or xy[:, 0].min() + shift > e or xy[:, 1].max() < s or xy[:, 1].min() > n:
                continue
            out.append(_project(xy[:, 0] + shift, xy[:, 1], (w, s, e, n), size))
        return out

    base = ImageDraw.Draw(img)
    path_xy = [np.asarray(path, dtype=np.float64) for path in paths]
    for xy in path_xy:  # land under the cells: the geography reads through them
        for p in visible(xy):
            if len(p) >= 3:
                base.polygon([tuple(q) for q in p.tolist()], fill=LAND_RGBA)
    step = _graticule_step(min(n - s, e - w))
    for lat_line in np.arange(math.ceil(s / step) * step, n, step):
        y = float(_project(np.array([w]), np.array([lat_line]), (w, s, e, n), size)[0, 1])
        base.line([(0, y), (W, y)], fill=GRATICULE_RGBA, width=1)
    for lon_line in np.arange(math.ceil(w / step) * step, e, step):
        x = float(_project(np.array([lon_line]), np.array([s]), (w, s, e, n), size)[0, 0])
        base.line([(x, 0), (x, H)], fill=GRATICULE_RGBA, width=1)
    layer = Image.new("RGBA", (W, H), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)

    def ring_xy(cell_hex: str) -> np.ndarray:
        b = np.array(h3.cell_to_boundary(cell_hex), dtype=np.float64)
        lon_b = b[:, 1]
        if np.ptp(lon_b) > 180:
            lon_b = np.where(lon_b < 0, lon_b + 360.0, lon_b)
        if lon_b.max() < w:
            lon_b = lon_b + 360.0
        return _project(lon_b, b[:, 0], (w, s, e, n), size)

    for c, col in zip(u[order].tolist(), colours.tolist()):
        xy = ring_xy(format(c, "x"))
        draw.polygon([tuple(p) for p in xy.tolist()], fill=tuple(col))
    img = Image.alpha_composite(img, layer)
    draw = ImageDraw.Draw(img)
    for xy in path_xy:
        for p in visible(xy):
            draw.line([tuple(q) for q in p.tolist()], fill=BORDER_RGBA, width=1)
    if budget is not None and len(budget):
        from .maps.data import budget_outline

        for path in budget_outline(budget):
            xy = np.asarray(path, dtype=np.float64)
            if xy[:, 0].max() < w:
                xy[:, 0] += 360.0
            pts = [tuple(q) for q in _project(xy[:, 0], xy[:, 1], (w, s, e, n), size).tolist()]
            draw.line(pts, fill=tuple(HALO_RGBA), width=4)
            draw.line(pts, fill=tuple(OUTLINE_RGBA), width=2)
    if truth is not None:
        tl = truth[1] + (360.0 if truth[1] < w else 0.0)
        x, y = _project(np.array([tl]), np.array([truth[0]]), (w, s, e, n), size)[0]
        draw.ellipse([x - 6, y - 6, x + 6, y + 6], fill=tuple(MARKER_RGBA), outline=(0, 0, 0, 255), width=2)
    if labels:
        _draw_city_labels(draw, (w, s, e, n), size)
    placed: list[tuple[float, float]] = []
    for a in areas:
        al = a.lon + (360.0 if a.lon < w else 0.0)
        x, y = _project(np.array([al]), np.array([a.lat]), (w, s, e, n), size)[0]
        if not (0 <= x <= W and 0 <= y <= H):
            continue
        if (a.east - a.west) % 360.0 * px_per_deg < 12:  # too small to see at this scale: ring it
            draw.ellipse([x - 7, y - 7, x + 7, y + 7], outline=AREA_LABEL_RGBA, width=2)
            x += 14
        while any(abs(x - px) < 14 and abs(y - py) < 16 for px, py in placed):  # areas close together: stack the numbers
            y += 17
        placed.append((x, y))
        draw.text((x, y), str(a.id), font=_font(18), fill=AREA_LABEL_RGBA, anchor="mm", stroke_width=3, stroke_fill=(0, 0, 0, 255))
    if legend:
        _draw_legend(draw, scale, size)
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "PNG", optimize=True)
    return buf.getvalue()


def _draw_city_labels(draw: ImageDraw.ImageDraw, extent: tuple[float, float, float, float], size: tuple[int, int], limit: int = 14) -> None:
    """City names above the cells, largest first, decluttered for the extent (a halo keeps them readable)."""
    from .maps.basemap import city_labels

    w, s, e, n = extent
    W, _ = size
    zoom = math.log2(max(360.0 * W / (512.0 * max(e - w, 1e-6)), 1e-6))
    font = _font(12)
    wrapped = (w + 180.0) % 360.0 - 180.0, s, (e + 180.0) % 360.0 - 180.0, n
    for c in city_labels(zoom + 1.0, wrapped if e - w < 360 else None, limit=limit):
        lon = c["lon"] + (360.0 if c["lon"] < w else 0.0)
        x, y = _project(np.array([lon]), np.array([c["lat"]]), extent, size)[0]
        draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=LABEL_RGBA)
        draw.text((x + 5, y), c["name"], font=font, fill=LABEL_RGBA, anchor="lm", stroke_width=2, stroke_fill=(0, 0, 0, 255))


def _draw_legend(draw: ImageDraw.ImageDraw, scale: ColourScale, size: tuple[int, int]) -> None:
    """The colour scale as a bar with powers of ten, bottom left: probability per km²."""
    W, H = size
    bw, bh, x0 = min(220, W // 3), 10, 12
    y0 = H - 34
    draw.rectangle([x0 - 6, y0 - 20, x0 + bw + 8, H - 4], fill=(0, 0, 0, 170))
    t = np.linspace(0.0, 1.0, bw)
    cols = scale.colours((scale.lo + t * (scale.hi - scale.lo)) * math.log(10), alpha=(255, 255))
    for i, col in enumerate(cols.tolist()):
        draw.line([(x0 + i, y0), (x0 + i, y0 + bh)], fill=tuple(col))
    font = _font(11)
    draw.text((x0, y0 - 4), "probability per km² (log scale)", font=font, fill=LABEL_RGBA, anchor="ls")
    for pos, val in scale.ticks():
        x = x0 + pos * (bw - 1)
        draw.line([(x, y0 + bh), (x, y0 + bh + 3)], fill=LABEL_RGBA)
        draw.text((x, y0 + bh + 4), f"1e{int(val)}", font=font, fill=LABEL_RGBA, anchor="mt")


def zoom_extent(regions: RankedRegions, areas: Sequence[CandidateArea] = (), aspect: float = 900 / 520,
                pad: float = 0.25, min_span_deg: float = 0.4) -> tuple[float, float, float, float]:
    """(west, south, east, north) degrees framing the search: the candidate areas (else the regions), padded.

    The longitude span is widened or the latitude span raised so that the equirectangular image of
    ``aspect`` (width / height) keeps shapes near the centre undistorted (cos(latitude) scaling).
    ``east`` may exceed 180 when the frame crosses the antimeridian.
    """
    if areas:
        lat = np.array([v for a in areas for v in (a.south, a.north)])
        lon = np.array([v for a in areas for v in (a.west, a.east)])
    elif len(regions):
        lat, lon = np.asarray(regions.lat, dtype=np.float64), np.asarray(regions.lon, dtype=np.float64)
    else:
        return WORLD_EXTENT
    centre = float(np.degrees(np.arctan2(np.sin(np.radians(lon)).mean(), np.cos(np.radians(lon)).mean())))
    rel = (lon - centre + 180.0) % 360.0 - 180.0
    w, e = centre + rel.min(), centre + rel.max()
    s, n = float(lat.min()), float(lat.max())
    span_lat = max(n - s, min_span_deg) * (1 + 2 * pad)
    span_lon = max(e - w, min_span_deg) * (1 + 2 * pad)
    mid_lat, mid_lon = (s + n) / 2, (w + e) / 2
    k = max(math.cos(math.radians(mid_lat)), 0.1)
    if span_lon * k / span_lat < aspect:
        span_lon = span_lat * aspect / k
    else:
        span_lat = span_lon * k / aspect
    span_lat = min(span_lat, 170.0)
    span_lon = min(span_lon, 360.0)
    mid_lat = min(max(mid_lat, -90 + span_lat / 2), 90 - span_lat / 2)
    w = mid_lon - span_lon / 2
    if w < -180.0:
        w += 360.0
    return (w, mid_lat - span_lat / 2, w + span_lon, mid_lat + span_lat / 2)


def report_maps(dist: CellDistribution, regions: RankedRegions, areas: Sequence[CandidateArea] = (),
                truth: tuple[float, float] | None = None, world_size: tuple[int, int] = (900, 360),
                zoom_size: tuple[int, int] = (900, 520)) -> tuple[bytes, bytes]:
    """The report's two maps as PNG bytes: the world, and zoomed on the candidate areas (one colour scale)."""
    scale = ColourScale.for_distribution(dist)
    world = render_map_png(dist, WORLD_EXTENT, size=world_size, budget=regions, truth=truth, scale=scale, areas=areas)
    zoom = render_map_png(dist, zoom_extent(regions, areas, zoom_size[0] / zoom_size[1]), size=zoom_size, budget=regions,
                          truth=truth, scale=scale, areas=areas)
    return world, zoom


_REPEATED_KIND = re.compile(r"^(\w+): (?=\1\b)")
_EQUAL_RANGE = re.compile(r"\b(\d+(?:\.\d+)?)-\1 (km|°|min)\b")


def clean_label(text: str) -> str:
    """An expert's description as people read it.

    "analyst: analyst: forest" -> "analyst: forest", "analyst: analyst guess at ..." -> "analyst guess at
    ...", "sigma 150-150 km" -> "sigma 150 km".
    """
    text = _REPEATED_KIND.sub("", str(text))
    return _EQUAL_RANGE.sub(r"\1 \2", text)


def thumbnail_jpeg(image: Image.Image, max_px: int = 320) -> bytes:
    """A JPEG thumbnail (longest side ``max_px``) of a PIL image, made in memory."""
    im = image.convert("RGB").copy()
    im.thumbnail((max_px, max_px))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def exif_summary(photo) -> list[tuple[str, str]]:
    """(fact, value) pairs about a decoded photo: size, format, time, camera, SHA-256 of the file (when the photo knows it), and a GPS warning."""
    out: list[tuple[str, str]] = []
    size = getattr(photo, "original_size", (0, 0)) or (0, 0)
    if not size[0]:
        size = (getattr(photo, "width", 0), getattr(photo, "height", 0))
    out.append(("size", f"{size[0]} × {size[1]} px" + (f", {photo.format}" if getattr(photo, "format", "") else "")))
    t = getattr(photo, "exif_time", None)
    off = getattr(photo, "exif_offset", None)
    out.append(("taken (camera clock)", f"{t}{' ' + off if off else ''}" if t else "no EXIF time"))
    cam = getattr(photo, "camera", "")
    out.append(("camera", cam or "no EXIF camera"))
    digest = getattr(photo, "sha256", "")
    if digest:
        out.append(("SHA-256", str(digest)))
    gps = getattr(photo, "gps", None)
    if gps:
        out.append(("GPS", f"{gps[0]:.5f}, {gps[1]:.5f} — the file reveals where it was taken; strip EXIF before sharing it"))
    else:
        out.append(("GPS", "none in EXIF"))
    return out


@dataclass
class ReportInput:
    """Everything a report shows.

    Attributes:
        view_name: what the map and regions show ("ensemble" or an expert's name).
        weights: expert name -> weight.
        experts: (label, description) per expert in the ensemble.
        evidence: (statement, value) pairs from the analyst.
        regions: the regions inside the budget.
        places: place text per region (same order as ``regions``), for the first rows.
        budget_km2: the area budget, km².
        map_png: the map zoomed on the search (PNG bytes; :func:`report_maps`).
        link: the shareable link.
        photos: (name, thumbnail JPEG bytes, EXIF facts) per photo.
        notes: status lines (e.g. "photo not analysed by any image model").
        version: software version.
        created: timestamp (UTC) of the report.
        world_png: the world map (PNG bytes), or b"" for the zoomed map only.
        areas: the candidate areas (:func:`geolocate.candidates.candidate_areas`).
        analyst_notes: the analyst's own notes (plain text).
        photo_sha256: SHA-256 of each photo's file, in ``photos`` order ("" where unknown).
    """

    view_name: str
    weights: dict[str, float]
    experts: list[tuple[str, str]]
    evidence: list[tuple[str, str]]
    regions: RankedRegions
    places: Sequence[str]
    budget_km2: float
    map_png: bytes
    link: str = ""
    photos: list[tuple[str, bytes, list[tuple[str, str]]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    version: str = ""
    created: datetime | None = None
    world_png: bytes = b""
    areas: Sequence[Any] = ()
    analyst_notes: str = ""
    photo_sha256: Sequence[str] = ()


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _png(data: bytes, alt: str) -> str:
    return f'<img class="map" alt="{_e(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}"/>'


def report_html(r: ReportInput, max_rows: int = 25) -> str:
    """The report as one self-contained HTML document (no external requests; user text escaped)."""
    created = (r.created or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S UTC")
    area_of: dict[int, int] = {}
    for a in r.areas:
        for c in np.asarray(a.cells).tolist():
            area_of[int(c)] = int(a.id)
    rows = []
    for i in range(min(len(r.regions), max_rows)):
        place = r.places[i] if i < len(r.places) else ""
        aid = area_of.get(int(r.regions.cells[i]), 0)
        rows.append(
            "<tr>"
            f"<td>{i + 1}</td><td>{_e(place)}</td><td>{aid or ''}</td><td>{r.regions.lat[i]:.4f}, {r.regions.lon[i]:.4f}</td>"
            f"<td>{_e(format_prob(float(r.regions.prob[i])))}</td><td>{_e(format_km2(float(r.regions.area_km2[i])))}</td>"
            f"<td>{_e(format_prob(float(r.regions.cum_prob[i])))}</td><td>{_e(format_km2(float(r.regions.cum_area_km2[i])))}</td>"
            f"<td><code>{format(int(r.regions.cells[i]), 'x')}</code></td></tr>"
        )
    hashes = list(r.photo_sha256)

    def facts_of(i: int, facts: list[tuple[str, str]]) -> list[tuple[str, str]]:
        if i < len(hashes) and hashes[i] and not any(k == "SHA-256" for k, _ in facts):
            return [*facts, ("SHA-256", hashes[i])]
        return facts

    photos = "".join(
        f'<div class="photo"><img alt="{_e(name)}" src="data:image/jpeg;base64,{base64.b64encode(jpg).decode()}"/>'
        f"<div><b>{_e(name)}</b><table>{''.join(f'<tr><th>{_e(k)}</th><td class=wrap>{_e(v)}</td></tr>' for k, v in facts_of(i, facts))}</table></div></div>"
        for i, (name, jpg, facts) in enumerate(r.photos)
    ) or "<p>No photo (analyst evidence and priors only).</p>"
    weights = "".join(
        f"<tr><td>{_e(clean_label(label))}</td><td>{_e(clean_label(desc))}</td><td>{_e(f'{r.weights[label]:g}') if label in r.weights else 'mask (certain)'}</td></tr>"
        for label, desc in r.experts
    )
    evidence = "\n".join(f"{clean_label(k)}: {clean_label(v)}" for k, v in r.evidence) or "none stated"
    notes = "".join(f"<p class='note'>{_e(n)}</p>" for n in r.notes)
    total = (
        f"{len(r.regions):,} regions, {_e(format_prob(r.regions.total_prob))} of the probability in {_e(format_km2(r.regions.total_area_km2))}"
        if len(r.regions) else "no region fits the budget"
    )
    area_rows = "".join(
        f"<tr><td>{a.id}</td><td>{_e(a.name)}</td><td>{_e(format_prob(a.prob))}</td><td>{_e(format_km2(a.area_km2))}</td>"
        f"<td>{a.lat:.4f}, {a.lon:.4f}</td><td>W {a.west:.3f} · S {a.south:.3f} · E {a.east:.3f} · N {a.north:.3f}</td>"
        f"<td>{_e(clean_label(a.why_text()))}</td></tr>"
        for a in r.areas
    )
    areas = (
        f"<table id=\"areas\"><tr><th>#</th><th>candidate area</th><th>probability</th><th>area</th><th>centre</th><th>extent (degrees)</th><th>why</th></tr>{area_rows}</table>"
        "<p>Candidate areas are the connected groups of the regions inside the budget, largest probability first; "
        "\"why\" lists the experts that put the most of their own probability there.</p>"
        if area_rows else "<p>No candidate area (no region fits the budget).</p>"
    )
    analyst_notes = f"<pre class='text'>{_e(r.analyst_notes)}</pre>" if r.analyst_notes.strip() else "<p>None.</p>"
    world = (f"<h3>The world</h3>{_png(r.world_png, 'world map of ' + r.view_name)}" if r.world_png else "")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"/><title>geolocate report — {_e(r.view_name)}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'"/>
<style>body{{font-family:sans-serif;max-width:980px;margin:1em auto;color:#222}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:left;font-size:13px}}.photo{{display:flex;gap:1em;margin:.5em 0}}
.photo img{{max-width:320px}}.note{{background:#fff3cd;padding:.4em}}img.map{{max-width:100%;border:1px solid #888;display:block;margin:.3em 0}}
.wrap,.link{{overflow-wrap:anywhere;word-break:break-all}}pre.text{{white-space:pre-wrap;overflow-wrap:anywhere;background:#f6f6f6;padding:.5em}}</style></head>
<body>
<h1>geolocate search report</h1>
<p>Created {created} · geolocate {_e(r.version)} · view: <b>{_e(r.view_name)}</b> · area budget {_e(format_km2(r.budget_km2))}</p>
{notes}
<h2>Photo</h2>{photos}
<h2>Analyst notes</h2>{analyst_notes}
<h2>Candidate areas</h2>{areas}
<h2>Maps ({_e(r.view_name)})</h2>
<p>Colour: probability per km² (log scale, bright = likely; the scale is drawn on each map); cyan outline: the regions inside the area budget ({total}); numbers: the candidate areas.</p>
{world}
<h3>The search</h3>
{_png(r.map_png, 'map of ' + r.view_name)}
<h2>Top regions</h2>
<p>A <i>region</i> is one hexagonal H3 cell of the ranking; coordinates are its centre (degrees).</p>
<table id="regions"><tr><th>#</th><th>near</th><th>area</th><th>lat, lon</th><th>probability</th><th>area km²</th><th>cumulative probability</th><th>cumulative area</th><th>H3</th></tr>
{''.join(rows)}</table>
<h2>Experts and weights</h2>
<table><tr><th>expert</th><th>what it is</th><th>weight</th></tr>{weights}</table>
<h2>Evidence</h2><pre class="text" id="evidence">{_e(evidence)}</pre>
<h2>Shareable link</h2><p class="link"><code>{_e(r.link)}</code></p>
<p>The link restores weights, budget and evidence, not the photo.</p>
</body></html>
"""


def search_report(dist: CellDistribution, regions: RankedRegions, *, view_name: str, weights: dict[str, float],
                  experts: list[tuple[str, str]], evidence: list[tuple[str, str]], budget_km2: float, link: str = "",
                  photos: Sequence[Any] = (), places: Sequence[str] | None = None, areas: Sequence[Any] | None = None,
                  ensemble: Any = None, notes: Sequence[str] = (), analyst_notes: str = "",
                  truth: tuple[float, float] | None = None) -> str:
    """The whole report in one call (the page's and the CLI's): candidate areas, both maps, names, HTML.

    Args:
        dist: the shown distribution.
        regions: its regions inside the budget.
        view_name: what the maps show.
        weights: expert label -> weight.
        experts: (label, description) per expert.
        evidence: (statement, value) pairs (plain text).
        budget_km2: the area budget, km².
        link: the shareable link.
        photos: decoded photos (thumbnails and EXIF facts are made here; pixels never leave the report).
        places: a name per region (None: the gazetteer's).
        areas: the candidate areas (None: grouped here, with the "why" when ``ensemble`` is given).
        ensemble: the ensemble, for the areas' "why".
        notes: status lines.
        analyst_notes: the analyst's notes.
        truth: a known position (EXIF GPS) to mark, degrees.
    """
    from .candidates import candidate_areas, region_names

    if areas is None:
        areas = candidate_areas(regions, ensemble)
    if places is None:
        places = region_names(regions.head(25))
    world, zoom = report_maps(dist, regions, areas, truth)
    return report_html(ReportInput(
        view_name=view_name, weights=weights, experts=experts, evidence=evidence, regions=regions, places=places,
        budget_km2=budget_km2, map_png=zoom, link=link,
        photos=[(p.name, thumbnail_jpeg(p.image), exif_summary(p)) for p in list(photos)[:8]],
        notes=list(notes), version=version(), created=datetime.now(UTC), world_png=world, areas=areas,
        analyst_notes=analyst_notes,
    ))


def version() -> str:
    """The installed geolocate version (package metadata, else the module's ``__version__``, else "dev")."""
    try:
        from . import __version__

        return str(__version__)
    except ImportError:
        return "dev"
