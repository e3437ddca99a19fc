"""Solar position: against pvlib's NREL SPA, and hand-solved geometry."""

import numpy as np
import pytest

from geolocate.experts.solar import (
    delta_t_seconds,
    geocentric_from_apparent,
    refraction_deg,
    solar_position,
    subsolar_point,
    sun_vectors,
)
from geolocate.grid import latlon_to_xyz


def _unix(text: str) -> float:
    return np.datetime64(text, "s").astype(np.int64).astype(float)


def _random_cases(n: int = 2000, seed: int = 7):
    rng = np.random.default_rng(seed)
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    lon = rng.uniform(-180, 180, n)
    unix = rng.uniform(_unix("1950-01-01T00:00"), _unix("2050-12-31T23:59"), n)
    # A fifth of the cases in polar day or night: high latitudes around the solstices.
    k = n // 5
    lat[:k] = rng.choice([-1, 1], k) * rng.uniform(66.6, 90, k)
    solstice = np.where(rng.random(k) < 0.5, _unix("2024-06-21T00:00"), _unix("2024-12-21T00:00"))
    unix[:k] = solstice + rng.uniform(-10, 10, k) * 86400 + rng.uniform(0, 86400, k)
    return lat, lon, unix


def test_agrees_with_pvlib_spa_within_0_05_degrees():
    spa = pytest.importorskip("pvlib.spa")
    lat, lon, unix = _random_cases()
    dt = delta_t_seconds(1970 + unix / 86400 / 365.25)
    app_zen, zen, app_el, el, az, _ = spa.solar_position_numpy(unix, lat, lon, 0, 1013.25, 12, dt, 0.5667, 1, sst=False, esd=False)
    alt, our_az = solar_position(lat, lon, unix, refraction=False)
    app, _ = solar_position(lat, lon, unix)
    assert np.abs(alt - el).max() < 0.05
    # Refraction switches on at -0.83 degrees: compare apparent altitudes away from that step.
    off_step = np.abs(el + 0.8334) > 0.05
    assert off_step.sum() > 1900 and np.abs(app - app_el)[off_step].max() < 0.05
    # Azimuth as a direction on the sky (ill-defined at the zenith): angle between the sun vectors.
    def vec(a, z):
        a, z = np.radians(a), np.radians(z)
        return np.stack([np.cos(a) * np.sin(z), np.cos(a) * np.cos(z), np.sin(a)], -1)
    sep = np.degrees(np.arccos(np.clip((vec(alt, our_az) * vec(el, az)).sum(-1), -1, 1)))
    assert sep.max() < 0.05
    polar = np.abs(lat) > 66.6
    assert (el[polar] > 0).sum() > 100 and (el[polar] < 0).sum() > 100  # polar day and night both covered


def test_equinox_noon_utc_sun_near_zenith_at_0_0_and_on_the_horizon_at_90_east_and_west():
    t = _unix("2024-03-20T12:00")
    alt, az = solar_position(np.array([0.0, 0.0, 0.0]), np.array([0.0, 90.0, -90.0]), t)
    assert alt[0] > 87.5  # equation of time puts the subsolar point 1.8 degrees east of Greenwich
    assert abs(alt[1]) < 2.5 and abs(alt[2]) < 2.5
    assert abs(az[1] - 270) < 3 and abs(az[2] - 90) < 3  # setting in the west at 90E, rising in the east at 90W
    lat, lon = subsolar_point(t)
    assert abs(lat) < 0.5 and 1.0 < lon < 2.5


def test_sun_vectors_match_altitudes_and_subsolar_point_is_zenith():
    t = _unix("2021-06-21T06:00")
    s = sun_vectors(t)
    lat, lon = subsolar_point(t)
    assert abs(lat - 23.44) < 0.05  # June solstice declination
    alt, _ = solar_position(lat, lon, t, refraction=False)
    assert alt > 89.99
    pts_lat, pts_lon = np.array([10.0, -40.0, 70.0]), np.array([100.0, -60.0, 5.0])
    geo = np.degrees(np.arcsin(latlon_to_xyz(pts_lat, pts_lon) @ s))
    alt, _ = solar_position(pts_lat, pts_lon, t, refraction=False)
    assert np.allclose(geo - 8.794 / 3600 * np.cos(np.radians(geo)), alt, atol=1e-9)


def test_refraction_inverse_and_values():
    assert abs(float(refraction_deg(0.0)) - 0.48) < 0.02  # ~29 arcmin at the horizon (SPA formula)
    assert float(refraction_deg(45.0)) < 0.02
    assert float(refraction_deg(-5.0)) == 0.0
    for a in (0.5, 10.0, 45.0, 89.0):
        g = geocentric_from_apparent(a)
        topo = g - 8.794 / 3600 * np.cos(np.radians(g))
        assert abs(topo + float(refraction_deg(topo)) - a) < 1e-9


def test_datetime64_and_seconds_agree():
    t = np.array(["2030-01-01T05:30:00"], dtype="datetime64[s]")
    a1, z1 = solar_position(51.5, -0.1, t)
    a2, z2 = solar_position(51.5, -0.1, _unix("2030-01-01T05:30"))
    assert np.allclose(a1, a2) and np.allclose(z1, z2)
