"""Altair charts shared by the CLI and the app (no Streamlit here)."""

from __future__ import annotations

import altair as alt
import pandas as pd

from .metrics import AREA_MAX_KM2, AREA_MIN_KM2, DISC_AREAS_KM2


def rva_chart(curves: pd.DataFrame, title: str | None = "Recall vs Area", width: int | None = 640, height: int = 360) -> alt.LayerChart:
    """Chart recall against search area (km², log scale), one line per expert.

    The areas of discs of radius 1/25/200/750/2500 km are marked, and the ensemble's line is drawn thicker.

    Args:
        curves: long table with columns expert, area_km2, recall.
        title: chart title (None for none).
        width: pixels, or None to let the container decide (Streamlit).
        height: pixels.

    Returns:
        The layered Altair chart.
    """
    scale = alt.Scale(type="log", domain=[AREA_MIN_KM2, AREA_MAX_KM2])
    lines = (
        alt.Chart(curves)
        .mark_line()
        .encode(
            x=alt.X("area_km2:Q", scale=scale, title="Search area (km², log scale)"),
            y=alt.Y("recall:Q", scale=alt.Scale(domain=[0, 1]), title="Recall (share of photos found)"),
            color=alt.Color("expert:N", title="Expert"),
            strokeWidth=alt.condition(alt.datum.expert == "ensemble", alt.value(3), alt.value(1.5)),
            tooltip=["expert", alt.Tooltip("area_km2:Q", format=".3g"), alt.Tooltip("recall:Q", format=".3f")],
        )
    )
    discs = pd.DataFrame({"area_km2": list(DISC_AREAS_KM2.values()), "label": [f"{r} km" for r in DISC_AREAS_KM2]})
    rules = alt.Chart(discs).mark_rule(strokeDash=[4, 4], color="gray").encode(x=alt.X("area_km2:Q", scale=scale))
    labels = alt.Chart(discs).mark_text(align="left", dx=3, dy=-4, color="gray", fontSize=11).encode(
        x=alt.X("area_km2:Q", scale=scale), y=alt.value(12), text="label:N"
    )
    props = {"height": height} | ({"width": width} if width else {}) | ({"title": title} if title else {})
    return alt.layer(rules, labels, lines).properties(**props)  # type: ignore[return-value]
