"""Sun, shadow and clock evidence as the analyst (or the photo's EXIF) states it, and the experts it makes.

Pure Python for the app, the CLI and shareable links:

* :class:`SunClockEvidence` holds what was typed (shadows, sun angles, times, a UTC offset), round-trips
  through URL query parameters (:meth:`SunClockEvidence.to_query`, :meth:`SunClockEvidence.from_query`)
  and validates into observations with messages, never tracebacks.
* :func:`build_experts` turns it (plus the photo's EXIF clock, when there is one) into a
  :class:`~geolocate.experts.sun.SunExpert` and a :class:`~geolocate.experts.clock.ClockExpert`, and
  says in :class:`~geolocate.evidence.base.Message` s what it used, what it could not use and why, and when the evidence rules out
  the whole Earth (e.g. the sun is below the horizon everywhere the clock allows).

EXIF GPS is never read here: it stays the ground-truth check it is elsewhere.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np

from ..experts.base import Expert
from ..experts.clock import ClockEvidence, ClockExpert, EvidenceError, format_utc_offset, parse_utc_offset
from ..experts.sun import ObservationTime, SunExpert, SunObservation, check_year, parse_iso_time
from .base import EvidenceContext, Message, register

EXIF_TIME_SIGMA_MIN = 5.0
"""Time uncertainty (minutes) given to an EXIF time: phone clocks are network-synchronised, cameras drift."""

FEASIBLE_LOG_LIKELIHOOD = -8.0
"""A cell is compatible with an observation when its likelihood is within exp(-8) of the peak (about 4 sigma)."""

SUN_EXPERT = "sun"
CLOCK_EXPERT = "clock"

QUERY_KEYS = ("shadow", "sun_alt", "sun_az", "time", "time_unc", "shadow_unc", "alt_unc", "az_unc", "utc_offset", "local_time", "exif_time")
"""URL parameters written by :meth:`SunClockEvidence.to_query` (and nothing else)."""


NO_EXIF_TIME = "the photo's EXIF has no DateTimeOriginal (time taken)"
""":attr:`ExifClock.reason` of a photo without an EXIF time: a fact about the photo, not a problem to report."""


@dataclass(frozen=True)
class ExifClock:
    """The photo's clock as EXIF states it.

    Attributes:
        local: ``DateTimeOriginal`` (naive camera-local time), or None.
        offset_min: ``OffsetTimeOriginal`` in minutes east of UTC, or None.
        reason: why there is no clock evidence, when there is none ("" otherwise).
    """

    local: dt.datetime | None = None
    offset_min: int | None = None
    reason: str = ""

    @property
    def instant(self) -> float | None:
        """UTC seconds since 1970 when both time and offset are known."""
        if self.local is None or self.offset_min is None:
            return None
        return (self.local.replace(tzinfo=dt.UTC) - dt.timedelta(minutes=self.offset_min)).timestamp()


def exif_clock(photo_exif: Any) -> ExifClock:
    """Read ``DateTimeOriginal`` / ``OffsetTimeOriginal`` from a photo's EXIF.

    Args:
        photo_exif: a :class:`~geolocate.image.photo.Photo` (``exif_time``, ``exif_offset``), or a mapping
            with keys ``DateTimeOriginal`` and ``OffsetTimeOriginal`` (or ``exif_time``, ``exif_offset``), or None.

    Returns:
        The clock, with a reason string when it gives no clock evidence.
    """
    if photo_exif is None:
        return ExifClock(reason="no photo")
    if isinstance(photo_exif, Mapping):
        raw_time = photo_exif.get("DateTimeOriginal", photo_exif.get("exif_time"))
        raw_off = photo_exif.get("OffsetTimeOriginal", photo_exif.get("exif_offset"))
    else:
        raw_time, raw_off = getattr(photo_exif, "exif_time", None), getattr(photo_exif, "exif_offset", None)
    if isinstance(raw_time, bytes):
        raw_time = raw_time.decode("ascii", "replace")
    if isinstance(raw_off, bytes):
        raw_off = raw_off.decode("ascii", "replace")
    if not raw_time or not str(raw_time).strip().strip("\x00"):
        return ExifClock(reason=NO_EXIF_TIME)
    text = str(raw_time).strip().rstrip("\x00")
    try:
        local = dt.datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        try:
            local = dt.datetime.fromisoformat(text).replace(tzinfo=None)
        except ValueError:
            return ExifClock(reason=f"the photo's EXIF time {text[:30]!r} is malformed")
    try:
        check_year(local, f"the photo's EXIF time {text[:30]!r}")
    except EvidenceError as err:
        return ExifClock(reason=f"{err}, so it gives no time evidence")
    if not raw_off or not str(raw_off).strip().strip("\x00"):
        return ExifClock(local=local, reason="the photo's EXIF time has no UTC offset (OffsetTimeOriginal), so it says nothing about the time zone")
    try:
        off = parse_utc_offset(str(raw_off).strip().rstrip("\x00"))
    except EvidenceError:
        return ExifClock(local=local, reason=f"the photo's EXIF UTC offset {str(raw_off)[:12]!r} is malformed, so it gives no clock evidence")
    return ExifClock(local=local, offset_min=off)


def _float(text: str, what: str, problems: list[str]) -> float | None:
    try:
        v = float(text)
    except (TypeError, ValueError):
        problems.append(f"{what}: {str(text)[:40]!r} is not a number")
        return None
    if not math.isfinite(v):
        problems.append(f"{what}: {str(text)[:40]!r} is not a finite number")
        return None
    return v


def _time_text(text: str) -> str:
    # A '+' in a hand-typed query string arrives as a space: '2024-06-21T12:00 09:00'.
    return re.sub(r"(\d\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d:?\d\d)$", r"\1+\2", str(text).strip())


@register
@dataclass(frozen=True)
class SunClockEvidence:
    """Sun, shadow and clock statements, as typed.

    Attributes:
        shadows: (object height, shadow length) pairs in any one unit each.
        sun_altitude_deg: the sun's altitude above the horizon, degrees, or None.
        sun_azimuth_deg: the sun's azimuth clockwise from north (shadow direction + 180), or None; with
            several observations it applies to the last one.
        times: ISO 8601 times: one for all observations, or one per observation (shadows first, then the
            altitude). ``Z``/``+HH:MM`` are UTC instants; naive times are local clock time at the place.
            Empty: the photo's EXIF time when ``use_exif_time``.
        time_uncertainty_min: standard deviation of the times, minutes.
        shadow_uncertainty_pct: relative uncertainty of each height/length ratio, percent.
        altitude_uncertainty_deg: uncertainty of ``sun_altitude_deg``, degrees.
        azimuth_uncertainty_deg: uncertainty of ``sun_azimuth_deg``, degrees.
        utc_offset: the clock's UTC offset (``+05:30``) at ``local_time``: clock evidence.
        local_time: the clock reading the offset refers to (naive ISO 8601).
        use_exif_time: take the photo's EXIF time (and offset) when no time (or offset) is typed.
    """

    kind: ClassVar[str] = "sunclock"
    label: ClassVar[str] = "Sun, shadow and clock"
    query_keys: ClassVar[tuple[str, ...]] = QUERY_KEYS

    shadows: tuple[tuple[float, float], ...] = ()
    sun_altitude_deg: float | None = None
    sun_azimuth_deg: float | None = None
    times: tuple[str, ...] = ()
    time_uncertainty_min: float = 15.0
    shadow_uncertainty_pct: float = 5.0
    altitude_uncertainty_deg: float = 1.0
    azimuth_uncertainty_deg: float = 5.0
    utc_offset: str | None = None
    local_time: str | None = None
    use_exif_time: bool = True

    @property
    def empty(self) -> bool:
        """True when nothing is stated (uncertainties alone say nothing)."""
        return not (self.shadows or self.sun_altitude_deg is not None or self.sun_azimuth_deg is not None or self.utc_offset)

    @property
    def is_empty(self) -> bool:
        """True when no observation and no clock offset is stated (a time alone, or the EXIF switch, says nothing)."""
        return self.empty

    def experts(self, context: EvidenceContext) -> tuple[list[Expert], list[Message]]:
        """The sun and clock experts from what is typed and the single photo's EXIF clock (see :func:`build_experts`)."""
        photo = context.exif_photo
        if self.is_empty and (photo is None or not self.use_exif_time):
            return [], []
        return build_experts(self, photo_exif=photo)

    @property
    def has_sun(self) -> bool:
        """True when a shadow, an altitude or an azimuth is stated."""
        return bool(self.shadows) or self.sun_altitude_deg is not None or self.sun_azimuth_deg is not None

    def observations(self, default_time: ObservationTime | None = None) -> list[SunObservation]:
        """The sun observations, validated.

        Args:
            default_time: used when no time is typed (the photo's EXIF time).

        Raises:
            EvidenceError: with a message saying what is wrong.
        """
        if not self.has_sun:
            return []
        n_obs = len(self.shadows) + (1 if self.sun_altitude_deg is not None or (self.sun_azimuth_deg is not None and not self.shadows) else 0)
        if not (math.isfinite(self.time_uncertainty_min) and 0 <= self.time_uncertainty_min <= 1440):
            raise EvidenceError(f"time uncertainty must be 0 to 1,440 minutes, got {self.time_uncertainty_min:g}")
        if self.times:
            if len(self.times) not in (1, n_obs):
                raise EvidenceError(f"{len(self.times)} times for {n_obs} observations: give one time for all, or one per observation (shadows first, then the sun altitude)")
            parsed = [ObservationTime.parse(_time_text(t), self.time_uncertainty_min) for t in self.times]
            times = parsed * n_obs if len(parsed) == 1 else parsed
        elif default_time is not None:
            times = [default_time] * n_obs
        else:
            raise EvidenceError("a sun or shadow observation needs a time: give the date and time it was made (UTC with Z, or local clock time)")
        obs: list[SunObservation] = []
        ratio_unc = self.shadow_uncertainty_pct / 100.0
        for (h, length), t in zip(self.shadows, times):
            obs.append(SunObservation.from_shadow(float(h), float(length), t, ratio_uncertainty=ratio_unc, azimuth_sigma_deg=self.azimuth_uncertainty_deg))
        if self.sun_altitude_deg is not None or (self.sun_azimuth_deg is not None and not self.shadows):
            obs.append(
                SunObservation(
                    time=times[-1],
                    altitude_deg=self.sun_altitude_deg,
                    altitude_sigma_deg=self.altitude_uncertainty_deg,
                    azimuth_sigma_deg=self.azimuth_uncertainty_deg,
                )
            )
        if self.sun_azimuth_deg is not None:
            obs[-1] = replace(obs[-1], azimuth_deg=float(self.sun_azimuth_deg) % 360.0, azimuth_sigma_deg=self.azimuth_uncertainty_deg, label="")
        return obs

    def clock(self) -> ClockEvidence | None:
        """The typed clock evidence, validated (None when no offset is typed).

        Raises:
            EvidenceError: when the offset or the local time is malformed or missing.
        """
        if not self.utc_offset:
            if self.local_time:
                raise EvidenceError("a local time for the clock needs its UTC offset (e.g. +05:30)")
            return None
        off = parse_utc_offset(self.utc_offset)
        if not self.local_time:
            raise EvidenceError("a UTC offset needs the local date and time it was read at (offsets change with daylight saving)")
        local = parse_iso_time(_time_text(self.local_time))
        if local.tzinfo is not None:
            raise EvidenceError("the clock's local time must be the clock reading without an offset (e.g. 2024-07-01T14:30)")
        return ClockEvidence(off, local)

    def to_query(self) -> dict[str, str]:
        """URL query parameters (only the stated fields and non-default uncertainties)."""
        q: dict[str, str] = {}
        if self.shadows:
            q["shadow"] = ",".join(f"{h:g}:{length:g}" for h, length in self.shadows)
        if self.sun_altitude_deg is not None:
            q["sun_alt"] = f"{self.sun_altitude_deg:g}"
        if self.sun_azimuth_deg is not None:
            q["sun_az"] = f"{self.sun_azimuth_deg:g}"
        if self.times:
            q["time"] = ",".join(self.times)
        defaults = SunClockEvidence()
        for key, attr in (("time_unc", "time_uncertainty_min"), ("shadow_unc", "shadow_uncertainty_pct"), ("alt_unc", "altitude_uncertainty_deg"), ("az_unc", "azimuth_uncertainty_deg")):
            if getattr(self, attr) != getattr(defaults, attr):
                q[key] = f"{getattr(self, attr):g}"
        if self.utc_offset:
            q["utc_offset"] = self.utc_offset
        if self.local_time:
            q["local_time"] = self.local_time
        if not self.use_exif_time:
            q["exif_time"] = "0"
        return q

    @classmethod
    def from_query(cls, query: Mapping[str, Any]) -> tuple[SunClockEvidence, list[str]]:
        """Evidence from URL query parameters; bad values are dropped and described in the problems list.

        Unknown keys are ignored (they belong to other parts of the view). Values may be strings or
        lists of strings (the last one counts).
        """
        ev, by_key = cls.parse_fields(query)
        return ev, [p for key in QUERY_KEYS for p in by_key.get(key, [])]

    @classmethod
    def parse_fields(cls, query: Mapping[str, Any]) -> tuple[SunClockEvidence, dict[str, list[str]]]:
        """Like :meth:`from_query`, with each problem filed under the URL key (the field) whose value caused it.

        Returns:
            (evidence of the valid values, {key: problems}; only keys with problems appear).
        """
        by_key: dict[str, list[str]] = {}

        def get(key: str) -> str | None:
            v = query.get(key)
            if isinstance(v, (list, tuple)):
                v = v[-1] if v else None
            return None if v is None else str(v)

        kw: dict[str, Any] = {}
        if (v := get("shadow")) is not None:
            problems = by_key.setdefault("shadow", [])
            pairs = []
            for part in [p for p in v.split(",") if p.strip()][:20]:
                h, sep, length = part.partition(":")
                if not sep:
                    problems.append(f"shadow: {part[:40]!r} should be HEIGHT:LENGTH")
                    continue
                hv, lv = _float(h, "shadow height", problems), _float(length, "shadow length", problems)
                if hv is not None and lv is not None:
                    if hv > 0 and lv >= 0:
                        pairs.append((hv, lv))
                    else:
                        problems.append(f"shadow: {part[:40]!r} needs a positive height and a length >= 0")
            kw["shadows"] = tuple(pairs)
        for key, attr, lo, hi in (("sun_alt", "sun_altitude_deg", 0.0, 90.0), ("sun_az", "sun_azimuth_deg", -360.0, 360.0)):
            if (v := get(key)) is not None:
                problems = by_key.setdefault(key, [])
                x = _float(v, key, problems)
                if x is not None and (lo < x <= hi if key == "sun_alt" else lo <= x <= hi):
                    kw[attr] = x
                elif x is not None:
                    problems.append(f"{key}: {x:g} is outside ({lo:g}, {hi:g}]")
        if (v := get("time")) is not None:
            problems = by_key.setdefault("time", [])
            good = []
            for t in [p for p in v.split(",") if p.strip()][:20]:
                try:
                    parse_iso_time(_time_text(t))
                    good.append(_time_text(t))
                except EvidenceError as err:
                    problems.append(str(err))
            kw["times"] = tuple(good)
        for key, attr, lo, hi in (("time_unc", "time_uncertainty_min", 0, 1440), ("shadow_unc", "shadow_uncertainty_pct", 0.1, 99), ("alt_unc", "altitude_uncertainty_deg", 0.05, 45), ("az_unc", "azimuth_uncertainty_deg", 0.1, 180)):
            if (v := get(key)) is not None:
                problems = by_key.setdefault(key, [])
                x = _float(v, key, problems)
                if x is not None and lo <= x <= hi:
                    kw[attr] = x
                elif x is not None:
                    problems.append(f"{key}: {x:g} is outside [{lo:g}, {hi:g}]")
        if (v := get("utc_offset")) is not None:
            # An unencoded '+' arrives as a space.
            text = "+" + v.strip() if v.startswith(" ") and v.strip()[:1].isdigit() else v.strip()
            try:
                parse_utc_offset(text)
                kw["utc_offset"] = text
            except EvidenceError as err:
                by_key.setdefault("utc_offset", []).append(str(err))
        if (v := get("local_time")) is not None:
            try:
                parse_iso_time(v)
                kw["local_time"] = v.strip()
            except EvidenceError as err:
                by_key.setdefault("local_time", []).append(str(err))
        if (v := get("exif_time")) is not None:
            kw["use_exif_time"] = v.strip().lower() not in ("0", "false", "no", "off")
        return cls(**kw), {k: p for k, p in by_key.items() if p}

    def summary(self) -> list[tuple[str, str]]:
        """(statement, value) pairs in plain text (values are user data: escape before HTML)."""
        out = []
        for h, length in self.shadows:
            out.append(("shadow", f"height {h:g} : length {length:g} (± {self.shadow_uncertainty_pct:g} %)"))
        if self.sun_altitude_deg is not None:
            out.append(("sun altitude", f"{self.sun_altitude_deg:g}° ± {self.altitude_uncertainty_deg:g}°"))
        if self.sun_azimuth_deg is not None:
            out.append(("sun azimuth", f"{self.sun_azimuth_deg:g}° ± {self.azimuth_uncertainty_deg:g}°"))
        if self.times:
            out.append(("time", ", ".join(self.times) + f" ± {self.time_uncertainty_min:g} min"))
        if self.utc_offset:
            out.append(("clock", f"UTC{self.utc_offset} at {self.local_time}"))
        return out


