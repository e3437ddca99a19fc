"""Numbers for people: probabilities, areas and the map legend (pure Python: no Streamlit here)."""

from __future__ import annotations

import math

import numpy as np


def sig(x: np.ndarray, digits: int = 3) -> list[float]:
    """Values rounded to ``digits`` significant digits, as Python floats whose JSON is short.

    Vectorised: the mantissa is rounded to an integer m and divided by an exact power of ten, which is
    correctly rounded, so repr() prints e.g. 3.1e-06 rather than 3.1000000000000005e-06.
    """
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros_like(x)
    nz = np.isfinite(x) & (x != 0)
    e = np.floor(np.log10(np.abs(x[nz])))
    s = np.clip((digits - 1) - e, -300, 300)
    m = np.round(x[nz] * 10.0**s)
    small = s > 0
    out_nz = np.empty_like(m)
    out_nz[small] = m[small] / 10.0 ** np.minimum(s[small], 22)
    out_nz[~small] = m[~small] * 10.0 ** (-s[~small])
    out_nz[s > 22] = 0.0  # below 1e-20: indistinguishable from zero on a map
    out[nz] = out_nz
    return out.tolist()


def format_prob(p: float) -> str:
    """A probability for people: '37%', '2.4%', '0.031%', '< 0.0001%' (never '0.0%' for a non-zero value)."""
    pct = 100.0 * p
    if p <= 0:
        return "0%"
    if pct >= 10:
        return f"{pct:.0f}%"
    if pct >= 1e-4:
        return f"{pct:.2g}%"
    return "< 0.0001%"


def format_km2(a: float) -> str:
    """Area for people: '2,500 km²', '1.2 M km²'."""
    if a >= 1e6:
        return f"{a / 1e6:.3g} M km²"
    if a >= 100:
        return f"{a:,.0f} km²"
    return f"{a:.3g} km²"


def disc_radius_km(area_km2: float) -> float:
    """Radius (km) of a flat disc of that area, for intuition ("as big as a 56 km radius circle")."""
    return math.sqrt(area_km2 / math.pi)
