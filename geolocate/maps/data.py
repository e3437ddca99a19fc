"""Deck-ready map data for the workbench (pure Python: no Streamlit here).

A map shows one distribution (the ensemble or one expert) in three layers:

    * ``context``: the whole distribution aggregated to a resolution that fits the camera (so nothing is
      sub-pixel at world zoom), not pickable, under everything;
    * ``density``: the densest cells at full resolution (never the whole globe: the payload stays small);
    * ``budget``: the outline of the cells inside the area budget, a dark halo under a cyan line so it
      reads over every colour of the ramp.

Colours follow one :class:`ColourScale` (log10 probability per km²) that :func:`legend_html` draws with
real values. Cells ruled out (by a certain region: more than :data:`DRAW_DECADES` powers of ten below the
peak) are not drawn; cells below the scale are drawn grey ("near zero"), so the two never look alike. The offline basemap (borders, city labels)
comes from :mod:`geolocate.basemap`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..distribution import CellDistribution, RankedRegions
from ..grid import cell_resolutions, cells_to_parents
from .camera import MAP_WIDTH_PX, WORLD_VIEW, context_resolution, unwrap_lon, view_bounds
from .fmt import format_km2, sig

MAX_MAP_CELLS = 3_000
"""Full-resolution cells sent to the browser at most (the context layer carries the rest)."""
MAP_MASS = 0.999
"""Cells are drawn, densest first, until they hold this much probability (or MAX_MAP_CELLS)."""
SCALE_DECADES = 5.0
"""The colour ramp spans this many powers of ten below the densest cell; lower is "near zero"."""
DRAW_DECADES = 11.0
"""Cells more than this many powers of ten below the densest cell are not drawn: ruled out (a certain
region leaves 1e-12 of its density outside, geolocate.experts.region.HARD_LEAK) or negligible."""
FAR_RES = 1
"""Resolution of the context cells far from the camera (res 1, ~840 km wide: 842 cells for the globe)."""
# A dark-to-bright ramp (inferno-like) that reads on the dark basemap; it stops at saturated yellow so the
# densest cells never look like the cyan budget outline.
_RAMP = np.array(
    [[40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21], [250, 180, 30], [255, 225, 60]],
    dtype=np.float64,
)
NEAR_ZERO_RGBA = [120, 128, 140, 55]
"""Grey for cells below the colour scale (drawn, but near zero)."""
OUTLINE_RGBA, HALO_RGBA = [0, 235, 255, 255], [0, 0, 0, 200]
MARKER_RGBA = [60, 255, 60, 255]
"""The known position (EXIF GPS): green, a colour neither the ramp, the outline nor the basemap uses."""

@dataclass(frozen=True)
class ColourScale:
    """Log colour scale: ``lo`` and ``hi`` are log10 of probability per km² at the ramp's two ends."""

    lo: float
    hi: float

    @classmethod
    def for_distribution(cls, dist: CellDistribution, decades: float = SCALE_DECADES) -> ColourScale:
        """From the densest cell down ``decades`` powers of ten (or to the thinnest cell, if closer)."""
        ld = dist.log_density[np.isfinite(dist.log_density)] / math.log(10)
        if not len(ld):
            return cls(-12.0, -6.0)
        hi = float(ld.max())
        lo = max(float(ld.min()), hi - decades)
        if hi - lo < 0.5:  # a nearly flat field: widen so one colour does not claim to be "the peak"
            lo = hi - 0.5
        return cls(lo, hi)

    def colours(self, log_density: np.ndarray, alpha: tuple[float, float] = (90, 235)) -> np.ndarray:
        """RGBA (uint8, shape (n, 4)) for natural-log densities per km²; below ``lo`` is :data:`NEAR_ZERO_RGBA`."""
        x = np.asarray(log_density, dtype=np.float64) / math.log(10)
        if not len(x):
            return np.zeros((0, 4), dtype=np.uint8)
        t = np.clip((x - self.lo) / max(self.hi - self.lo, 1e-9), 0.0, 1.0)
        pos = t * (len(_RAMP) - 1)
        i = np.minimum(pos.astype(int), len(_RAMP) - 2)
        f = (pos - i)[:, None]
        rgb = _RAMP[i] * (1 - f) + _RAMP[i + 1] * f
        a = alpha[0] + (alpha[1] - alpha[0]) * t
        out = np.column_stack([rgb, a]).round().astype(np.uint8)
        out[~(x >= self.lo)] = NEAR_ZERO_RGBA
        return out

    def ticks(self) -> list[tuple[float, float]]:
        """(position 0..1 along the ramp, log10 value) at whole powers of ten inside the scale."""
        vals = np.arange(math.ceil(self.lo), math.floor(self.hi) + 1)
        if len(vals) > 6:
            vals = vals[:: int(math.ceil(len(vals) / 6))]
        span = max(self.hi - self.lo, 1e-9)
        return [(float((v - self.lo) / span), float(v)) for v in vals]


