"""Clock evidence: which places had a given UTC offset at a given local date-time.

A phone writes the local clock time (EXIF ``DateTimeOriginal``) and, on most recent models, the offset
of that clock from UTC (``OffsetTimeOriginal``, e.g. ``+05:30``). The offset at that moment pins the
set of IANA time zones the camera could have been in, daylight-saving rules included (``zoneinfo``).

Time-zone polygons come from ``tzfpy`` (PyPI): the timezone-boundary-builder polygons with ocean zones
(``Etc/GMT±N``), compiled into a small Rust wheel with no runtime dependencies. It answers a point in
about 1.5 µs, which makes a table over the whole Earth at H3 res 5 (2.0 million cells, 16 km across)
a five-second, one-off job; ``timezonefinder`` gives the same zones but needs 4x the install and
is an order of magnitude slower per point. The table is stored once per machine under
:func:`geolocate.grid.cache_dir` (atomic write) and keyed by tzfpy's data version.

A cell's zone shares are those of its res-5 descendants (49 for a res-3 cell, 7 for res 4), so cells
straddling a border get their fraction; cells finer than res 5 take the zone of their res-5 ancestor
(borders are resolved to about 8 km there).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass

import numpy as np

from ..grid import CellSet, Grid, cache_dir, descendant_index_bounds, write_cache
from .base import Expert, ExpertKind

ZONE_RES = 5
"""H3 resolution of the stored zone table."""

LOG_ZERO = -700.0
"""Log density returned where the evidence rules a cell out (exp underflows to 0 just below -745)."""

_OFFSET_RE = re.compile(r"^\s*(?:UTC|GMT)?\s*([+-−])\s*(\d{1,2})(?::?(\d{2}))?\s*$", re.IGNORECASE)


class EvidenceError(ValueError):
    """Evidence that cannot be used; the message says why and how to fix it."""


def parse_utc_offset(text: str) -> int:
    """A UTC offset such as ``+05:30``, ``-0700``, ``+9``, ``UTC-3`` or ``Z``, in minutes east of UTC.

    Raises:
        EvidenceError: if it is not an offset or lies outside [-12:00, +14:00].
    """
    s = str(text).strip()
    if s.upper() in ("Z", "UTC", "GMT", "+00:00", "-00:00"):
        return 0
    m = _OFFSET_RE.match(s)
    if not m:
        raise EvidenceError(f"UTC offset {text!r} is not understood: write it like +05:30, -07:00 or Z")
    sign = -1 if m.group(1) in "-−" else 1
    hours, minutes = int(m.group(2)), int(m.group(3) or 0)
    if minutes >= 60:
        raise EvidenceError(f"UTC offset {text!r} has {minutes} minutes: minutes must be 00-59")
    total = sign * (hours * 60 + minutes)
    if not -12 * 60 <= total <= 14 * 60:
        raise EvidenceError(f"UTC offset {text!r} is outside the offsets in use on Earth (-12:00 to +14:00)")
    return total


def format_utc_offset(minutes: int) -> str:
    """Minutes east of UTC as ``+HH:MM``."""
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _res5_cells() -> np.ndarray:
    from h3.api import numpy_int as h3n

    return np.sort(np.concatenate([h3n.cell_to_children(int(c), ZONE_RES) for c in h3n.get_res0_cells()]).astype(np.uint64))


@functools.lru_cache(maxsize=1)
def zone_table() -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Zone of every res-5 cell centre: (sorted res-5 cells uint64 (N,), zone index int16 (N,), zone names).

    Built once per machine (about 5 s) and cached on disk; a corrupt cache is rebuilt, never trusted.
    """
    import tzfpy

    cells = _res5_cells()
    path = cache_dir() / f"tz_res{ZONE_RES}_tzfpy{tzfpy.data_version()}.npz"
    if path.exists():
        try:
            with np.load(path) as z:
                zone, names = z["zone"], tuple(str(n) for n in z["names"])
            if len(zone) == len(cells) and zone.max() < len(names):
                return cells, zone, names
        except Exception:  # noqa: BLE001 - any unreadable cache (truncated, not a zip, wrong keys) is rebuilt
            pass
    from h3.api import numpy_int as h3n

    names_list: list[str] = list(tzfpy.timezonenames())
    index = {n: i for i, n in enumerate(names_list)}

    def idx(name: str) -> int:
        if name not in index:
            index[name] = len(names_list)
            names_list.append(name)
        return index[name]

    # One tzfpy call per res-5 centre, once per machine: the point-in-polygon library has no batch call.
    zone = np.fromiter(
        (idx(tzfpy.get_tz(lon, lat) or "Etc/Unknown") for lat, lon in (h3n.cell_to_latlng(c) for c in cells.tolist())),
        dtype=np.int16,
        count=len(cells),
    )
    # Atomic (unique temporary file, then os.replace); an unusable cache folder keeps it in memory only.
    write_cache(path, lambda f: np.savez(f, zone=zone, names=np.array(names_list)))
    return cells, zone, tuple(names_list)


_GRID_SAMPLES: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


