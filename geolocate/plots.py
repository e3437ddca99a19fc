"""Altair charts shared by the CLI and the app (no Streamlit here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import altair as alt
import pandas as pd

from .metrics import AREA_MAX_KM2, AREA_MIN_KM2, DISC_AREAS_KM2

OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#F0E442"]
"""Okabe & Ito's colour-blind-safe colours (their black is the ensemble's), the pale yellow last."""
PRIOR_COLOURS = ["#CC79A7", "#D55E00", "#0072B2", "#009E73", "#56B4E9", "#E69F00", "#F0E442"]
"""The same colours from the other end for the (dashed) priors, so a prior and a model rarely share one."""
ENSEMBLE_COLOUR = "#000000"
DASHES = {"solid": [1, 0], "prior": [6, 4], "cycled": [2, 2]}
"""Stroke dashes: experts, priors (dashed) and experts past the palette's seven colours (dotted)."""


def line_styles(experts: Sequence[str], kinds: Mapping[str, str] | None = None, ensemble_colour: str = ENSEMBLE_COLOUR) -> pd.DataFrame:
    """One distinct line style per configuration, in legend order.

    The ensemble first, black and thick; then the other experts, each its own Okabe-Ito colour, solid; then the
    priors, dashed. Past seven colours a kind's colours repeat, dotted.

    Args:
        experts: configuration names (the ensemble's is "ensemble").
        kinds: expert kind by name ("prior", "point", ...); default: the names of the standard priors are priors.
        ensemble_colour: the ensemble's line (black; white on a dark theme).

    Returns:
        Columns expert, colour (hex), dash (list of px), width (px), in legend order.
    """
    if kinds is None:
        from .experts.priors import PRIORS

        kinds = {n: "prior" for n in PRIORS}
    names = list(dict.fromkeys(experts))
    ens = [n for n in names if n == "ensemble"]
    models = [n for n in names if n != "ensemble" and kinds.get(n) != "prior"]
    priors = [n for n in names if n != "ensemble" and kinds.get(n) == "prior"]
    rows = [(n, ensemble_colour, DASHES["solid"], 3.5) for n in ens]
    for group, dash in ((models, "solid"), (priors, "prior")):
        for i, n in enumerate(group):
            palette = OKABE_ITO if dash == "solid" else PRIOR_COLOURS
            colour = palette[i % len(palette)]
            pattern = DASHES[dash] if i < len(OKABE_ITO) else DASHES["cycled"]
            rows.append((n, colour, pattern, 2.0))
    return pd.DataFrame(rows, columns=["expert", "colour", "dash", "width"])


def rva_chart(
    curves: pd.DataFrame,
    title: str | None = "Recall vs Area",
    width: int | None = 640,
    height: int = 360,
    kinds: Mapping[str, str] | None = None,
    ensemble_colour: str = ENSEMBLE_COLOUR,
) -> alt.LayerChart:
    """Chart recall against search area (km², log scale), one line per expert.

    The areas of discs of radius 1/25/200/750/2500 km are marked. Lines follow :func:`line_styles` (colour-blind
    safe; the ensemble black and thick, priors dashed), with one legend that shows colour and dash together.

    Args:
        curves: long table with columns expert, area_km2, recall.
        title: chart title (None for none).
        width: pixels, or None to let the container decide (Streamlit).
        height: pixels.
        kinds: expert kind by name (see :func:`line_styles`).
        ensemble_colour: the ensemble's line colour (white reads on a dark theme).

    Returns:
        The layered Altair chart.
    """
    scale = alt.Scale(type="log", domain=[AREA_MIN_KM2, AREA_MAX_KM2])
    styles = line_styles(curves["expert"].unique().tolist(), kinds, ensemble_colour)
    domain = styles["expert"].tolist()
    legend = alt.Legend(title="Expert", symbolType="stroke", symbolSize=420, symbolStrokeWidth=2.5, labelLimit=260, orient="right")
    lines = (
        alt.Chart(curves)
        .mark_line()
        .encode(
            x=alt.X("area_km2:Q", scale=scale, title="Search area (km², log scale)"),
            y=alt.Y("recall:Q", scale=alt.Scale(domain=[0, 1]), title="Recall (share of photos found)"),
            color=alt.Color("expert:N", scale=alt.Scale(domain=domain, range=styles["colour"].tolist()), legend=legend, sort=domain),
            strokeDash=alt.StrokeDash("expert:N", scale=alt.Scale(domain=domain, range=styles["dash"].tolist()), legend=legend, sort=domain),
            strokeWidth=alt.StrokeWidth("expert:N", scale=alt.Scale(domain=domain, range=styles["width"].tolist()), legend=None),
            tooltip=["expert", alt.Tooltip("area_km2:Q", format=".3g"), alt.Tooltip("recall:Q", format=".3f")],
        )
    )
    discs = pd.DataFrame({"area_km2": list(DISC_AREAS_KM2.values()), "label": [f"{r} km" for r in DISC_AREAS_KM2]})
    rules = alt.Chart(discs).mark_rule(strokeDash=[2, 3], color="#999999", strokeWidth=1).encode(x=alt.X("area_km2:Q", scale=scale))
    labels = alt.Chart(discs).mark_text(align="left", dx=3, dy=-4, color="gray", fontSize=11).encode(
        x=alt.X("area_km2:Q", scale=scale), y=alt.value(12), text="label:N"
    )
    props = {"height": height} | ({"width": width} if width else {}) | ({"title": title} if title else {})
    return alt.layer(rules, labels, lines).properties(**props)  # type: ignore[return-value]


def chart_png(chart: alt.TopLevelMixin, scale: float = 2.0) -> bytes:
    """The chart as PNG bytes, rendered offline (``vl-convert-python``); ``scale`` multiplies its pixel size."""
    import vl_convert as vlc

    return bytes(vlc.vegalite_to_png(_fixed_size(chart).to_dict(), scale=scale))


def chart_svg(chart: alt.TopLevelMixin) -> str:
    """The chart as SVG text, rendered offline (``vl-convert-python``)."""
    import vl_convert as vlc

    return str(vlc.vegalite_to_svg(_fixed_size(chart).to_dict()))


def _fixed_size(chart: alt.TopLevelMixin, width: int = 760) -> alt.TopLevelMixin:
    """A file has no container to fill: a chart sized by its container gets ``width`` pixels and a white background."""
    spec = chart.to_dict()
    out = chart.properties(background="white")
    if spec.get("width") in (None, "container"):
        out = out.properties(width=width)
    return out