def density_colours(log_density: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """RGBA colours (uint8, shape (n, 4)) for natural-log densities: dark/transparent = low, bright = high.

    Args:
        log_density: natural-log densities per km², shape (n,).
        lo: natural-log density at the ramp's dark end (default: the 2nd percentile).
        hi: natural-log density at the ramp's bright end (default: the maximum).
    """
    x = np.asarray(log_density, dtype=np.float64)
    if not len(x):
        return np.zeros((0, 4), dtype=np.uint8)
    lo = float(np.percentile(x, 2)) if lo is None else lo
    hi = float(x.max()) if hi is None else hi
    scale = ColourScale(lo / math.log(10), max(hi, lo + 1e-9) / math.log(10))
    out = scale.colours(x, alpha=(70, 240))
    below = x < lo
    out[below] = scale.colours(np.full(int(below.sum()), lo), alpha=(70, 240))  # the old contract: clipped, not grey
    return out


@dataclass
class MapData:
    """What the map shows for one distribution.

    The drawn cells are held as arrays (what the browser component receives); :attr:`records` and
    :attr:`context` give the same as one dict per cell (pydeck's form, and the tooltips' fields).

    Attributes:
        cells: drawn full-resolution cells, densest first, uint64 H3 ids, shape (k,).
        rgba: their colours, uint8, shape (k, 4).
        prob: their probabilities, shape (k,).
        area_km2: their areas (km²), shape (k,).
        log_density: their natural-log probability per km², shape (k,).
        budget: the regions inside the area budget.
        shown_prob: probability held by the full-resolution cells drawn.
        context_cells: the whole distribution aggregated to ``context_res`` (uint64, shape (m,)).
        context_rgba: their colours, uint8, shape (m, 4).
        scale: the colour scale (legend).
        context_res: resolution of the context layer (near the camera, when one was given).
        far_res: resolution of the context cells far from the camera, or None when all are at ``context_res``.
        labels: a text per drawn cell shown on hover instead of its probability (a category map, e.g. a
            layer's class), or None.
    """

    cells: np.ndarray
    rgba: np.ndarray
    prob: np.ndarray
    area_km2: np.ndarray
    log_density: np.ndarray
    budget: RankedRegions
    shown_prob: float
    context_cells: np.ndarray
    context_rgba: np.ndarray
    scale: ColourScale
    context_res: int
    far_res: int | None = None
    labels: list[str] | None = None

    @functools.cached_property
    def records(self) -> list[dict]:
        """One dict per drawn cell, densest first (pydeck's form).

        Keys: h3 (string), rank, colour [r, g, b, a], prob_pct, area_km2, density (per km²), cum_pct (%),
        cum_area_km2 (3 significant digits), and label when the map has :attr:`labels`.
        """
        if self.labels is not None:
            return [{"h3": format(c, "x"), "rank": i + 1, "colour": col, "label": t} for i, (c, col, t) in enumerate(zip(self.cells.tolist(), self.rgba.tolist(), self.labels))]
        cols = {
            "prob_pct": sig(100 * self.prob),
            "area_km2": sig(self.area_km2),
            "density": sig(np.exp(self.log_density)),
            "cum_pct": sig(100 * np.cumsum(self.prob)),
            "cum_area_km2": sig(np.cumsum(self.area_km2)),
        }
        names = list(cols)
        h3s = [format(c, "x") for c in self.cells.tolist()]
        return [
            {"h3": h, "rank": i + 1, "colour": c, **dict(zip(names, vals))}
            for i, (h, c, *vals) in enumerate(zip(h3s, self.rgba.tolist(), *cols.values()))
        ]

    @functools.cached_property
    def context(self) -> list[dict]:
        """One dict per context cell: h3 (string), colour [r, g, b, a]."""
        return [{"h3": format(c, "x"), "colour": col} for c, col in zip(self.context_cells.tolist(), self.context_rgba.tolist())]

    @property
    def budget_records(self) -> list[dict]:
        """The :attr:`records` of the cells inside the area budget."""
        return self.records[: len(self.budget)]


def empty_map() -> MapData:
    """A map with no cells (a neutral basemap, e.g. to click a guess on without seeing any model's answer)."""
    u8 = np.zeros((0, 4), dtype=np.uint8)
    f = np.zeros(0)
    cells = np.zeros(0, dtype=np.uint64)
    return MapData(cells, u8, f, f, f, RankedRegions(cells, f, f, f, f, f), 0.0, cells, u8, ColourScale(0.0, 1.0), 0)


def category_map(cells: np.ndarray, rgba: np.ndarray, labels: list[str]) -> MapData:
    """A map of categories (no probabilities): each cell drawn in its colour, its label shown on hover.

    Args:
        cells: uint64 H3 ids, shape (k,).
        rgba: uint8 colours, shape (k, 4).
        labels: one text per cell (e.g. "forest (80% of the hexagon)"), plain text, never HTML.
    """
    cells = np.asarray(cells, dtype=np.uint64)
    if len(labels) != len(cells) or len(rgba) != len(cells):
        raise ValueError(f"{len(cells)} cells need as many colours and labels, got {len(rgba)} and {len(labels)}")
    empty = empty_map()
    zeros = np.zeros(len(cells))
    return MapData(cells, np.asarray(rgba, dtype=np.uint8), zeros, zeros, zeros, empty.budget, 0.0,
                   empty.context_cells, empty.context_rgba, empty.scale, 0, labels=list(labels))


def aggregate(dist: CellDistribution, res: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probability and area summed over each cell's ancestor at ``res``.

    Returns:
        (cells uint64, prob, area_km2), shape (m,) each; cells coarser than ``res`` keep themselves.
    """
    parents = cells_to_parents(dist.cells.cells, res)
    u, inv = np.unique(parents, return_inverse=True)
    prob = np.bincount(inv, weights=dist.prob, minlength=len(u))
    area = np.bincount(inv, weights=dist.cells.area_km2, minlength=len(u))
    return u, prob, area


def map_records(
    dist: CellDistribution,
    budget_km2: float,
    max_cells: int = MAX_MAP_CELLS,
    mass: float = MAP_MASS,
    zoom: float | None = None,
    scale: ColourScale | None = None,
    view: Mapping[str, float] | None = None,
) -> MapData:
    """The cells to draw, with colours, tooltips and budget flags.

    Full-resolution cells are taken in rank order until they hold ``mass`` of the probability, at least
    all the cells inside the budget, and never more than ``max_cells``.

    Args:
        dist: the distribution.
        budget_km2: area budget (km²).
        max_cells: cap on full-resolution cells drawn.
        mass: probability mass to cover.
        zoom: camera zoom the context layer is made for (default: world view).
        scale: colour scale (default: :meth:`ColourScale.for_distribution`).
        view: the camera (latitude, longitude, zoom); when given, the context layer is at ``context_res``
            only near it and at :data:`FAR_RES` elsewhere (the payload and the browser's work stay small).
            Its zoom is used when ``zoom`` is None.
    """
    scale = scale or ColourScale.for_distribution(dist)
    budget = dist.within_budget(budget_km2)
    order = dist.order()
    prob = dist.prob[order]
    drawn = dist.log_density[order] / math.log(10) >= scale.hi - DRAW_DECADES  # ruled out: not drawn at all
    order, prob = order[drawn], prob[drawn]
    k_mass = int(np.searchsorted(np.cumsum(prob), mass, side="left")) + 1
    k = min(max(k_mass, len(budget)), max_cells, len(order))
    idx = order[:k]
    cells = dist.cells.cells[idx]
    area = dist.cells.area_km2[idx]
    logd = dist.log_density[idx]
    p = prob[:k]
    rgba = scale.colours(logd).astype(np.uint8)
    if view is not None and zoom is None:
        zoom = float(view["zoom"])
    cres = context_resolution(WORLD_VIEW["zoom"] if zoom is None else zoom, finest=int(cell_resolutions(dist.cells.cells).min()))
    ccells, cprob, carea = aggregate(dist, cres)
    far_res = None
    if view is not None and cres > FAR_RES:
        ccells, cprob, carea, far_res = _near_view(dist, view, ccells, cprob, carea)
    with np.errstate(divide="ignore"):
        clog = np.log(cprob / carea)
    keep = clog / math.log(10) >= scale.hi - DRAW_DECADES
    crgba = scale.colours(clog[keep], alpha=(60, 150)).astype(np.uint8)
    return MapData(cells, rgba, p, area, logd, budget, float(p.sum()) if k else 0.0, ccells[keep], crgba, scale, cres, far_res)


def _near_view(
    dist: CellDistribution, view: Mapping[str, float], cells: np.ndarray, prob: np.ndarray, area: np.ndarray, pad: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int | None]:
    """Keep the context cells near the camera at their resolution and merge the rest to :data:`FAR_RES`.

    Near = the :data:`FAR_RES` ancestors of the cells whose centres lie within the view's bounds widened
    by ``pad`` of its size on each side, so a pan of half a screen still shows the fine cells. Without
    this a zoomed-in view would send the whole globe at res 3 (~41,000 polygons: ~650 kB of JSON that
    the browser triangulates again on every slider move).

    Returns:
        (cells, prob, area_km2, FAR_RES or None when nothing was merged); shapes (m,).
    """
    _, s, _, n = view_bounds(view)
    half = min(360.0, MAP_WIDTH_PX * 360.0 / (512.0 * 2 ** float(view["zoom"]))) / 2.0  # degrees of longitude
    if half * (1 + 2 * pad) >= 180.0:
        return cells, prob, area, None
    # Nearness is tested on the distribution's own cells (centres precomputed), then lifted to FAR_RES.
    lat, lon = dist.cells.lat, dist.cells.lon
    lon0 = float(view["longitude"])
    dlat = n - s
    near = (np.abs(unwrap_lon(lon, lon0) - lon0) <= half * (1 + 2 * pad)) & (lat >= s - pad * dlat) & (lat <= n + pad * dlat)
    near_parents = np.unique(cells_to_parents(dist.cells.cells[near], FAR_RES))
    parents = cells_to_parents(cells, FAR_RES)
    fine = np.isin(parents, near_parents)
    far_cells, far_prob, far_area = aggregate(dist, FAR_RES)
    far = ~np.isin(far_cells, near_parents)
    return (
        np.concatenate([cells[fine], far_cells[far]]),
        np.concatenate([prob[fine], far_prob[far]]),
        np.concatenate([area[fine], far_area[far]]),
        FAR_RES,
    )


CLEAR_PEAK_KM2 = 2e6
"""When more than this area (km²) lies within a factor 2 of the densest cell, the "most likely region"
is an arbitrary pick among near-ties (e.g. the "natural scene" term, whose density varies 3x over the globe)."""


def peak_area_km2(dist: CellDistribution, factor: float = 2.0) -> float:
    """Area (km²) of the cells whose density is within ``factor`` of the densest cell's."""
    ld = dist.log_density
    return float(dist.cells.area_km2[ld >= ld.max() - math.log(factor)].sum())


def budget_outline(regions: RankedRegions) -> list[list[list[float]]]:
    """Outline of the union of the budget's cells as paths of [lon, lat] (degrees), one per ring.

    Cells are merged per resolution with H3 (fast, in C), so the outline follows the region's edge rather
    than every hexagon; neighbouring groups of different resolutions keep the seam between them.
    """
    import h3

    paths: list[list[list[float]]] = []
    if not len(regions):
        return paths
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
                    # instead of letting the path wrap the long way round the globe.
                    xy[:, 0] = np.where(xy[:, 0] < 0, xy[:, 0] + 360.0, xy[:, 0])
                paths.append(np.round(xy, 5).tolist())
    return paths


def border_paths_near(view: Mapping[str, float], pad: float = 0.5) -> list[list[list[float]]]:
    """The offline border paths whose bounding box meets the camera's view widened by ``pad`` of its size on each side.

    All of them when that spans the globe.

    Every path in the deck is sent and parsed again on each slider move (the browser's JSON parser and
    deck.gl's path tessellation cost ~0.8 s per move on a loaded 2-core machine for the 13,600 vertices of
    the whole world); a zoomed-in view needs a few hundred.
    """
    from . import basemap

    # Simplified to about a pixel of the view: at world zoom a pixel is ~0.4°, and 0.15° would send
    # 13,600 vertices where 4,100 draw the same picture.
    zoom = float(view["zoom"])
    detail = {"tolerance_deg": 0.5, "min_area_deg2": 0.2} if zoom < 1.5 else {"tolerance_deg": 0.3, "min_area_deg2": 0.1} if zoom < 2.5 else {}
    paths = basemap.border_paths(**detail)
    half = min(360.0, MAP_WIDTH_PX * 360.0 / (512.0 * 2**zoom)) / 2.0 * (1 + 2 * pad)
    if half >= 180.0 or not paths:
        return paths
    box = basemap.border_boxes(**detail)
    _, s, _, n = view_bounds(view)
    dlat = n - s
    lon0 = float(view["longitude"])
    meets_lon = np.zeros(len(box), dtype=bool)
    for shift in (-360.0, 0.0, 360.0):  # a view near the antimeridian meets paths on its other side
        meets_lon |= (box[:, 0] + shift <= lon0 + half) & (box[:, 2] + shift >= lon0 - half)
    meets = meets_lon & (box[:, 1] <= n + pad * dlat) & (box[:, 3] >= s - pad * dlat)
    return [paths[i] for i in np.flatnonzero(meets).tolist()]


def legend_html(scale: ColourScale, budget_km2: float | None = None) -> str:
    """A colour legend (HTML, app-generated numbers only).

    The ramp with powers of ten per km², near zero, not drawn, and the budget outline.
    """
    stops = ", ".join(f"rgb({r:.0f},{g:.0f},{b:.0f}) {100 * i / (len(_RAMP) - 1):.0f}%" for i, (r, g, b) in enumerate(_RAMP))
    ticks = "".join(
        f'<span style="position:absolute;left:{100 * pos:.1f}%;transform:translateX(-50%);font-size:11px">10<sup>{int(v)}</sup></span>'
        for pos, v in scale.ticks()
    )
    nz = "rgba({},{},{},{:.2f})".format(*NEAR_ZERO_RGBA[:3], NEAR_ZERO_RGBA[3] / 255 * 2)
    budget = f" · <span style='color:rgb(0,235,255)'>━</span> area budget ({format_km2(budget_km2)})" if budget_km2 else ""
    return (
        '<div data-testid="geolocate-legend" style="font-size:12px;line-height:1.3;margin:2px 0 6px 0">'
        '<div>Probability per km² (log scale)</div>'
        f'<div style="height:12px;border-radius:2px;background:linear-gradient(to right, {stops})"></div>'
        f'<div style="position:relative;height:16px">{ticks}</div>'
        f'<div><span style="display:inline-block;width:12px;height:10px;background:{nz}"></span> near zero (below 10<sup>{scale.lo:.1f}</sup>)'
        f' · <span style="display:inline-block;width:12px;height:10px;border:1px solid #888"></span> not drawn: ruled out (below 10<sup>{scale.hi - DRAW_DECADES:.0f}</sup>)'
        f"{budget}</div></div>"
    )
