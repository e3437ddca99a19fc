"""Shareable view state: weights, area budget, refinement, shown expert and evidence in URL query parameters.

Links are user input: :func:`decode_query` clamps or drops every bad value and reports all of them in one
:class:`~geolocate.evidence.Message` whose quoted values are plain text (the page never renders them as
Markdown or HTML).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote, unquote

import numpy as np

from .evidence import ATTRIBUTE_TERMS, RADIUS_MAX_KM, RADIUS_MIN_KM, WEIGHT_MAX, AnalystEvidence, Message, parse_latlon

BUDGET_MIN_KM2, BUDGET_MAX_KM2 = 1.0, 1e7
DEFAULT_BUDGET_KM2 = 1e4
DEFAULT_REFINE = 6
REFINE_RANGE = (3, 7)
MAX_LINK_ITEMS = 200
"""Items read from one list-valued parameter (weights, countries, attributes); the rest are ignored."""


@dataclass
class ViewParams:
    """The shareable part of the view.

    Attributes:
        weights: expert name -> weight (0..WEIGHT_MAX).
        budget_km2: area budget, km².
        refine: finest H3 resolution of the refinement.
        show: "ensemble" or an expert name (the map and the exports follow it).
        evidence: the analyst's statements.
    """

    weights: dict[str, float] = field(default_factory=dict)
    budget_km2: float = DEFAULT_BUDGET_KM2
    refine: int = DEFAULT_REFINE
    show: str = "ensemble"
    evidence: AnalystEvidence = field(default_factory=AnalystEvidence)


def _num(v: float) -> str:
    return f"{float(v):.6g}"


def _clip(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


@dataclass(frozen=True)
class EvidenceKey:
    """How one evidence field travels in a link.

    Attributes:
        key: the URL parameter.
        encode: evidence -> parameter value, or None to leave it out.
        decode: (value, problems) -> {field: value} to set on the evidence; appends to problems what it
            could not use (plain text, user values quoted).
    """

    key: str
    encode: Callable[[AnalystEvidence], str | None]
    decode: Callable[[str, list[str], Sequence[str] | None], dict[str, Any]]


def _dec_guess(v: str, problems: list[str], _codes) -> dict[str, Any]:
    try:
        return {"point": parse_latlon(v)}
    except ValueError as err:
        problems.append(f"guess: {err}")
        return {}


def _dec_radius(v: str, problems: list[str], _codes) -> dict[str, Any]:
    try:
        r = float(v)
    except ValueError:
        r = float("nan")
    if not math.isfinite(r) or r <= 0:
        problems.append(f"radius {_clip(v)!r} is not a positive number of km; using 100 km")
        return {}
    if not RADIUS_MIN_KM <= r <= RADIUS_MAX_KM:
        c = min(max(r, RADIUS_MIN_KM), RADIUS_MAX_KM)
        problems.append(f"radius {r:g} km is outside {RADIUS_MIN_KM:g}..{RADIUS_MAX_KM:g} km; using {c:g} km")
        r = c
    return {"radius_km": r}


def _codes(name: str, attr: str):
    def dec(v: str, problems: list[str], codes: Sequence[str] | None) -> dict[str, Any]:
        vals = [c.strip().upper() for c in v.split(",") if c.strip()]
        if len(vals) > MAX_LINK_ITEMS:
            problems.append(f"{name}: only the first {MAX_LINK_ITEMS} of {len(vals)} codes were read")
            vals = vals[:MAX_LINK_ITEMS]
        bad = [c for c in vals if codes is not None and c not in codes]
        if bad:
            problems.append(f"{name}: unknown country codes {', '.join(repr(_clip(b, 12)) for b in bad[:5])}" + (f" and {len(bad) - 5} more" if len(bad) > 5 else ""))
        return {attr: tuple(dict.fromkeys(c for c in vals if c not in bad))}

    return dec


def _dec_attr(v: str, problems: list[str], _codes) -> dict[str, Any]:
    vals = [a for a in v.split(",") if a][:MAX_LINK_ITEMS]
    bad = [a for a in vals if a not in ATTRIBUTE_TERMS]
    if bad:
        problems.append(f"unknown attributes {', '.join(repr(_clip(b, 20)) for b in bad[:5])}" + (f" and {len(bad) - 5} more" if len(bad) > 5 else ""))
    return {"attributes": tuple(dict.fromkeys(a for a in vals if a in ATTRIBUTE_TERMS))}


EVIDENCE_KEYS: list[EvidenceKey] = [
    EvidenceKey("guess", lambda e: f"{_num(e.point[0])},{_num(e.point[1])}" if e.point else None, _dec_guess),
    EvidenceKey("radius", lambda e: _num(e.radius_km) if e.point else None, _dec_radius),
    EvidenceKey("in", lambda e: ",".join(e.include) or None, _codes("in", "include")),
    EvidenceKey("out", lambda e: ",".join(e.exclude) or None, _codes("out", "exclude")),
    EvidenceKey("hard", lambda e: "1" if e.hard else None, lambda v, p, c: {"hard": v in ("1", "true")}),
    EvidenceKey("attr", lambda e: ",".join(e.attributes) or None, _dec_attr),
]
"""URL keys of the evidence fields; a new kind of evidence adds one entry here."""


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
    for k in EVIDENCE_KEYS:
        v = k.encode(params.evidence)
        if v is not None:
            q[k.key] = v
    return q


def decode_query(query: Mapping[str, str], country_codes: Sequence[str] | None = None) -> tuple[ViewParams, list[Message]]:
    """Read a view back from query parameters, clamping or dropping what is invalid.

    Args:
        query: parameter -> value (as ``st.query_params`` gives them).
        country_codes: valid ISO-3 codes (unknown ones are dropped); None accepts any.

    Returns:
        (params, messages): at most one message, a warning that lists every problem (its ``detail`` holds
        the user's values as plain text).
    """
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
                problems.append(f"weight {_clip(unquote(name))!r} {v:g} is above {WEIGHT_MAX:g}; using {WEIGHT_MAX:g}")
                v = WEIGHT_MAX
            p.weights[unquote(name)] = v
        if bad_w:
            problems.append(
                f"{len(bad_w)} weight item(s) are not name:number (0..{WEIGHT_MAX:g}), e.g. {_clip(bad_w[0])!r}"
            )
    if "budget" in query:
        raw = str(query["budget"])
        try:
            b = float(raw)
        except ValueError:
            b = float("nan")
        if not math.isfinite(b):
            problems.append(f"budget {_clip(raw)!r} is not a number of km²; using {DEFAULT_BUDGET_KM2:g}")
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
            problems.append(f"res {_clip(raw)!r} is not {REFINE_RANGE[0]}..{REFINE_RANGE[1]}; using {DEFAULT_REFINE}")
    if "show" in query:
        p.show = _clip(str(query["show"]), 80)
    ev: dict[str, Any] = {}
    for k in EVIDENCE_KEYS:
        if k.key in query:
            ev.update(k.decode(str(query[k.key]), problems, country_codes))
    if "radius_km" in ev and "point" not in ev:
        ev.pop("radius_km")
    p.evidence = replace(AnalystEvidence(), **ev)
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
