"""Hand-off to other tools: map links for a point and its coordinates in the formats analysts paste.

Links open OpenStreetMap, Google Maps (satellite), Google Street View, Mapillary, KartaView, Bing Maps
(aerial) and Apple Maps (satellite) at a point; they are only built, never fetched (the page shows them
only with privacy mode off: following one tells that service where you are looking). URL schemes:
Google's "Maps URLs" (``api=1``, ``map_action=map|pano``), Bing's custom map URL (``cp=lat~lon``,
``lvl``, ``style=a``), Apple's map links (``ll``, ``z``, ``t=k``), OpenStreetMap's ``mlat``/``mlon``
marker with ``#map=zoom/lat/lon``, Mapillary's ``/app/?lat&lng&z`` and KartaView's ``/map/@lat,lon,zoomz``.

Coordinates: decimal degrees, degrees-minutes-seconds, MGRS (``mgrs`` package, 1 m) and plus codes
(``openlocationcode``, 11 characters: about 3 m).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from urllib.parse import urlencode

__all__ = ["Link", "SERVICES", "links", "zoom_for_km", "decimal_degrees", "dms", "mgrs_code", "plus_code", "coordinate_formats"]

SERVICES = ("OpenStreetMap", "Google Maps satellite", "Google Street View", "Mapillary", "KartaView", "Bing Maps aerial", "Apple Maps satellite")
"""The services :func:`links` returns, in this order."""


@dataclass(frozen=True)
class Link:
    """A hand-off link.

    Attributes:
        service: one of :data:`SERVICES`.
        url: the URL (https).
    """

    service: str
    url: str


def _check(lat: float, lon: float) -> tuple[float, float]:
    lat, lon = float(lat), float(lon)
    if not (math.isfinite(lat) and math.isfinite(lon)) or not -90.0 <= lat <= 90.0:
        raise ValueError(f"({lat}, {lon}) is not a point on Earth: latitude must be in [-90, 90] degrees")
    if not -180.0 <= lon <= 180.0:
        lon = (lon + 180.0) % 360.0 - 180.0  # a map dragged past the antimeridian
    return lat, lon


def zoom_for_km(width_km: float) -> int:
    """Web-map zoom level (1..19) that shows about ``width_km`` km across a 1,000-pixel-wide window at mid latitudes."""
    if not width_km > 0:
        return 15
    # 40,075 km spans 256 px at zoom 0; a 1,000 px window shows 40,075 * 1000 / (256 * 2^z) km
    z = math.log2(40_075.0 * 1000.0 / (256.0 * width_km))
    return int(min(19, max(1, math.floor(z))))


def links(lat: float, lon: float, zoom: int = 15) -> list[Link]:
    """Links that open each of :data:`SERVICES` at a point.

    Args:
        lat: latitude, degrees.
        lon: longitude, degrees.
        zoom: web-map zoom level (1 = the world, 19 = a building); Street View opens at the point.

    Returns:
        One :class:`Link` per service, in :data:`SERVICES` order.

    Raises:
        ValueError: the point is not on Earth.
    """
    lat, lon = _check(lat, lon)
    z = int(min(19, max(1, zoom)))
    la, lo = f"{lat:.6f}", f"{lon:.6f}"
    return [
        Link("OpenStreetMap", f"https://www.openstreetmap.org/?{urlencode({'mlat': la, 'mlon': lo})}#map={z}/{la}/{lo}"),
        Link("Google Maps satellite", "https://www.google.com/maps/@?" + urlencode(
            {"api": 1, "map_action": "map", "center": f"{la},{lo}", "zoom": min(z, 21), "basemap": "satellite"})),
        Link("Google Street View", "https://www.google.com/maps/@?" + urlencode({"api": 1, "map_action": "pano", "viewpoint": f"{la},{lo}"})),
        Link("Mapillary", "https://www.mapillary.com/app/?" + urlencode({"lat": la, "lng": lo, "z": z})),
        Link("KartaView", f"https://kartaview.org/map/@{la},{lo},{z}z"),
        Link("Bing Maps aerial", "https://www.bing.com/maps?" + urlencode({"cp": f"{la}~{lo}", "lvl": min(z, 20), "style": "a"})),
        Link("Apple Maps satellite", "https://maps.apple.com/?" + urlencode({"ll": f"{la},{lo}", "z": z, "t": "k"})),
    ]


def decimal_degrees(lat: float, lon: float, digits: int = 5) -> str:
    """"21.98121, -159.37210": latitude, longitude in decimal degrees (5 decimals: about 1 m)."""
    lat, lon = _check(lat, lon)
    return f"{lat:.{digits}f}, {lon:.{digits}f}"


def _dms1(value: float, pos: str, neg: str) -> str:
    tenths = round(abs(value) * 36_000)  # tenths of an arc-second, rounded once so 59.96" carries into the minute
    d, rest = divmod(tenths, 36_000)
    m, s = divmod(rest, 600)
    return f"{d}°{m:02d}′{s / 10:04.1f}″{pos if value >= 0 else neg}"


def dms(lat: float, lon: float) -> str:
    """"21°58′52.4″N 159°22′19.6″W": degrees, minutes and seconds (0.1″: about 3 m)."""
    lat, lon = _check(lat, lon)
    return f"{_dms1(lat, 'N', 'S')} {_dms1(lon, 'E', 'W')}"


_MGRS = re.compile(r"^(\d{0,2}[A-Z])([A-Z]{2})(\d*)$")


def mgrs_code(lat: float, lon: float, precision: int = 5) -> str:
    """The MGRS reference of a point, grouped "15T WG 00000 49776" (precision 5: 1 m; UPS near the poles).

    Raises:
        ValueError: the point is not on Earth.
    """
    import mgrs

    lat, lon = _check(lat, lon)
    raw = mgrs.MGRS().toMGRS(lat, lon, MGRSPrecision=int(precision))
    code = raw.decode() if isinstance(raw, bytes) else str(raw)
    m = _MGRS.match(code.replace(" ", ""))
    if not m:
        return code
    zone, square, digits = m.groups()
    half = len(digits) // 2
    return " ".join(p for p in (zone, square, digits[:half], digits[half:]) if p)


def plus_code(lat: float, lon: float, length: int = 11) -> str:
    """The Open Location Code ("plus code") of a point: "8FVC9G8F+6XQ" (11 characters: about 3 m x 3 m)."""
    from openlocationcode import openlocationcode as olc

    lat, lon = _check(lat, lon)
    return str(olc.encode(lat, lon, int(length)))


def coordinate_formats(lat: float, lon: float) -> dict[str, str]:
    """A point in the four formats: {"Decimal degrees", "DMS", "MGRS", "Plus code"} -> text."""
    return {"Decimal degrees": decimal_degrees(lat, lon), "DMS": dms(lat, lon), "MGRS": mgrs_code(lat, lon), "Plus code": plus_code(lat, lon)}