def _exif_time(clk: ExifClock) -> ObservationTime | None:
    """The EXIF time as an observation time: a UTC instant with the offset, else local clock time."""
    if clk.local is None:
        return None
    if clk.offset_min is not None:
        return ObservationTime(unix_s=clk.instant, sigma_min=EXIF_TIME_SIGMA_MIN)
    return ObservationTime(local=clk.local, sigma_min=EXIF_TIME_SIGMA_MIN)


def check_fields(query: Mapping[str, Any], exif: ExifClock | None = None) -> tuple[SunClockEvidence, dict[str, list[str]]]:
    """Typed fields -> the usable evidence and one problem per cause, filed under the field that caused it.

    A field gets a message only when its own value is bad, or when it is missing while the field that
    needs it holds a valid value: an offset of "+25:00" is reported at the offset alone, never also as
    "a local time needs its UTC offset", and a bad time never also as "a shadow needs a time". What a
    problem makes unusable is left out of the evidence, so :func:`build_experts` does not report it again.

    Args:
        query: field values under their URL keys (:data:`QUERY_KEYS`).
        exif: the single photo's EXIF clock (its time is the sun's default time when ``exif_time`` is on).

    Returns:
        (usable evidence, {URL key: problems}).
    """
    ev, by_key = SunClockEvidence.parse_fields(query)

    def add(key: str, text: str) -> None:
        by_key.setdefault(key, []).append(text)

    offset_bad, local_bad = "utc_offset" in by_key, "local_time" in by_key
    if offset_bad or local_bad:
        # One half of the pair is bad: its own message says so; the other half alone is no evidence.
        ev = replace(ev, utc_offset=None, local_time=None)
    else:
        try:
            ev.clock()
        except EvidenceError as err:
            add("utc_offset" if ev.local_time and not ev.utc_offset else "local_time", str(err))
            ev = replace(ev, utc_offset=None, local_time=None)
    if ev.has_sun:
        if "time" in by_key:
            # The time is reported at its field; the sun without its time is no evidence.
            ev = replace(ev, shadows=(), sun_altitude_deg=None, sun_azimuth_deg=None)
        else:
            default = _exif_time(exif) if exif is not None and ev.use_exif_time else None
            try:
                ev.observations(default)
            except EvidenceError as err:
                add("time", str(err))
                ev = replace(ev, shadows=(), sun_altitude_deg=None, sun_azimuth_deg=None)
    return ev, by_key


