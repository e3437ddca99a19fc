"""Sun and shadow evidence: where on Earth the sun stood at the observed altitude (and azimuth) then.

Observation model, per observation and cell:

    L(cell) = sum_k w_k N(a_obs; a(cell, t_k), s_a^2) [x N(z_obs; z(cell, t_k), s_z^2)],  a(cell, t_k) > 0

* ``a`` is the sun's apparent altitude (refraction included: what a shadow follows), ``z`` its azimuth
  (clockwise from north; a shadow points to ``z + 180``), both from :mod:`geolocate.experts.solar`.
* ``t_k, w_k`` integrate a Gaussian time uncertainty (``sigma_t`` minutes) on evenly spaced nodes over
  +-3.5 sigma_t, close enough that the sun moves less than the altitude uncertainty between nodes
  (it moves at most 0.25 degrees a minute), so the sum is a smooth band, not a comb.
* ``s_a^2 = sigma_a^2 + c^2`` widens the measurement uncertainty by the cell's own spread ``c``
  (radius of gyration of a disc of the cell's area, in degrees of arc): altitude changes by exactly one
  degree per degree of arc towards the subsolar point, so a cell's centre value stands for its mean
  and a 1-degree ring is not missed by 100 km cells. Refined (smaller) cells sharpen the band.
* For azimuth the spread is divided by the sine of the zenith distance (azimuth turns fast near the
  subsolar point); the Gaussian is on the wrapped difference.
* Night (apparent altitude <= 0 at a node) contributes zero: a shadow needs the sun.
* Time given as local clock time (naive) is converted per cell with the cell's IANA zones
  (:mod:`geolocate.experts.clock`), each zone share weighted by its area.

Several observations multiply (independent measurements). The returned log density is floored at
:data:`LOG_ZERO` (-700) where the likelihood underflows; the ensemble's uniform floor does the rest.
A shadow of height ``h`` and length ``l`` gives ``a = atan(h / l)``; a relative uncertainty ``p`` on
the ratio becomes ``sigma_a = (atan(r (1 + p)) - atan(r (1 - p))) / 2``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

from ..grid import EARTH_RADIUS_KM, CellSet
from .base import Expert, ExpertKind
from .clock import LOG_ZERO, EvidenceError, zone_offsets_at_wall_time, zone_samples, zone_table
from .solar import SOLAR_PARALLAX_DEG, apparent_altitude, geocentric_from_apparent, sun_vectors

MIN_ALTITUDE_SIGMA_DEG = 0.05
"""Smallest altitude uncertainty accepted (below the solar model's own error)."""

SUN_CURVATURE_DEG_PER_MIN2 = math.degrees((2 * math.pi / 1440.0) ** 2)
"""Largest second derivative of the sun's altitude away from the zenith (at culmination on the equator), degrees/min²."""

MAX_TIME_BINS = 41
MAX_TIME_EDGES = 61

SUN_RATE_MAX_DEG_PER_MIN = 0.25
"""Fastest change of the sun's altitude (on the equator at an equinox), degrees per minute."""


def _erfc_pos(x: np.ndarray) -> np.ndarray:
    """erfc(x) for x >= 0 (Abramowitz & Stegun 7.1.26: absolute error < 1.5e-7, relative < 0.1 % up to x = 3)."""
    t = 1.0 / (1.0 + 0.3275911 * x)
    return t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))) * np.exp(-x * x)


def _normal_cdf_steps(z: np.ndarray) -> np.ndarray:
    """|Phi(z[j + 1]) - Phi(z[j])| along axis 0 for the standard normal CDF Phi, accurate in both tails.

    One erfc per value: on the same side of the mean the difference is taken between the tails
    ``erfc(|z| / sqrt 2) / 2`` (which keeps its relative precision far out), across the mean from 1.
    """
    tail = 0.5 * _erfc_pos(np.abs(z) * math.sqrt(0.5))
    upper = z >= 0
    same = upper[:-1] == upper[1:]
    return np.where(same, np.abs(tail[:-1] - tail[1:]), 1.0 - tail[:-1] - tail[1:])


_OMEGA_RAD_PER_MIN = 2 * math.pi / 1440.0

