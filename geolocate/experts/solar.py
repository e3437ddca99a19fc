"""Where the sun is: apparent altitude and azimuth at any places and UTC instants, vectorised.

The sun's apparent equatorial position (right ascension, declination) and Greenwich apparent sidereal
time follow Meeus, *Astronomical Algorithms* (2nd ed.), chapters 12 and 25 (low-accuracy solar
coordinates, about 0.01 degrees). They depend on the instant only, so a field over many cells costs
one ephemeris per instant plus the spherical trigonometry per cell:

    sin(alt) = sin(lat) sin(dec) + cos(lat) cos(dec) cos(H),   H = GAST + lon - RA.

Altitudes are topocentric (solar parallax, 8.8 arcsec, removed) and, for :func:`apparent_altitude`,
raised by the refraction formula of NREL's SPA (standard atmosphere 1013.25 hPa, 12 °C) so they match
``pvlib.solarposition.spa_python``'s ``apparent_elevation``: what a shadow follows. Validated against
pvlib's SPA in ``tests/experts/test_solar.py`` (within 0.05 degrees on 2,000 random places and instants
from 1950 to 2050, polar day and night included).

Conventions: degrees everywhere; latitude north positive, longitude east positive; azimuth clockwise
from true north (90 = east); instants are UTC seconds since 1970-01-01 (float64) or ``datetime64``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

_UNIX_EPOCH_JD = 2440587.5
_J2000_JD = 2451545.0
SOLAR_PARALLAX_DEG = 8.794 / 3600.0
REFRACTION_AT_HORIZON_DEG = 0.5667
"""Refraction SPA assumes at the horizon; the sun's upper limb shows until the centre is this plus its
radius (0.26667 degrees) below the geometric horizon."""


def to_unix_seconds(instants: ArrayLike) -> np.ndarray:
    """UTC instants as float64 seconds since 1970-01-01: from ``datetime64`` or numbers (passed through)."""
    arr = np.asarray(instants)
    if np.issubdtype(arr.dtype, np.datetime64):
        return arr.astype("datetime64[ms]").astype(np.int64) / 1000.0
    return arr.astype(np.float64)


def delta_t_seconds(year: ArrayLike) -> np.ndarray:
    """TT - UT in seconds (Espenak & Meeus polynomials, 1950-2150); clamped outside.

    One minute of error moves the sun by 0.0007 degrees along its orbit, so a rough value is enough.
    """
    y = np.clip(np.asarray(year, dtype=np.float64), 1950.0, 2150.0)
    t = y - 2000.0
    return np.select(
        [y < 1986, y < 2005, y < 2050],
        [
            45.45 + 1.067 * (y - 1975) - (y - 1975) ** 2 / 260 - (y - 1975) ** 3 / 718,
            63.86 + 0.3345 * t - 0.060374 * t**2 + 0.0017275 * t**3 + 0.000651814 * t**4 + 0.00002373599 * t**5,
            62.92 + 0.32217 * t + 0.005589 * t**2,
        ],
        -20 + 32 * ((y - 1820) / 100) ** 2 - 0.5628 * (2150 - y),
    )


def sun_ephemeris(instants: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sun's apparent right ascension and declination, and Greenwich apparent sidereal time.

    Args:
        instants: UTC instants, any shape (seconds since 1970 or ``datetime64``).

    Returns:
        (ra_deg, dec_deg, gast_deg), each shaped like ``instants``; RA and GAST in [0, 360).
    """
    unix = to_unix_seconds(instants)
    jd_ut = unix / 86400.0 + _UNIX_EPOCH_JD
    year = 2000.0 + (jd_ut - _J2000_JD) / 365.25
    jd_tt = jd_ut + delta_t_seconds(year) / 86400.0
    t = (jd_tt - _J2000_JD) / 36525.0  # Julian centuries of TT

    l0 = 280.46646 + t * (36000.76983 + 0.0003032 * t)
    m = np.radians(357.52911 + t * (35999.05029 - 0.0001537 * t))
    c = (1.914602 - t * (0.004817 + 0.000014 * t)) * np.sin(m) + (0.019993 - 0.000101 * t) * np.sin(2 * m) + 0.000289 * np.sin(3 * m)
    omega = np.radians(125.04452 - 1934.136261 * t)
    l_moon = np.radians(218.3165 + 481267.8813 * t)
    l_sun = np.radians(280.4665 + 36000.7698 * t)
    # Nutation in longitude and obliquity (Meeus 22, terms above 0.1 arcsec), degrees.
    dpsi = (-17.20 * np.sin(omega) - 1.32 * np.sin(2 * l_sun) - 0.23 * np.sin(2 * l_moon) + 0.21 * np.sin(2 * omega)) / 3600.0
    deps = (9.20 * np.cos(omega) + 0.57 * np.cos(2 * l_sun) + 0.10 * np.cos(2 * l_moon) - 0.09 * np.cos(2 * omega)) / 3600.0
    eps0 = 23.0 + 26.0 / 60 + 21.448 / 3600 - t * (46.8150 + t * (0.00059 - 0.001813 * t)) / 3600.0
    eps = np.radians(eps0 + deps)
    # Apparent longitude: true longitude + nutation - aberration (20.4898" / R, R ~ 1 AU).
    e = 0.016708634 - t * (0.000042037 + 0.0000001267 * t)
    nu = m + np.radians(c)
    r_au = 1.000001018 * (1 - e**2) / (1 + e * np.cos(nu))
    lam = np.radians(l0 + c + dpsi - 20.4898 / 3600.0 / r_au)
    ra = np.degrees(np.arctan2(np.cos(eps) * np.sin(lam), np.cos(lam))) % 360.0
    dec = np.degrees(np.arcsin(np.sin(eps) * np.sin(lam)))

    d = jd_ut - _J2000_JD
    t_ut = d / 36525.0
    # GMST (Meeus 12.4); the whole-day multiple of 360 is dropped first to keep float64 precision.
    gmst = 280.46061837 + 360.0 * (d % 1.0) + 0.98564736629 * d + t_ut**2 * (0.000387933 - t_ut / 38710000.0)
    gast = (gmst + dpsi * np.cos(eps)) % 360.0
    return ra, dec, gast


