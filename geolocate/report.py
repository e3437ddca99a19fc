"""A self-contained HTML report of one search, and map images rendered on the server (PIL, no browser).

The report is one file an analyst can attach to a case: the photo's thumbnail and EXIF summary, every
piece of evidence and its weight, the map as an embedded PNG, the top regions with place names, the
shareable link, the software version and the time. Every value that came from a user (file names, link
text, evidence) is HTML-escaped; images are embedded as ``data:`` URIs, so opening the file fetches nothing.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from PIL import Image, ImageDraw

from .distribution import CellDistribution, RankedRegions
from .grid import cell_resolutions, cells_to_parents
from .maps.camera import _CELL_WIDTH_KM
from .maps.data import HALO_RGBA, MARKER_RGBA, OUTLINE_RGBA, ColourScale
from .maps.fmt import format_km2, format_prob

BACKGROUND = (14, 17, 23)
BORDER_RGBA = (150, 160, 175, 170)


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
) -> bytes:
    """Draw the distribution as an equirectangular PNG, like the browser map.

    Cells are coloured by log density, the budget's cells outlined, country borders drawn, and the known
    position marked.

    Args:
        dist: the distribution.
        extent: (west, south, east, north) degrees; east may exceed 180 to cross the antimeridian.
        size: (width, height) pixels.
        budget: regions to outline (e.g. ``dist.within_budget(...)``).
        truth: (lat, lon) degrees to mark.
        scale: colour scale (default: :meth:`ColourScale.for_distribution`).
        borders: draw the offline country borders.
        max_cells: cells drawn at most (the densest; aggregation keeps them visible).

    Returns:
        PNG bytes.
    """
    import h3

    from .maps.basemap import border_paths

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
    colours = scale.colours(logd[order], alpha=(120, 255))
    img = Image.new("RGBA", (W, H), BACKGROUND + (255,))
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
    if borders:
        for path in border_paths():
            xy = np.asarray(path, dtype=np.float64)
            for shift in (0.0, 360.0):
                if xy[:, 0].max() + shift < w or xy[:, 0].min() + shift > e:
                    continue
                p = _project(xy[:, 0] + shift, xy[:, 1], (w, s, e, n), size)
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
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "PNG", optimize=True)
    return buf.getvalue()


def thumbnail_jpeg(image: Image.Image, max_px: int = 320) -> bytes:
    """A JPEG thumbnail (longest side ``max_px``) of a PIL image, made in memory."""
    im = image.convert("RGB").copy()
    im.thumbnail((max_px, max_px))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def exif_summary(photo) -> list[tuple[str, str]]:
    """(fact, value) pairs about a decoded photo: size, format, time, camera, and a GPS warning."""
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
        map_png: the map image (PNG bytes).
        link: the shareable link.
        photos: (name, thumbnail JPEG bytes, EXIF facts) per photo.
        notes: status lines (e.g. "photo not analysed by any image model").
        version: software version.
        created: timestamp (UTC) of the report.
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


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def report_html(r: ReportInput, max_rows: int = 25) -> str:
    """The report as one self-contained HTML document (no external requests; user text escaped)."""
    created = (r.created or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S UTC")
    rows = []
    for i in range(min(len(r.regions), max_rows)):
        place = r.places[i] if i < len(r.places) else ""
        rows.append(
            "<tr>"
            f"<td>{i + 1}</td><td>{_e(place)}</td><td>{r.regions.lat[i]:.4f}, {r.regions.lon[i]:.4f}</td>"
            f"<td>{_e(format_prob(float(r.regions.prob[i])))}</td><td>{_e(format_km2(float(r.regions.area_km2[i])))}</td>"
            f"<td>{_e(format_prob(float(r.regions.cum_prob[i])))}</td><td>{_e(format_km2(float(r.regions.cum_area_km2[i])))}</td>"
            f"<td><code>{format(int(r.regions.cells[i]), 'x')}</code></td></tr>"
        )
    photos = "".join(
        f'<div class="photo"><img alt="{_e(name)}" src="data:image/jpeg;base64,{base64.b64encode(jpg).decode()}"/>'
        f"<div><b>{_e(name)}</b><table>{''.join(f'<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>' for k, v in facts)}</table></div></div>"
        for name, jpg, facts in r.photos
    ) or "<p>No photo (analyst evidence and priors only).</p>"
    weights = "".join(
        f"<tr><td>{_e(label)}</td><td>{_e(desc)}</td><td>{_e(f'{r.weights[label]:g}') if label in r.weights else 'mask (certain)'}</td></tr>"
        for label, desc in r.experts
    )
    evidence = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in r.evidence) or "<tr><td>none</td></tr>"
    notes = "".join(f"<p class='note'>{_e(n)}</p>" for n in r.notes)
    total = (
        f"{len(r.regions):,} regions, {_e(format_prob(r.regions.total_prob))} of the probability in {_e(format_km2(r.regions.total_area_km2))}"
        if len(r.regions) else "no region fits the budget"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"/><title>geolocate report — {_e(r.view_name)}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'"/>
<style>body{{font-family:sans-serif;max-width:980px;margin:1em auto;color:#222}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:left;font-size:13px}}.photo{{display:flex;gap:1em;margin:.5em 0}}
.photo img{{max-width:320px}}.note{{background:#fff3cd;padding:.4em}}img.map{{max-width:100%;border:1px solid #888}}</style></head>
<body>
<h1>geolocate search report</h1>
<p>Created {created} · geolocate {_e(r.version)} · view: <b>{_e(r.view_name)}</b> · area budget {_e(format_km2(r.budget_km2))}</p>
{notes}
<h2>Photo</h2>{photos}
<h2>Map ({_e(r.view_name)})</h2>
<p>Colour: probability per km² (log scale, bright = likely); cyan outline: the regions inside the area budget ({total}).</p>
<img class="map" alt="map of {_e(r.view_name)}" src="data:image/png;base64,{base64.b64encode(r.map_png).decode()}"/>
<h2>Top regions</h2>
<p>A <i>region</i> is one hexagonal H3 cell of the ranking; coordinates are its centre (degrees).</p>
<table id="regions"><tr><th>#</th><th>near</th><th>lat, lon</th><th>probability</th><th>area</th><th>cumulative probability</th><th>cumulative area</th><th>H3</th></tr>
{''.join(rows)}</table>
<h2>Experts and weights</h2>
<table><tr><th>expert</th><th>what it is</th><th>weight</th></tr>{weights}</table>
<h2>Analyst evidence</h2><table>{evidence}</table>
<h2>Shareable link</h2><p><code>{_e(r.link)}</code></p>
<p>The link restores weights, budget and evidence, not the photo.</p>
</body></html>
"""


def version() -> str:
    """The installed geolocate version (package metadata, else the module's ``__version__``, else "dev")."""
    try:
        from . import __version__

        return str(__version__)
    except ImportError:
        return "dev"