_HORIZON_GEOCENTRIC_DEG = geocentric_from_apparent(0.0)
"""Geocentric altitude of the sun's centre when it appears on the horizon (about -0.5 degrees)."""


@dataclass(frozen=True)
class ObservationTime:
    """When an observation was made: a UTC instant, or a local clock reading valid at the place.

    Attributes:
        unix_s: UTC seconds since 1970, or None for local clock time.
        local: naive local clock time (the place's own zone converts it), or None for a UTC instant.
        sigma_min: standard deviation of the time, minutes.
    """

    unix_s: float | None = None
    local: dt.datetime | None = None
    sigma_min: float = 15.0

    def __post_init__(self):
        if (self.unix_s is None) == (self.local is None):
            raise EvidenceError("a time is either a UTC instant or a local clock reading, not both or neither")
        if not (math.isfinite(self.sigma_min) and 0 <= self.sigma_min <= 24 * 60):
            raise EvidenceError(f"time uncertainty must be 0 to 1,440 minutes, got {self.sigma_min:g}")

    @classmethod
    def parse(cls, text: str, sigma_min: float = 15.0) -> ObservationTime:
        """ISO 8601: ``2024-06-21T12:00Z`` or ``...+09:00`` is an instant; without offset, local clock time."""
        when = parse_iso_time(text)
        if when.tzinfo is None:
            return cls(local=when, sigma_min=sigma_min)
        return cls(unix_s=when.timestamp(), sigma_min=sigma_min)

    def label(self) -> str:
        """E.g. ``2024-06-21 12:00 UTC ± 15 min`` or ``... local clock``."""
        if self.unix_s is not None:
            t = dt.datetime.fromtimestamp(self.unix_s, dt.UTC)
            text = f"{t:%Y-%m-%d %H:%M} UTC"
        else:
            text = f"{self.local:%Y-%m-%d %H:%M} local clock"
        return text + (f" ± {self.sigma_min:g} min" if self.sigma_min else "")

    def to_iso(self) -> str:
        """ISO 8601: ``...Z`` for an instant, naive for a local clock reading."""
        if self.unix_s is not None:
            return dt.datetime.fromtimestamp(self.unix_s, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert self.local is not None  # one of the two is set (checked on construction)
        return self.local.strftime("%Y-%m-%dT%H:%M:%S")


def parse_iso_time(text: str) -> dt.datetime:
    """Parse an ISO 8601 date-time (``Z``, ``+HH:MM`` or naive; ``T`` or a space; seconds optional).

    Raises:
        EvidenceError: with the accepted forms, if it does not parse or has no time of day.
    """
    s = str(text).strip()
    if len(s) < 13 or not s[:4].isdigit():
        raise EvidenceError(f"time {text!r} is not understood: write e.g. 2024-06-21T14:30Z (UTC), 2024-06-21T14:30+09:00, or 2024-06-21T14:30 (local clock time)")
    try:
        when = dt.datetime.fromisoformat(s.replace("z", "Z"))
    except ValueError:
        raise EvidenceError(f"time {text!r} is not understood: write e.g. 2024-06-21T14:30Z (UTC), 2024-06-21T14:30+09:00, or 2024-06-21T14:30 (local clock time)") from None
    check_year(when, f"time {text!r}")
    return when


YEARS = (1900, 2100)
"""Years a time may fall in (typed, from a link or from EXIF): the solar model's range, and far from
``datetime``'s limits, so converting with any UTC offset cannot overflow."""


def check_year(when: dt.datetime, what: str) -> None:
    """The one range check of typed, linked and EXIF times.

    Raises:
        EvidenceError: ``what``: the year must be 1900-2100.
    """
    if not YEARS[0] <= when.year <= YEARS[1]:
        raise EvidenceError(f"{what}: the year must be {YEARS[0]}-{YEARS[1]}")


@dataclass(frozen=True)
class SunObservation:
    """One sighting of the sun: its apparent altitude and/or azimuth at a time.

    Attributes:
        time: when.
        altitude_deg: apparent altitude in (0, 90], or None.
        altitude_sigma_deg: its standard deviation, degrees.
        azimuth_deg: the sun's azimuth clockwise from true north (shadow azimuth + 180), or None.
        azimuth_sigma_deg: its standard deviation, degrees.
        label: what the analyst entered, for messages.
    """

    time: ObservationTime
    altitude_deg: float | None = None
    altitude_sigma_deg: float = 1.0
    azimuth_deg: float | None = None
    azimuth_sigma_deg: float = 5.0
    label: str = ""

    def __post_init__(self):
        if self.altitude_deg is None and self.azimuth_deg is None:
            raise EvidenceError("a sun observation needs an altitude (or a shadow) or an azimuth")
        if self.altitude_deg is not None and not (math.isfinite(self.altitude_deg) and 0 < self.altitude_deg <= 90):
            raise EvidenceError(f"sun altitude must be above 0 and at most 90 degrees, got {self.altitude_deg:g}")
        if not (math.isfinite(self.altitude_sigma_deg) and self.altitude_sigma_deg > 0):
            raise EvidenceError(f"altitude uncertainty must be a positive number of degrees, got {self.altitude_sigma_deg:g}")
        if self.azimuth_deg is not None and not math.isfinite(self.azimuth_deg):
            raise EvidenceError("sun azimuth must be a number of degrees clockwise from north")
        if not (math.isfinite(self.azimuth_sigma_deg) and self.azimuth_sigma_deg > 0):
            raise EvidenceError(f"azimuth uncertainty must be a positive number of degrees, got {self.azimuth_sigma_deg:g}")

    @classmethod
    def from_shadow(cls, height: float, length: float, time: ObservationTime, ratio_uncertainty: float = 0.05, **kw) -> SunObservation:
        """An object of ``height`` casting a shadow of ``length`` on level ground (same units).

        Args:
            height: the object's height, > 0.
            length: its shadow's length, >= 0 (0: the sun at the zenith).
            time: when.
            ratio_uncertainty: relative uncertainty of height/length (0.05 = ±5 %), in (0, 1).
            **kw: other :class:`SunObservation` fields (azimuth, its uncertainty, label).
        """
        if not (math.isfinite(height) and math.isfinite(length)) or height <= 0 or length < 0:
            raise EvidenceError(f"shadow {height:g}:{length:g}: the height must be > 0 and the length >= 0 (the ratio height/length must be positive)")
        if not (math.isfinite(ratio_uncertainty) and 0 < ratio_uncertainty < 1):
            raise EvidenceError(f"shadow ratio uncertainty must be between 0 and 100 %, got {100 * ratio_uncertainty:g} %")
        if length == 0:
            alt, sigma = 90.0, math.degrees(math.atan(1 / ratio_uncertainty)) / 2
        else:
            r = height / length
            alt = math.degrees(math.atan(r))
            sigma = math.degrees(math.atan(r * (1 + ratio_uncertainty)) - math.atan(r * (1 - ratio_uncertainty))) / 2
        label = kw.pop("label", "") or f"shadow {height:g}:{length:g} (sun at {alt:.1f}°) at {time.label()}"
        return cls(time=time, altitude_deg=alt, altitude_sigma_deg=max(sigma, MIN_ALTITUDE_SIGMA_DEG), label=label, **kw)

    def describe(self) -> str:
        """What was observed, for messages."""
        if self.label:
            return self.label
        parts = []
        if self.altitude_deg is not None:
            parts.append(f"sun altitude {self.altitude_deg:g}° ± {self.altitude_sigma_deg:g}°")
        if self.azimuth_deg is not None:
            parts.append(f"azimuth {self.azimuth_deg:g}° ± {self.azimuth_sigma_deg:g}°")
        return ", ".join(parts) + f" at {self.time.label()}"

    def time_bins(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The Gaussian time uncertainty cut into bins, for observations with an azimuth.

        Returns (mean offset in minutes, probability, variance in minutes²) of each bin, shape (K,) each.

        Within a bin the sun's motion is taken as linear, so the bin adds ``rate² x variance`` to the
        altitude (and azimuth) variance. Bins are as wide as the sun's curvature allows (the altitude
        departs from its tangent by at most a quarter of the altitude uncertainty), so a +-15 min
        uncertainty is usually one bin (a single Gaussian) and a +-2 h one a handful.
        """
        s = self.time.sigma_min
        if s <= 0:
            return np.zeros(1), np.ones(1), np.zeros(1)
        a_sigma = self.altitude_sigma_deg if self.altitude_deg is not None else 2.0
        if self.azimuth_deg is not None:
            a_sigma = min(a_sigma, self.azimuth_sigma_deg)
        # Half-width h with curvature * h² / 2 <= sigma / 4.
        width = 2.0 * math.sqrt(a_sigma / (2.0 * SUN_CURVATURE_DEG_PER_MIN2))
        k = min(int(math.ceil(7.0 * s / width)), MAX_TIME_BINS) | 1
        if k == 1:
            return np.zeros(1), np.ones(1), np.array([s * s])
        edges = np.concatenate([[-np.inf], np.linspace(-3.5, 3.5, k + 1)[1:-1], [np.inf]])
        lo, hi = edges[:-1], edges[1:]

        def pdf(z: np.ndarray) -> np.ndarray:
            return np.where(np.isfinite(z), np.exp(-0.5 * np.where(np.isfinite(z), z, 0.0) ** 2) / math.sqrt(2 * math.pi), 0.0)

        cdf = np.array([0.5 * (1.0 + math.erf(z / math.sqrt(2.0))) if np.isfinite(z) else float(z > 0) for z in edges])
        zmass = np.diff(cdf)
        mean = (pdf(lo) - pdf(hi)) / zmass
        zlo = np.where(np.isfinite(lo), lo, 0.0) * pdf(lo)
        zhi = np.where(np.isfinite(hi), hi, 0.0) * pdf(hi)
        var = 1.0 + (zlo - zhi) / zmass - mean**2
        return s * mean, zmass / zmass.sum(), s * s * np.maximum(var, 0.0)

    def time_edges(self) -> tuple[np.ndarray, np.ndarray]:
        """Bins of the Gaussian time uncertainty over +-3.5 sigma, for an altitude alone.

        Returns edges (minutes from the nominal time, (M + 1,)) and bin probabilities ((M,), sum 1).

        Bins are at most half a sigma wide, and narrow enough that the sun's altitude departs from the
        chord between the edges by at most a quarter of the altitude uncertainty.
        """
        s = self.time.sigma_min
        chord = math.sqrt(2.0 * self.altitude_sigma_deg / SUN_CURVATURE_DEG_PER_MIN2)
        m = min(max(int(math.ceil(7.0 * s / min(0.5 * s, chord))), 1), MAX_TIME_EDGES - 1)
        z = np.linspace(-3.5, 3.5, m + 1)
        cdf = 0.5 * (1.0 + np.array([math.erf(v / math.sqrt(2.0)) for v in z]))
        w = np.diff(cdf)
        return s * z, w / w.sum()

    def likelihood(self, cells: CellSet) -> np.ndarray:
        """Likelihood of this observation at each cell (density in degrees^-1 or degrees^-2), (n,) >= 0."""
        n = len(cells)
        pos, share, base_unix, which = self._instants(cells)
        if self.azimuth_deg is None and self.time.sigma_min * SUN_RATE_MAX_DEG_PER_MIN * 3.5 > 0.5 * self.altitude_sigma_deg:
            per_pair = self._altitude_over_time(cells, pos, base_unix, which)
            return np.bincount(pos, weights=share * per_pair, minlength=n)
        tau, w, tvar = self.time_bins()
        sun = sun_vectors(base_unix[None, :] + 60.0 * tau[:, None])  # (K, U, 3) Earth-fixed
        # The sun turns westwards about the polar axis once a (solar) day: ds/dt = omega (s_y, -s_x, 0).
        sun_dot = _OMEGA_RAD_PER_MIN * np.stack([sun[..., 1], -sun[..., 0], np.zeros_like(sun[..., 0])], axis=-1)
        xyz = cells.xyz[pos]

        def dot(v: np.ndarray, xyz: np.ndarray) -> np.ndarray:
            # (K, P): one matrix product when every cell shares the instant, else per-cell instants.
            if which is None:
                return v[:, 0, :] @ xyz.T
            return sum(v[:, which, k] * xyz[None, :, k] for k in range(3))

        sin_alt = np.clip(dot(sun, xyz), -1.0, 1.0)
        cos_alt = np.sqrt(1.0 - sin_alt**2)
        # Compare geocentric altitudes: the observation is converted once instead of every cell's value.
        alt = np.degrees(np.arcsin(sin_alt))
        spread2 = (np.degrees(np.sqrt(cells.area_km2[pos] / (4 * np.pi)) / EARTH_RADIUS_KM)) ** 2
        like = (alt > _HORIZON_GEOCENTRIC_DEG).astype(np.float64)
        if self.altitude_deg is not None:
            rate = np.degrees(dot(sun_dot, xyz) / np.maximum(cos_alt, 1e-6))  # degrees per minute
            var = self.altitude_sigma_deg**2 + spread2 + rate**2 * tvar[:, None]
            obs = geocentric_from_apparent(self.altitude_deg)
            like *= np.exp(-0.5 * (obs - alt) ** 2 / var) / np.sqrt(2 * np.pi * var)
        if self.azimuth_deg is not None:
            lat, lon = np.radians(cells.lat[pos]), np.radians(cells.lon[pos])
            east_hat = np.stack([-np.sin(lon), np.cos(lon), np.zeros_like(lon)], axis=-1)
            north_hat = np.stack([-np.sin(lat) * np.cos(lon), -np.sin(lat) * np.sin(lon), np.cos(lat)], axis=-1)
            east, north = dot(sun, east_hat), dot(sun, north_hat)
            horiz2 = np.maximum(east**2 + north**2, 1e-12)
            az_rate = np.degrees((north * dot(sun_dot, east_hat) - east * dot(sun_dot, north_hat)) / horiz2)
            az = np.degrees(np.arctan2(east, north))
            var = np.minimum(self.azimuth_sigma_deg**2 + spread2 / horiz2 + az_rate**2 * tvar[:, None], 180.0**2)
            d = (self.azimuth_deg - az + 180.0) % 360.0 - 180.0
            like *= np.exp(-0.5 * d**2 / var) / np.sqrt(2 * np.pi * var)
        per_pair = w @ like
        return np.bincount(pos, weights=share * per_pair, minlength=n)

    def _altitude_over_time(self, cells: CellSet, pos: np.ndarray, base_unix: np.ndarray, which: np.ndarray | None) -> np.ndarray:
        """Altitude likelihood integrated over the time bins, (P,).

        Exact for an altitude linear in time within each bin: the mean of N(obs; a, s²) for a running
        from a(t_j) to a(t_j+1) is a difference of normal CDFs over (a(t_j+1) - a(t_j)). Few altitude
        evaluations (the bin edges) give a smooth band.
        """
        assert self.altitude_deg is not None  # this path is for altitude observations
        edges, w = self.time_edges()
        sun = sun_vectors(base_unix[None, :] + 60.0 * edges[:, None])  # (M + 1, U, 3)
        obs = geocentric_from_apparent(self.altitude_deg)
        sd_all = np.sqrt(self.altitude_sigma_deg**2 + (np.degrees(np.sqrt(cells.area_km2[pos] / (4 * np.pi)) / EARTH_RADIUS_KM)) ** 2)
        # Only cells the band can reach: the altitude changes at most 0.25 degrees a minute, so within the
        # window it stays that close to its value at the nominal time; beyond 6 sd more the likelihood is
        # below exp(-18) of the peak. Typically a fifth to a third of the cells remain.
        if which is None:
            sin_mid = cells.xyz[pos] @ sun[len(edges) // 2, 0]
        else:
            sin_mid = np.einsum("pk,pk->p", sun[len(edges) // 2, which], cells.xyz[pos])
        a_mid = np.degrees(np.arcsin(np.clip(sin_mid, -1.0, 1.0)))
        near = np.flatnonzero(np.abs(a_mid - obs) <= SUN_RATE_MAX_DEG_PER_MIN * float(np.abs(edges).max()) + 6.0 * sd_all)
        out = np.zeros(len(pos))
        if not len(near):
            return out
        xyz, sd = cells.xyz[pos[near]], sd_all[near]
        if which is None:
            sin_alt = sun[:, 0, :] @ xyz.T
        else:
            sin_alt = sum(sun[:, which[near], k] * xyz[None, :, k] for k in range(3))
        alt = np.degrees(np.arcsin(np.clip(sin_alt, -1.0, 1.0)))  # (M + 1, P near)
        z = (obs - alt) / sd
        lo, hi = z[:-1], z[1:]
        span = alt[1:] - alt[:-1]
        mid = 0.5 * (lo + hi)
        # Where the altitude barely moves within a bin (culmination), the midpoint density is exact enough
        # and avoids cancelling two nearly equal CDFs.
        flat = np.abs(lo - hi) < 0.05
        with np.errstate(divide="ignore", invalid="ignore"):
            per_bin = np.where(flat, np.exp(-0.5 * mid**2) / (np.sqrt(2 * np.pi) * sd), _normal_cdf_steps(z) / np.abs(span))
        up = (alt > _HORIZON_GEOCENTRIC_DEG).astype(np.float64)
        out[near] = w @ (per_bin * 0.5 * (up[:-1] + up[1:]))
        return out

    def _instants(self, cells: CellSet) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """(cell positions, shares, distinct UTC instants (U,), instant index per position or None when U = 1).

        A UTC time is one instant for every cell; a local clock time gives one instant per UTC offset
        of the zones each cell overlaps (a cell on a zone border appears once per zone, with its share).
        """
        n = len(cells)
        if self.time.unix_s is not None:
            return np.arange(n), np.ones(n), np.array([self.time.unix_s]), None
        assert self.time.local is not None  # a local clock reading when there is no instant
        pos, zid, share = zone_samples(cells)
        _, _, names = zone_table()
        off = zone_offsets_at_wall_time(names, self.time.local)[zid]
        ok = off < 10_000
        pos, share, off = pos[ok], share[ok], off[ok]
        offsets, which = np.unique(off, return_inverse=True)
        naive_utc = self.time.local.replace(tzinfo=dt.UTC).timestamp()
        return pos, share, naive_utc - offsets * 60.0, which

    def nominal_altitude(self, cells: CellSet) -> np.ndarray:
        """Apparent sun altitude (degrees) at each cell centre at the nominal time, (n,).

        For a local clock time, the highest over the zones a border cell overlaps.
        """
        pos, _, base_unix, which = self._instants(cells)
        sun = sun_vectors(base_unix)[np.zeros(len(pos), np.int64) if which is None else which]
        geo = np.degrees(np.arcsin(np.clip(np.einsum("ij,ij->i", sun, cells.xyz[pos]), -1.0, 1.0)))
        out = np.full(len(cells), -90.0)
        np.maximum.at(out, pos, apparent_altitude(geo - SOLAR_PARALLAX_DEG * np.cos(np.radians(geo))))
        return out

    def peak_likelihood(self) -> float:
        """The largest value :meth:`likelihood` can take (a perfect fit at a point-sized cell)."""
        peak = 1.0
        if self.altitude_deg is not None:
            peak /= math.sqrt(2 * math.pi) * self.altitude_sigma_deg
        if self.azimuth_deg is not None:
            peak /= math.sqrt(2 * math.pi) * self.azimuth_sigma_deg
        return peak


class SunExpert(Expert):
    """Product of the likelihoods of independent sun/shadow observations.

    Args:
        observations: one or more :class:`SunObservation`.
        name: label.
    """

    kind = ExpertKind.ANALYST

    def __init__(self, observations: list[SunObservation] | tuple[SunObservation, ...], name: str = "sun"):
        if not observations:
            raise EvidenceError("the sun expert needs at least one observation")
        self.observations, self.name = tuple(observations), name

    def observation_log_likelihoods(self, cells: CellSet) -> np.ndarray:
        """Log likelihood of each observation at each cell relative to its peak, (m, n) <= ~0, floored at LOG_ZERO."""
        out = np.empty((len(self.observations), len(cells)))
        for i, ob in enumerate(self.observations):
            with np.errstate(divide="ignore"):
                out[i] = np.maximum(np.log(ob.likelihood(cells) / ob.peak_likelihood()), LOG_ZERO)
        return out

    def log_density(self, cells: CellSet) -> np.ndarray:
        """Sum of the observations' log likelihoods (relative to their peaks), floored at :data:`LOG_ZERO`."""
        return np.maximum(self.observation_log_likelihoods(cells).sum(axis=0), LOG_ZERO)

    def describe(self) -> str:
        """Every observation."""
        return "analyst sun: " + "; ".join(o.describe() for o in self.observations)