def refraction_deg(altitude_deg: ArrayLike, pressure_hpa: float = 1013.25, temperature_c: float = 12.0) -> np.ndarray:
    """Atmospheric refraction (degrees) to add to a geometric altitude, as in NREL's SPA (zero well below the horizon)."""
    e0 = np.asarray(altitude_deg, dtype=np.float64)
    on = e0 >= -(0.26667 + REFRACTION_AT_HORIZON_DEG)
    arg = np.radians(e0 + 10.3 / (e0 + 5.11))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (pressure_hpa / 1010.0) * (283.0 / (273.0 + temperature_c)) * 1.02 / (60.0 * np.tan(arg))
    return np.where(on, r, 0.0)


def altitude_azimuth(
    lat_deg: ArrayLike,
    lon_deg: ArrayLike,
    ra_deg: ArrayLike,
    dec_deg: ArrayLike,
    gast_deg: ArrayLike,
    azimuth: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Topocentric geometric altitude (no refraction) and azimuth of the sun given its ephemeris (broadcasts).

    Use this with :func:`sun_ephemeris` for fields: the ephemeris of T instants shaped (T, 1) against cells
    shaped (n,) gives (T, n) fields with one ephemeris per instant.

    Returns:
        (altitude_deg, azimuth_deg or None when ``azimuth`` is False).
    """
    lat = np.radians(np.asarray(lat_deg, dtype=np.float64))
    dec = np.radians(np.asarray(dec_deg, dtype=np.float64))
    h = np.radians(np.asarray(gast_deg) + np.asarray(lon_deg) - np.asarray(ra_deg))
    sin_lat, cos_lat = np.sin(lat), np.cos(lat)
    sin_dec, cos_dec = np.sin(dec), np.cos(dec)
    cos_h = np.cos(h)
    sin_alt = np.clip(sin_lat * sin_dec + cos_lat * cos_dec * cos_h, -1.0, 1.0)
    alt = np.degrees(np.arcsin(sin_alt))
    alt = alt - SOLAR_PARALLAX_DEG * np.cos(np.radians(alt))
    if not azimuth:
        return alt, None
    # Azimuth from north: east component -cos(dec) sin(H), north component cos(lat) sin(dec) - sin(lat) cos(dec) cos(H).
    az = np.degrees(np.arctan2(-cos_dec * np.sin(h), cos_lat * sin_dec - sin_lat * cos_dec * cos_h)) % 360.0
    return alt, az


def solar_position(lat_deg: ArrayLike, lon_deg: ArrayLike, instants: ArrayLike, refraction: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Sun altitude and azimuth at places and UTC instants (all broadcast together).

    Args:
        lat_deg: latitudes, degrees.
        lon_deg: longitudes, degrees east.
        instants: UTC instants (seconds since 1970 or ``datetime64``).
        refraction: add standard-atmosphere refraction (apparent altitude, what shadows follow).

    Returns:
        (altitude_deg, azimuth_deg) with the broadcast shape; azimuth clockwise from north.
    """
    ra, dec, gast = sun_ephemeris(instants)
    alt, az = altitude_azimuth(lat_deg, lon_deg, ra, dec, gast)
    assert az is not None  # asked for
    if refraction:
        alt = alt + refraction_deg(alt)
    return alt, az


def apparent_altitude(geometric_altitude_deg: ArrayLike) -> np.ndarray:
    """Geometric (topocentric) altitude plus standard refraction, degrees."""
    alt = np.asarray(geometric_altitude_deg, dtype=np.float64)
    return alt + refraction_deg(alt)


def subsolar_point(instants: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude (degrees, longitude in [-180, 180)) where the sun is at the zenith."""
    ra, dec, gast = sun_ephemeris(instants)
    return dec, (ra - gast + 180.0) % 360.0 - 180.0


def sun_vectors(instants: ArrayLike) -> np.ndarray:
    """Earth-fixed unit vectors towards the sun (x to 0°E on the equator, z to the north pole), shape (..., 3).

    The geocentric altitude at a place with unit vector ``x`` is ``asin(s . x)``, so a field over many
    cells is one matrix product (subtract the parallax and add refraction for the apparent altitude).
    """
    lat, lon = subsolar_point(instants)
    la, lo = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


def geocentric_from_apparent(apparent_deg: float) -> float:
    """The geocentric altitude (no parallax, no refraction) whose apparent altitude is ``apparent_deg``, degrees.

    Solved by fixed-point iteration (refraction changes slowly with altitude, so it converges in a few steps).
    """
    g = float(apparent_deg)
    for _ in range(30):
        topo = g - SOLAR_PARALLAX_DEG * np.cos(np.radians(g))
        g_new = g + (float(apparent_deg) - (topo + float(refraction_deg(topo))))
        if abs(g_new - g) < 1e-10:
            return g_new
        g = g_new
    return g
