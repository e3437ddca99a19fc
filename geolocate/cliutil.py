"""Small command-line helpers shared by :mod:`geolocate.cli` and :mod:`geolocate.image.cli`.

A progress bar and argparse types; kept apart so neither CLI module imports the other's internals.
"""

from __future__ import annotations

import argparse
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


def h3_resolution(lowest: int = 0, highest: int = 9) -> Callable[[str], int]:
    """Argparse type: an H3 resolution within [lowest, highest]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an H3 resolution (a whole number)") from None
        if not lowest <= value <= highest:
            raise argparse.ArgumentTypeError(f"H3 resolution must be {lowest}..{highest}, got {value}")
        return value

    return parse
