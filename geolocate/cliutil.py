"""Small command-line helpers shared by :mod:`geolocate.cli` and :mod:`geolocate.image.cli`.

A progress bar and argparse types; kept apart so neither CLI module imports the other's internals.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import TextIO


class ProgressBar:
    """A one-line progress bar on stderr (no dependency, safe when stderr is not a terminal)."""

    def __init__(self, stream: TextIO | None = None, width: int = 30):
        # sys.stderr is looked up now, not when the module was imported (it may have been replaced since).
        self.stream, self.width, self.last = stream or sys.stderr, width, ""

    def __call__(self, fraction: float, message: str) -> None:
        """Show ``fraction`` (0..1) done and a short message."""
        fraction = min(max(fraction, 0.0), 1.0)
        filled = int(round(fraction * self.width))
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {fraction:5.1%} {message[:60]}"
        if line != self.last:
            end = "\r" if self.stream.isatty() else "\n"
            if end == "\n" and line.split("]")[0] == self.last.split("]")[0]:
                return  # off a terminal, print only when the bar moves
            self.stream.write(line.ljust(100) + end)
            self.stream.flush()
            self.last = line

    def done(self) -> None:
        """End the bar's line on a terminal."""
        if self.stream.isatty():
            self.stream.write("\n")


def positive_km2(text: str) -> float:
    """Argparse type: an area in km², > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of km²") from None
    if not (value > 0 and value < float("inf")):
        raise argparse.ArgumentTypeError(f"the area must be a positive number of km², got {text}")
    return value


def whole_number(what: str, lowest: int, highest: int) -> Callable[[str], int]:
    """Argparse type: a whole number within [lowest, highest]; the message names ``what``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an' if what[:1] in 'aeiouH' else 'a'} {what} (a whole number)") from None
        if not lowest <= value <= highest:
            raise argparse.ArgumentTypeError(f"{what} must be {lowest}..{highest}, got {value}")
        return value

    return parse


def h3_resolution(lowest: int = 0, highest: int = 9) -> Callable[[str], int]:
    """Argparse type: an H3 resolution within [lowest, highest]."""
    return whole_number("H3 resolution", lowest, highest)


def finite_float(what: str):
    """Argparse type: a finite number."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what}: {text!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{what}: {text!r} is not a finite number")
        return value

    return parse


def bounded_float(what: str, lo: float, hi: float):
    """Argparse type: a number within [lo, hi]."""

    def parse(text: str) -> float:
        value = finite_float(what)(text)
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{what} must be {lo:g} to {hi:g}, got {value:g}")
        return value

    return parse


def sun_altitude(text: str) -> float:
    """Argparse type: a sun altitude in (0, 90] degrees."""
    value = finite_float("sun altitude")(text)
    if not 0 < value <= 90:
        raise argparse.ArgumentTypeError(f"sun altitude must be above 0 and at most 90 degrees, got {value:g}")
    return value


def shadow_pair(text: str) -> tuple[float, float]:
    """Argparse type: ``HEIGHT:LENGTH`` with a positive ratio."""
    h, sep, length = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"shadow {text!r}: write HEIGHT:LENGTH, e.g. 1.8:2.4")
    hv, lv = finite_float("shadow height")(h), finite_float("shadow length")(length)
    if hv <= 0 or lv < 0:
        raise argparse.ArgumentTypeError(f"shadow {text!r}: the ratio height/length must be positive (height > 0, length >= 0)")
    return hv, lv


def iso_time(text: str) -> str:
    """Argparse type: an ISO 8601 date-time (kept as typed)."""
    from .experts.clock import EvidenceError
    from .experts.sun import parse_iso_time

    try:
        parse_iso_time(text)
    except EvidenceError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def utc_offset(text: str) -> str:
    """Argparse type: a UTC offset such as +05:30."""
    from .experts.clock import EvidenceError, parse_utc_offset

    try:
        parse_utc_offset(text)
    except EvidenceError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text
