"""The map camera: fitting a view to cells, its bounds, and the context resolution for a zoom."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from ..distribution import CellDistribution

MAP_WIDTH_PX, MAP_HEIGHT_PX = 820, 540
"""Size the camera is fitted to (the main map's usual size in the wide layout)."""

WORLD_VIEW = {"latitude": 20.0, "longitude": 0.0, "zoom": 0.8, "pitch": 0, "bearing": 0}


# Approximate edge-to-edge width (km) of an H3 cell per resolution (2 x the mean edge length).
_CELL_WIDTH_KM = {0: 2216.0, 1: 837.0, 2: 316.0, 3: 120.0, 4: 45.0, 5: 17.0, 6: 6.4, 7: 2.4, 8: 0.92}


def context_resolution(zoom: float, min_px: float = 7.0, finest: int = 3) -> int:
    """Coarsest H3 resolution whose cells are still at least ``min_px`` wide at this zoom (capped at ``finest``).

    Web Mercator at zoom z: 156.543 / 2^z km per pixel at the equator.
    """
    km_per_px = 156.543 / 2.0**zoom
    for r in range(min(finest, max(_CELL_WIDTH_KM)), -1, -1):
        if _CELL_WIDTH_KM[r] / km_per_px >= min_px:
            return r
    return 0


def unwrap_lon(lon: np.ndarray, centre: float) -> np.ndarray:
    """Longitudes (degrees) shifted by whole turns into [centre - 180, centre + 180)."""
    return (lon - centre + 180.0) % 360.0 - 180.0 + centre


def fit_view(lat: np.ndarray, lon: np.ndarray, pad_deg: float = 1.0, width_px: int = MAP_WIDTH_PX, height_px: int = MAP_HEIGHT_PX) -> dict:
    """A camera (web Mercator) that frames the points (degrees), unwrapped across the antimeridian.

    Returns:
        dict with latitude, longitude (degrees), zoom, pitch, bearing; the world view for an empty or
        hemisphere-wide set.
    """
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    if not len(lat):
        return dict(WORLD_VIEW)
    c = float(np.degrees(np.arctan2(np.sin(np.radians(lon)).mean(), np.cos(np.radians(lon)).mean())))
    ul = unwrap_lon(lon, c)
    w, e = float(ul.min()) - pad_deg, float(ul.max()) + pad_deg
    s, n = max(float(lat.min()) - pad_deg, -80.0), min(float(lat.max()) + pad_deg, 80.0)
    if e - w > 200:
        return dict(WORLD_VIEW)

    def merc(phi: float) -> float:
        return math.log(math.tan(math.pi / 4 + math.radians(phi) / 2))

    zx = math.log2(width_px * 360.0 / (512.0 * max(e - w, 1e-3)))
    zy = math.log2(height_px * 2 * math.pi / (512.0 * max(merc(n) - merc(s), 1e-4)))
    zoom = float(np.clip(min(zx, zy), WORLD_VIEW["zoom"], 11.0))
    lat_c = math.degrees(2 * math.atan(math.exp((merc(n) + merc(s)) / 2)) - math.pi / 2)
    lon_c = ((w + e) / 2 + 180.0) % 360.0 - 180.0
    return {"latitude": round(lat_c, 4), "longitude": round(lon_c, 4), "zoom": round(zoom, 2), "pitch": 0, "bearing": 0}


def view_state(dist: CellDistribution, budget_km2: float) -> dict:
    """A camera that frames what the view is about: the budget's cells (or the densest cell when none fit).

    Returns:
        dict with latitude, longitude (degrees), zoom, pitch, bearing.
    """
    regions = dist.within_budget(budget_km2)
    if not len(regions):
        regions = dist.ranked(1)
    # Cells far below the budget's share are ignored: a handful of outliers must not zoom out to the world.
    keep = regions.cum_prob <= max(0.95 * regions.total_prob, float(regions.prob[0]))
    lat, lon = regions.lat[keep], regions.lon[keep]
    # Context around the budget: pad by the budget's own extent (and at least a few cells' width), so the
    # outline sits inside the surrounding density rather than filling the frame.
    extent = max(float(np.ptp(lat)), float(np.ptp(unwrap_lon(lon, float(lon[0])))) * math.cos(math.radians(float(lat.mean()))))
    pad = max(extent, 3 * math.sqrt(float(regions.area_km2.max())) / 111.0, 0.05)
    return fit_view(lat, lon, pad_deg=pad)


def view_bounds(view: Mapping[str, float], width_px: int = MAP_WIDTH_PX, height_px: int = MAP_HEIGHT_PX) -> tuple[float, float, float, float]:
    """(west, south, east, north) in degrees that a camera shows, approximately (web Mercator)."""
    z = float(view["zoom"])
    dlon = min(360.0, width_px * 360.0 / (512.0 * 2**z))
    lon0, lat0 = float(view["longitude"]), float(view["latitude"])
    y0 = math.log(math.tan(math.pi / 4 + math.radians(lat0) / 2))
    dy = height_px * 2 * math.pi / (512.0 * 2**z)
    s = math.degrees(2 * math.atan(math.exp(y0 - dy / 2)) - math.pi / 2)
    n = math.degrees(2 * math.atan(math.exp(y0 + dy / 2)) - math.pi / 2)
    if dlon >= 360:
        return (-180.0, s, 180.0, n)
    return (((lon0 - dlon / 2 + 180) % 360) - 180, s, ((lon0 + dlon / 2 + 180) % 360) - 180, n)


