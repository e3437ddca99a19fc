"""What a reveal shows, GeoGuessr-style (no Streamlit here).

A line from each guess to the truth with its distance, the ensemble's search area, and one table
comparing every model and every person.

The lines are the map spec's ``lines`` key (:class:`geolocate.maps.spec.MapOptions`): ``(lat1, lon1, lat2,
lon2, label)`` in degrees, from the guess to the truth, the label (plain text, e.g. ``"Alice: 1,234 km"``)
drawn at the midpoint. The search area is the ensemble's most likely cells within an area budget, kept as
H3 ids (a classroom round stores them when it starts) and drawn as an outline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..distribution import CellDistribution, RankedRegions
from ..experts.point import haversine_km
from ..maps.data import MapData, empty_map

SEARCH_AREA_MAX_CELLS = 400
"""Most cells of a stored search area (the densest first): a round keeps a few kB per photo."""
NAME_CHARS = 28
"""Names are cut to this many characters on the map (the tables keep them whole)."""


def distance_text(km: float) -> str:
    """A distance for people: ``"1,234 km"``, ``"56 km"``, ``"3.2 km"``, ``"0.45 km"``."""
    km = float(km)
    if km >= 10:
        return f"{km:,.0f} km"
    if km >= 1:
        return f"{km:.1f} km"
    return f"{km:.2f} km"


def guess_lines(truth: tuple[float, float], guesses: Sequence[tuple[float, float, str]]) -> list[tuple[float, float, float, float, str]]:
    """One line per guess, from the guess to the truth, labelled ``"<name>: <distance>"``.

    Args:
        truth: (lat, lon) degrees.
        guesses: (lat, lon, name) per guess, degrees; the name is plain text.

    Returns:
        (guess lat, guess lon, truth lat, truth lon, label) per guess, nearest first.
    """
    tlat, tlon = float(truth[0]), float(truth[1])
    rows = []
    for lat, lon, name in guesses:
        d = float(haversine_km(float(lat), float(lon), tlat, tlon))
        rows.append((d, (float(lat), float(lon), tlat, tlon, f"{str(name)[:NAME_CHARS]}: {distance_text(d)}")))
    rows.sort(key=lambda r: r[0])
    return [r[1] for r in rows]


def search_area_cells(dist: CellDistribution, budget_km2: float, max_cells: int = SEARCH_AREA_MAX_CELLS) -> list[str]:
    """The densest cells of a map that fit in ``budget_km2`` (at most ``max_cells``), as H3 hex ids."""
    regions = dist.within_budget(budget_km2)
    return [format(int(c), "x") for c in regions.cells[:max_cells].tolist()]


def search_area_map(cells: Sequence[str]) -> MapData:
    """A map of nothing but an outlined area (the stored search area of :func:`search_area_cells`)."""
    base = empty_map()
    if not cells:
        return base
    ids = np.array([int(c, 16) for c in cells], dtype=np.uint64)
    z = np.zeros(len(ids))
    base.budget = RankedRegions(ids, z, z, z, z, z)
    return base


def comparison(
    models: Mapping[str, float],
    people: Sequence[Mapping[str, object]] = (),
    model_distances: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Every model and every person on one table, smallest area to truth first.

    Args:
        models: area to truth (km²) by model name ("ensemble" included).
        people: dicts with name, area_km2, distance_km (and optionally kind, e.g. "you").
        model_distances: a model's distance to the truth (km: its own point, or its map's densest place).

    Returns:
        columns who, kind ("ensemble", "model", "student" or the person's kind), area_km2, distance_km
        (NaN where unknown), rank (1 = smallest area).
    """
    rows = [{"who": str(k), "kind": "ensemble" if k == "ensemble" else "model", "area_km2": float(v),
             "distance_km": float((model_distances or {}).get(k, np.nan))} for k, v in models.items()]
    rows += [{"who": str(p["name"]), "kind": str(p.get("kind", "student")), "area_km2": float(p["area_km2"]),  # type: ignore[arg-type]
              "distance_km": float(p["distance_km"])} for p in people]  # type: ignore[arg-type]
    df = pd.DataFrame(rows, columns=["who", "kind", "area_km2", "distance_km"]).sort_values("area_km2", kind="stable").reset_index(drop=True)
    df["rank"] = np.arange(1, len(df) + 1)
    return df
