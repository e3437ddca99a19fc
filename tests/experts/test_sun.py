"""Sun/shadow expert: hand-solved rings, two modes, antimeridian, poles, local time, validation."""

import datetime as dt

import numpy as np
import pytest

from geolocate.ensemble import Ensemble
from geolocate.experts.clock import LOG_ZERO, EvidenceError
from geolocate.experts.point import haversine_km
from geolocate.experts.solar import solar_position, subsolar_point
from geolocate.experts.sun import ObservationTime, SunExpert, SunObservation, parse_iso_time
from geolocate.grid import EARTH_RADIUS_KM, CellSet, children, global_grid


def _utc(text: str, sigma: float = 0.0) -> ObservationTime:
    return ObservationTime.parse(text, sigma)


def _unix(text: str) -> float:
    return parse_iso_time(text).timestamp()


def _arc_deg(lat1, lon1, lat2, lon2):
    return np.degrees(haversine_km(lat1, lon1, lat2, lon2) / EARTH_RADIUS_KM)


def test_pole_with_shadow_equal_to_height_gives_a_45_degree_ring_around_the_subsolar_point():
    g = global_grid(3)
    ob = SunObservation.from_shadow(2.0, 2.0, _utc("2024-03-20T12:00Z"), ratio_uncertainty=0.02)
    assert ob.altitude_deg == pytest.approx(45.0)
    ll = SunExpert([ob]).log_density(g)
    slat, slon = subsolar_point(_unix("2024-03-20T12:00Z"))
    arc = _arc_deg(g.lat, g.lon, slat, slon)
    spread = np.degrees(np.sqrt(g.area_km2 / (4 * np.pi)) / EARTH_RADIUS_KM)
    tol = 2 * np.sqrt(ob.altitude_sigma_deg**2 + spread**2) + 0.05
    ring = ll > ll.max() - 2.0  # within two standard deviations
    assert ring.sum() > 300
    # Apparent 45 degrees is geometric 44.98: the ring lies at 45.02 degrees of arc from the subsolar point.
    assert np.all(np.abs(arc[ring] - 45.02) < tol[ring])
    # The whole ring, all bearings around the subsolar point.
    bearing = np.degrees(np.arctan2(g.lon[ring] - slon, g.lat[ring] - slat))
    assert len(np.unique((bearing // 30).astype(int))) == 12
    # Far from the ring: negligible; on the night side: ruled out.
    assert np.all(ll[np.abs(arc - 45) > 10] < ll.max() - 50)
    assert np.all(ll[arc > 95] == LOG_ZERO)


def test_refinement_sharpens_the_ring():
    g = global_grid(3)
    e = SunExpert([SunObservation(time=_utc("2024-03-20T12:00Z"), altitude_deg=45.0, altitude_sigma_deg=0.1)])
    slat, slon = subsolar_point(_unix("2024-03-20T12:00Z"))

    def width(cells):
        p = np.exp(e.log_density(cells) - e.log_density(cells).max()) * cells.area_km2
        arc = _arc_deg(cells.lat, cells.lon, slat, slon)
        m = np.average(arc, weights=p)
        return np.sqrt(np.average((arc - m) ** 2, weights=p))

    band = np.abs(_arc_deg(g.lat, g.lon, slat, slon) - 45) < 3  # every cell the ring touches
    coarse = g.subset(band)
    fine, _ = children(coarse.cells, 5)
    # sigma 0.1 degrees widened by the cell spread: 0.28 degrees at res 3, 0.04 at res 5.
    assert 0.25 < width(coarse) < 0.35 and width(fine) < 0.15
    # And the ensemble's refinement concentrates the mass: half of it in less area.
    def area_for_half(d):
        order = np.argsort(-(d.log_mass - np.log(d.cells.area_km2)))
        k = np.searchsorted(np.cumsum(d.prob[order]), 0.5)
        return d.cells.area_km2[order][: k + 1].sum()

    ens = Ensemble([e], floor=0.0)
    assert area_for_half(ens.distribution(refine_to=5, refine_cells=4000)) < 0.8 * area_for_half(ens.distribution())


def test_two_shadows_at_two_times_have_two_modes_one_at_the_truth():
    lat0, lon0 = 48.85, 2.35
    times = ["2024-06-21T08:00Z", "2024-06-21T15:00Z"]
    obs = []
    for t in times:
        alt, _ = solar_position(lat0, lon0, _unix(t))
        obs.append(SunObservation(time=_utc(t), altitude_deg=float(alt), altitude_sigma_deg=0.5))
    g = global_grid(3)
    e = SunExpert(obs)
    ll = e.log_density(g)
    best = int(np.argmax(ll))
    d_best = haversine_km(g.lat, g.lon, g.lat[best], g.lon[best])
    far = d_best > 1500
    second = int(np.flatnonzero(far)[np.argmax(ll[far])])
    assert ll[second] > ll[best] - 2.0  # a second mode as strong as the first
    # Half-way between them the product is negligible: two separate modes, not one ridge.
    mid = g.locate(np.array([(g.lat[best] + g.lat[second]) / 2]), np.array([(g.lon[best] + g.lon[second]) / 2]))[0]
    assert ll[mid] < ll[best] - 8
    to_truth = haversine_km([g.lat[best], g.lat[second]], [g.lon[best], g.lon[second]], lat0, lon0)
    assert to_truth.min() < 150
    # Each single ring is one connected band: no second mode far away.
    assert np.sum(SunExpert(obs[:1]).log_density(g) > ll.max()) > 100


def test_antimeridian_and_polar_day():
    # Fiji, right on the antimeridian: two observations 4 hours apart.
    lat0, lon0 = -17.7, 179.9
    obs = []
    for t in ["2024-01-10T21:00Z", "2024-01-11T01:00Z"]:
        alt, _ = solar_position(lat0, lon0, _unix(t))
        obs.append(SunObservation(time=_utc(t), altitude_deg=float(alt), altitude_sigma_deg=0.3))
    e = SunExpert(obs)
    g = global_grid(3)
    ll = e.log_density(g)
    near = haversine_km(g.lat, g.lon, lat0, lon0) < 200
    assert np.any(g.lon[near] < 0) and np.any(g.lon[near] > 0)
    assert ll[near].max() > ll.max() - 1.0
    # Mirror cells either side of the meridian at the same latitude differ only as the geometry does.
    cells = CellSet.from_cells(np.array([g.cells[g.locate(np.array([lat0]), np.array([179.7]))[0]], g.cells[g.locate(np.array([lat0]), np.array([-179.9]))[0]]]))
    a = e.log_density(cells)
    assert np.all(a > ll.max() - 3)
    # Midnight sun at 80N: a low sun at 23:00 UTC in June; the pole region is finite everywhere.
    alt, _ = solar_position(80.0, 20.0, _unix("2024-06-21T23:00Z"))
    assert 5 < alt < 20
    e = SunExpert([SunObservation(time=_utc("2024-06-21T23:00Z"), altitude_deg=float(alt), altitude_sigma_deg=0.5)])
    ll = e.log_density(g)
    assert np.all(np.isfinite(ll))
    i = g.locate(np.array([80.0]), np.array([20.0]))[0]
    assert ll[i] > ll.max() - 2


def test_local_clock_time_is_converted_per_cell_zone():
    tokyo = (35.68, 139.76)
    t_utc = "2024-03-20T03:00Z"  # noon in Tokyo (UTC+09:00)
    alt, _ = solar_position(*tokyo, _unix(t_utc))
    local = SunExpert([SunObservation(time=_utc("2024-03-20T12:00"), altitude_deg=float(alt), altitude_sigma_deg=0.5)])
    wrong = SunExpert([SunObservation(time=_utc("2024-03-20T12:00Z"), altitude_deg=float(alt), altitude_sigma_deg=0.5)])
    g = global_grid(3)
    i = g.locate(np.array([tokyo[0]]), np.array([tokyo[1]]))[0]
    ll_local = local.log_density(g)
    assert ll_local[i] > ll_local.max() - 2
    assert wrong.log_density(g)[i] == LOG_ZERO  # midnight in Tokyo at 12:00 UTC
    # At local noon the same altitude fits the same latitudes in other zones (Madrid's clock runs ~1.5 h ahead
    # of the sun, so its band is shifted, but Quito's, UTC-5 at 78.5W, is near solar noon): the band is not a UTC ring.
    assert np.sum(ll_local > ll_local.max() - 2) > 50


def test_time_uncertainty_widens_the_band():
    g = global_grid(3)
    sharp = SunExpert([SunObservation(time=_utc("2024-09-01T10:00Z", 0), altitude_deg=30, altitude_sigma_deg=0.5)]).log_density(g)
    loose = SunExpert([SunObservation(time=_utc("2024-09-01T10:00Z", 60), altitude_deg=30, altitude_sigma_deg=0.5)]).log_density(g)

    def area_for_half(ll):
        order = np.argsort(-ll)
        p = np.exp(ll[order] - ll.max()) * g.area_km2[order]
        return g.area_km2[order][: np.searchsorted(np.cumsum(p) / p.sum(), 0.5) + 1].sum()

    # The sun climbs about 12 degrees an hour at 10:00 local: a +-1 h window spreads the ring over ~10x its width.
    assert area_for_half(loose) > 4 * area_for_half(sharp)


def test_azimuth_picks_one_side_of_the_ring():
    g = global_grid(3)
    t = "2024-03-20T12:00Z"
    slat, slon = subsolar_point(_unix(t))
    ring = SunExpert([SunObservation(time=_utc(t), altitude_deg=45, altitude_sigma_deg=0.5)]).log_density(g)
    # Sun due south at 45 degrees: the place is 45 degrees of arc north of the subsolar point.
    south = SunExpert([SunObservation(time=_utc(t), altitude_deg=45, altitude_sigma_deg=0.5, azimuth_deg=180, azimuth_sigma_deg=3)]).log_density(g)
    best = int(np.argmax(south))
    assert abs(g.lat[best] - (slat + 45)) < 2.5 and abs(g.lon[best] - slon) < 5
    assert (south > south.max() - 2).sum() < 0.2 * (ring > ring.max() - 2).sum()


@pytest.mark.parametrize(
    "make",
    [
        lambda: SunObservation.from_shadow(0.0, 1.0, _utc("2024-01-01T12:00Z")),
        lambda: SunObservation.from_shadow(-1.0, 1.0, _utc("2024-01-01T12:00Z")),
        lambda: SunObservation.from_shadow(1.0, -2.0, _utc("2024-01-01T12:00Z")),
        lambda: SunObservation(time=_utc("2024-01-01T12:00Z"), altitude_deg=0.0),
        lambda: SunObservation(time=_utc("2024-01-01T12:00Z"), altitude_deg=90.5),
        lambda: SunObservation(time=_utc("2024-01-01T12:00Z")),
        lambda: ObservationTime.parse("noon"),
        lambda: ObservationTime.parse("2024-02-30T12:00Z"),
        lambda: ObservationTime.parse("2024-01-01T12:00Z", sigma_min=-5),
    ],
)
def test_bad_input_raises_evidence_error_with_a_message(make):
    with pytest.raises(EvidenceError, match=r"\w+"):
        make()


def test_zenith_shadow_and_ratio_uncertainty():
    ob = SunObservation.from_shadow(1.0, 0.0, _utc("2024-01-01T12:00Z"))
    assert ob.altitude_deg == 90.0
    ob = SunObservation.from_shadow(1.0, 1.0, _utc("2024-01-01T12:00Z"), ratio_uncertainty=0.1)
    # atan(1.1) - atan(0.9) = 47.726 - 41.987 = 5.739 degrees, halved.
    assert ob.altitude_sigma_deg == pytest.approx(2.8696, abs=0.0005)
    assert ObservationTime.parse("2024-06-21T12:00+09:00").unix_s == dt.datetime(2024, 6, 21, 3, tzinfo=dt.UTC).timestamp()
    assert ObservationTime.parse("2024-06-21 12:00").local == dt.datetime(2024, 6, 21, 12)


@pytest.mark.parametrize("sigma_min,alt,alt_sigma", [(15, 30, 1.0), (30, 45, 0.5), (60, 20, 1.0), (10, 70, 0.3)])
def test_time_integration_matches_dense_quadrature(sigma_min, alt, alt_sigma):
    """The binned time integral against 321 exact-time evaluations over +-4 sigma: total variation < 3 %."""
    g = global_grid(3)
    t0 = _unix("2024-05-01T10:00Z")

    def mass(like):
        m = like * g.area_km2
        return m / m.sum()

    ours = mass(SunObservation(time=ObservationTime(unix_s=t0, sigma_min=sigma_min), altitude_deg=alt, altitude_sigma_deg=alt_sigma).likelihood(g))
    taus = np.linspace(-4 * sigma_min, 4 * sigma_min, 321)
    w = np.exp(-0.5 * (taus / sigma_min) ** 2)
    ref = sum(wi * SunObservation(time=ObservationTime(unix_s=t0 + 60 * ti, sigma_min=0), altitude_deg=alt, altitude_sigma_deg=alt_sigma).likelihood(g) for ti, wi in zip(taus, w / w.sum()))
    assert 0.5 * np.abs(ours - mass(ref)).sum() < 0.03
