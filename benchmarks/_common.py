"""Helpers shared by the benchmark scripts (timing, the shared data path)."""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "data"


def timed(fn, repeat: int = 20) -> tuple[float, float]:
    """(median, max) seconds of ``fn()`` over ``repeat`` runs after one warm-up."""
    fn()
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs), max(runs)


def verdict(value: float, target: float) -> str:
    return "OK" if value <= target else "OVER TARGET"