def zone_samples(cells: CellSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zone shares of cells as sparse (cell position, zone index, share) triples; shares of a cell sum to 1.

    Cells coarser than res 5 share out over their res-5 descendants, finer ones take their ancestor's zone.
    Global grids are memoised per resolution (read-only arrays).
    """
    if isinstance(cells, Grid):
        if cells.res not in _GRID_SAMPLES:
            out = _zone_samples(cells)
            for a in out:
                a.setflags(write=False)
            _GRID_SAMPLES[cells.res] = out
        return _GRID_SAMPLES[cells.res]
    return _zone_samples(cells)


def _zone_samples(cells: CellSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    table_cells, table_zone, _ = zone_table()
    ids = np.asarray(cells.cells, dtype=np.uint64)
    # Descendants at res 5 form one contiguous run of sorted indexes; finer cells take their res-5 ancestor.
    lo_key, hi_key = descendant_index_bounds(ids, ZONE_RES)
    a = np.searchsorted(table_cells, lo_key, side="left")
    b = np.searchsorted(table_cells, hi_key, side="right")
    lengths = b - a
    total = int(lengths.sum())
    owner = np.repeat(np.arange(len(ids)), lengths)
    starts = np.repeat(a - np.cumsum(lengths) + lengths, lengths)
    zone = table_zone[starts + np.arange(total)]
    # Compress to distinct (cell, zone) pairs.
    key = owner.astype(np.int64) * 4096 + zone
    uniq, counts = np.unique(key, return_counts=True)
    pos, zid = uniq // 4096, uniq % 4096
    share = counts / np.maximum(lengths[pos], 1)
    return pos, zid.astype(np.int64), share


@functools.lru_cache(maxsize=4096)
def _zone_info(name: str):
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _minutes(delta: dt.timedelta | None) -> int:
    return 10_000 if delta is None else int(delta.total_seconds() // 60)


def zone_offsets_at_instant(names: tuple[str, ...], unix_s: float) -> np.ndarray:
    """UTC offset (minutes east) of each named zone at a UTC instant; a large sentinel for unknown zones."""
    when = dt.datetime.fromtimestamp(unix_s, dt.UTC)
    out = np.full(len(names), 10_000, dtype=np.int64)
    for i, n in enumerate(names):  # ~450 zones, not cells
        z = _zone_info(n)
        if z is not None:
            out[i] = _minutes(when.astimezone(z).utcoffset())
    return out


def zone_offsets_at_wall_time(names: tuple[str, ...], local: dt.datetime) -> np.ndarray:
    """UTC offset (minutes east) of each zone when its clocks show ``local``.

    ``local`` is naive wall time; in an autumn repeat the earlier reading counts, in a spring gap the
    pre-transition offset (as ``zoneinfo`` does with fold 0).
    """
    out = np.full(len(names), 10_000, dtype=np.int64)
    for i, n in enumerate(names):
        z = _zone_info(n)
        if z is not None:
            out[i] = _minutes(local.replace(tzinfo=z).utcoffset())
    return out


@dataclass(frozen=True)
class ClockEvidence:
    """A UTC offset observed at a local clock time.

    Attributes:
        offset_min: offset of the clock from UTC, minutes east (``+05:30`` is 330).
        local_time: the clock reading, naive (wall time).
    """

    offset_min: int
    local_time: dt.datetime

    @property
    def unix_s(self) -> float:
        """The UTC instant the reading denotes."""
        return (self.local_time.replace(tzinfo=dt.UTC) - dt.timedelta(minutes=self.offset_min)).timestamp()

    def label(self) -> str:
        """E.g. ``UTC+05:30 at 2024-07-01 09:00``."""
        return f"UTC{format_utc_offset(self.offset_min)} at {self.local_time:%Y-%m-%d %H:%M}"


class ClockExpert(Expert):
    """Share of each cell whose time zone had the observed UTC offset at the observed instant.

    The likelihood is that share (0 to 1); cells with no matching zone get :data:`LOG_ZERO` (the
    ensemble's uniform floor keeps them possible if the analyst down-weights this expert).

    Args:
        evidence: the offset and local time.
        name: label.
    """

    kind = ExpertKind.ANALYST

    def __init__(self, evidence: ClockEvidence, name: str = "clock"):
        self.evidence, self.name = evidence, name

    def matching_zones(self) -> list[str]:
        """IANA zones that had the offset at that instant."""
        _, _, names = zone_table()
        off = zone_offsets_at_instant(names, self.evidence.unix_s)
        return [n for n, o in zip(names, off) if o == self.evidence.offset_min]

    def share(self, cells: CellSet) -> np.ndarray:
        """Fraction of each cell in a zone with the observed offset, (n,) in [0, 1]."""
        _, _, names = zone_table()
        match = zone_offsets_at_instant(names, self.evidence.unix_s) == self.evidence.offset_min
        pos, zid, share = zone_samples(cells)
        return np.bincount(pos, weights=share * match[zid], minlength=len(cells))

    def log_density(self, cells: CellSet) -> np.ndarray:
        """Log of the matching share; :data:`LOG_ZERO` where no zone matches."""
        s = self.share(cells)
        with np.errstate(divide="ignore"):
            return np.maximum(np.log(s), LOG_ZERO)

    def describe(self) -> str:
        """The offset and the local time."""
        return f"analyst clock: {self.evidence.label()}"