def build_experts(evidence: SunClockEvidence, photo_exif: Any = None, check: bool = True) -> tuple[list[Expert], list[Message]]:
    """Experts for the sun, shadow and clock evidence, and notes on what was used and what was not.

    Args:
        evidence: what the analyst typed.
        photo_exif: the photo (or its EXIF fields, see :func:`exif_clock`), for its time and offset.
        check: evaluate the experts on the base grid and report evidence that rules out the whole
            Earth (the experts are still returned; the ensemble's floor keeps the map defined).

    Returns:
        (experts named :data:`SUN_EXPERT` / :data:`CLOCK_EXPERT`, notes). Bad input gives an "error"
        note and no expert for it; never an exception.
    """
    experts: list[Expert] = []
    notes: list[Message] = []
    clk = exif_clock(photo_exif) if photo_exif is not None else ExifClock(reason="no photo")
    default_time = _exif_time(clk) if evidence.use_exif_time else None
    sun_expert = None
    if evidence.has_sun:
        try:
            obs = evidence.observations(default_time)
            sun_expert = SunExpert(obs, name=SUN_EXPERT)
            experts.append(sun_expert)
            if not evidence.times and default_time is not None:
                notes.append(Message("info", f"Sun and shadow use the photo's EXIF time ({default_time.label()}).", ""))
        except EvidenceError as err:
            notes.append(Message("error", "Sun/shadow evidence not used:", str(err)))
    clock_expert = None
    try:
        typed = evidence.clock()
    except EvidenceError as err:
        typed = None
        notes.append(Message("error", "Clock evidence not used:", str(err)))
    if typed is not None:
        clock_expert = ClockExpert(typed, name=CLOCK_EXPERT)
    elif evidence.use_exif_time and photo_exif is not None and not evidence.utc_offset:
        if clk.offset_min is not None and clk.local is not None:
            clock_expert = ClockExpert(ClockEvidence(clk.offset_min, clk.local), name=CLOCK_EXPERT)
            notes.append(Message("info", f"Clock: the photo's EXIF says UTC{format_utc_offset(clk.offset_min)} at {clk.local:%Y-%m-%d %H:%M}."))
        elif clk.reason and clk.reason not in ("no photo", NO_EXIF_TIME):
            # A photo without an EXIF time simply has none: saying so on every run would be noise.
            notes.append(Message("info", "No clock evidence:", f"{clk.reason}."))
    if clock_expert is not None:
        zones = clock_expert.matching_zones()
        if not zones:
            notes.append(Message("error", f"No time zone had UTC{format_utc_offset(clock_expert.evidence.offset_min)} on {clock_expert.evidence.local_time:%Y-%m-%d}: the clock evidence rules out the whole Earth."))
        else:
            experts.append(clock_expert)
            named = [z for z in zones if not z.startswith("Etc/")]
            notes.append(Message("info", f"Clock UTC{format_utc_offset(clock_expert.evidence.offset_min)}: {len(named)} time zones match, e.g. {', '.join(named[:4])}."))
    if check and sun_expert is not None:
        notes += feasibility_notes(sun_expert, clock_expert)
    return experts, notes


