"""Shareable view state: weights, area budget, refinement, shown expert and every evidence in URL query parameters.

The view's own keys are ``w``, ``budget``, ``res`` and ``show``; each evidence kind owns its keys
(:mod:`geolocate.evidence.base`), so a new kind needs nothing here. Links are user input:
:func:`decode_query` clamps or drops every bad value and reports all of them in one
:class:`~geolocate.evidence.base.Message` whose quoted values are plain text (the page never renders them
as Markdown or HTML).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

import numpy as np

from .evidence import EvidenceSet, Message
from .evidence.analyst import MAX_LINK_ITEMS, clip_text
from .evidence.base import query_keys as evidence_keys
from .presets import DEFAULT_PRESET, WEIGHT_MAX

BUDGET_MIN_KM2, BUDGET_MAX_KM2 = 1.0, 1e7
DEFAULT_BUDGET_KM2 = DEFAULT_PRESET.budget_km2
DEFAULT_REFINE = DEFAULT_PRESET.refine
REFINE_RANGE = (3, 10)
VIEW_KEYS = ("w", "budget", "res", "show")
"""The view's own URL keys; every other key belongs to an evidence kind."""
IGNORED_KEYS = ("embed", "embed_options")
"""Streamlit's own URL keys (they are not ours to report)."""


@dataclass
class ViewParams:
    """The shareable part of the view.

    Attributes:
        weights: expert name -> weight (0..WEIGHT_MAX).
        budget_km2: area budget, km².
        refine: finest H3 resolution of the refinement.
        show: "ensemble" or an expert name (the map and the exports follow it).
        evidence: every kind's evidence.
    """

    weights: dict[str, float] = field(default_factory=dict)
    budget_km2: float = DEFAULT_BUDGET_KM2
    refine: int = DEFAULT_REFINE
    show: str = "ensemble"
    evidence: EvidenceSet = field(default_factory=EvidenceSet.of)


def _num(v: float) -> str:
    return f"{float(v):.6g}"


def encode_query(params: ViewParams) -> dict[str, str]:
    """Query parameters (string values) for a view; defaults are left out to keep URLs short."""
    q: dict[str, str] = {}
    if params.weights:
        q["w"] = ";".join(f"{quote(n, safe=' ')}:{_num(v)}" for n, v in params.weights.items())
    if params.budget_km2 != DEFAULT_BUDGET_KM2:
        q["budget"] = _num(params.budget_km2)
    if params.refine != DEFAULT_REFINE:
        q["res"] = str(int(params.refine))
    if params.show != "ensemble":
        q["show"] = params.show
    q.update(params.evidence.to_query())
    return q


def decode_query(query: Mapping[str, Any]) -> tuple[ViewParams, list[Message]]:
    """Read a view back from query parameters, clamping or dropping what is invalid.

    Args:
        query: parameter -> value (as ``st.query_params`` gives them; a list counts by its last value).

    Returns:
        (params, messages): at most one message, a warning that lists every problem (its ``detail`` holds
        the user's values as plain text).
    """
    query = {k: (v[-1] if isinstance(v, (list, tuple)) and v else v) for k, v in query.items()}
    p, problems = ViewParams(), []
    if "w" in query:
        items = str(query["w"]).split(";")
        if len(items) > MAX_LINK_ITEMS:
            problems.append(f"weights: only the first {MAX_LINK_ITEMS} of {len(items)} items were read")
            items = items[:MAX_LINK_ITEMS]
        bad_w: list[str] = []
        for item in items:
            name, _, val = item.rpartition(":")
            try:
                v = float(val)
            except ValueError:
                v = float("nan")
            if not name or not math.isfinite(v) or v < 0:
                bad_w.append(item)
                continue
            if v > WEIGHT_MAX:
                problems.append(f"weight {clip_text(unquote(name))!r} {v:g} is above {WEIGHT_MAX:g}; using {WEIGHT_MAX:g}")
                v = WEIGHT_MAX
            p.weights[unquote(name)] = v
        if bad_w:
            problems.append(
                f"{len(bad_w)} weight item(s) are not name:number (0..{WEIGHT_MAX:g}), e.g. {clip_text(bad_w[0])!r}"
            )
    if "budget" in query:
        raw = str(query["budget"])
        try:
            b = float(raw)
        except ValueError:
            b = float("nan")
        if not math.isfinite(b):
            problems.append(f"budget {clip_text(raw)!r} is not a number of km²; using {DEFAULT_BUDGET_KM2:g}")
        else:
            c = min(max(b, BUDGET_MIN_KM2), BUDGET_MAX_KM2)
            if c != b:
                problems.append(f"budget {b:g} km² is outside {BUDGET_MIN_KM2:g}..{BUDGET_MAX_KM2:g}; using {c:g}")
            p.budget_km2 = c
    if "res" in query:
        raw = str(query["res"])
        try:
            r = int(raw)
            if not REFINE_RANGE[0] <= r <= REFINE_RANGE[1]:
                raise ValueError
            p.refine = r
        except ValueError:
            problems.append(f"res {clip_text(raw)!r} is not {REFINE_RANGE[0]}..{REFINE_RANGE[1]}; using {DEFAULT_REFINE}")
    if "show" in query:
        p.show = clip_text(str(query["show"]), 80)
    p.evidence, ev_problems = EvidenceSet.from_query(query)
    problems += ev_problems
    unknown = [k for k in query if k not in VIEW_KEYS and k not in evidence_keys() and k not in IGNORED_KEYS]
    if unknown:
        problems.append(f"unknown link parameters ignored: {', '.join(repr(clip_text(str(k), 20)) for k in unknown[:5])}" + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""))
    msgs = []
    if problems:
        msgs.append(Message("warning", f"The link had {len(problems)} problem(s); those parts were adjusted or ignored:", "\n".join(problems[:10]) + (f"\n… and {len(problems) - 10} more" if len(problems) > 10 else "")))
    return p, msgs


def log_budget_options(lo: float = BUDGET_MIN_KM2, hi: float = BUDGET_MAX_KM2, per_decade: int = 4) -> list[float]:
    """Area budgets (km²) on a log scale for a select slider: 1, 1.8, 3.2, 5.6, 10, ... (rounded)."""
    n = int(round(math.log10(hi / lo) * per_decade))
    vals = lo * 10 ** (np.arange(n + 1) / per_decade)
    return [float(f"{v:.2g}") for v in vals]


def link(base_url: str, query: Mapping[str, str]) -> str:
    """The shareable link: the page URL without its old query, plus ``query``."""
    from urllib.parse import urlencode

    base = (base_url or "").split("?")[0]
    return base + ("?" + urlencode(query) if query else "")