def feasibility_notes(sun: SunExpert, clock: ClockExpert | None = None, res: int | None = None) -> list[Message]:
    """Error notes when the sun observations (with the clock) rule out every cell of the base grid.

    Each observation alone, then all of them together, then together with the clock's zones; the note
    says whether the sun is below the horizon there or at which altitudes it stands instead.
    """
    from ..grid import DEFAULT_RESOLUTION, global_grid

    grid = global_grid(DEFAULT_RESOLUTION if res is None else res)
    ll = sun.observation_log_likelihoods(grid)  # (m, n) relative to each peak
    ok = ll > FEASIBLE_LOG_LIKELIHOOD
    allowed = np.ones(len(grid), bool)
    where = "anywhere on Earth"
    if clock is not None:
        allowed = clock.share(grid) > 0
        where = f"anywhere the clock (UTC{format_utc_offset(clock.evidence.offset_min)}) allows"
    notes: list[Message] = []
    for i, ob in enumerate(sun.observations):
        if not (ok[i] & allowed).any():
            alt = ob.nominal_altitude(grid)[allowed]
            if alt.max() <= 0:
                why = "the sun is below the horizon there at that time"
            elif ob.altitude_deg is not None:
                up = alt[alt > 0]
                why = f"the sun stands at {up.min():.0f}° to {up.max():.0f}° there, not {ob.altitude_deg:.1f}°"
            else:
                why = "the sun's azimuth does not fit there"
            notes.append(Message("error", f"Observation {i + 1} cannot be seen {where}: {why}.", ob.describe()))
    if not notes and len(sun.observations) > 1 and not (ok.all(axis=0) & allowed).any():
        notes.append(Message("error", f"The {len(sun.observations)} sun/shadow observations do not fit together {where}: check the times and ratios."))
    return notes
