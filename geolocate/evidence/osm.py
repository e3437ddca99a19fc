"""What is visible in the photo, as OpenStreetMap queries: the ``osm`` kind of the evidence protocol.

:class:`OsmEvidence` holds queries in the syntax of :mod:`geolocate.osm.query` ("pharmacy; tram stop
within 60 m"), each becoming one :class:`~geolocate.osm.expert.OsmExpert` of kind ``map`` on the
feature store (``context.extras["osm_store"]``: a folder or a loaded store; default the folder
``osm import`` writes). URL key ``osm``: the queries joined by ``|`` (a query never contains one),
then the options ``@miss=M`` and ``@hard``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from .base import EvidenceContext, Message, register

if TYPE_CHECKING:
    from ..experts.base import Expert
    from ..osm.store import FeatureStore

MAX_QUERIES = 10
"""Queries read from one link (the rest are dropped with a problem)."""

SEPARATOR = "|"


def _clip(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def resolve_store(context: EvidenceContext) -> FeatureStore:
    """The feature store of a context: ``extras["osm_store"]`` (a store or a folder), else the default folder."""
    from ..osm.store import FeatureStore, load_store

    given = context.extras.get("osm_store") if context.extras else None
    if isinstance(given, FeatureStore):
        return given
    return load_store(Path(str(given)) if given else None)


@register
@dataclass(frozen=True)
class OsmEvidence:
    """Map features seen in the photo.

    Attributes:
        queries: canonical query texts (see :func:`geolocate.osm.query.parse_query`).
        miss_rate: chance that the place is in the covered area but OSM shows no match there.
        hard: rule out the covered area away from every match (a mask) instead of down-weighting it.
    """

    kind: ClassVar[str] = "osm"
    label: ClassVar[str] = "What is visible (OpenStreetMap)"
    query_keys: ClassVar[tuple[str, ...]] = ("osm",)

    queries: tuple[str, ...] = ()
    miss_rate: float = 0.1
    hard: bool = False

    @property
    def is_empty(self) -> bool:
        """True when no query is stated."""
        return not self.queries

    @classmethod
    def of(cls, *queries: str, miss_rate: float = 0.1, hard: bool = False) -> tuple[OsmEvidence, list[str]]:
        """Evidence from query texts, normalised; unreadable queries are dropped and listed as problems."""
        from ..osm.query import QueryError, parse_query

        kept: list[str] = []
        problems: list[str] = []
        for q in queries:
            if not q.strip():
                continue
            try:
                text = parse_query(q).text()
            except QueryError as err:
                problems.append(f"osm query {_clip(q)!r}: {err}")
                continue
            if text not in kept:
                kept.append(text)
        if len(kept) > MAX_QUERIES:
            problems.append(f"osm: only the first {MAX_QUERIES} of {len(kept)} queries were kept")
            kept = kept[:MAX_QUERIES]
        if not (0.0 < miss_rate < 1.0 and math.isfinite(miss_rate)):
            problems.append(f"osm: the miss rate must be between 0 and 1, got {miss_rate:g}; using 0.1")
            miss_rate = 0.1
        return cls(tuple(kept), float(miss_rate), bool(hard)), problems

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> tuple[OsmEvidence, list[str]]:
        """The queries a link carries (key ``osm``), and the problems found."""
        raw = str(query.get("osm", ""))
        if not raw.strip():
            return cls(), []
        texts: list[str] = []
        miss, hard, problems = 0.1, False, []
        for part in raw.split(SEPARATOR)[: 4 * MAX_QUERIES]:
            p = part.strip()
            if p == "@hard":
                hard = True
            elif p.startswith("@miss="):
                try:
                    miss = float(p[6:])
                except ValueError:
                    problems.append(f"osm: miss rate {_clip(p[6:], 20)!r} is not a number; using 0.1")
            elif p.startswith("@"):
                problems.append(f"osm: unknown option {_clip(p, 20)!r}")
            elif p:
                texts.append(p)
        ev, probs = cls.of(*texts, miss_rate=miss, hard=hard)
        return ev, problems + probs

    def to_query(self) -> dict[str, str]:
        """URL parameters: ``osm`` with the queries and options, when any query is stated."""
        if self.is_empty:
            return {}
        parts = list(self.queries)
        if self.miss_rate != 0.1:
            parts.append(f"@miss={self.miss_rate:.6g}")
        if self.hard:
            parts.append("@hard")
        return {"osm": SEPARATOR.join(parts)}

    def summary(self) -> list[tuple[str, str]]:
        """(statement, value) pairs in plain text."""
        out = [("visible (OpenStreetMap)", q) for q in self.queries]
        if self.queries:
            out.append(("OSM matches", "certain (elsewhere in the covered area ruled out)" if self.hard else f"miss rate {self.miss_rate:g}"))
        return out

    def experts(self, context: EvidenceContext) -> tuple[list[Expert], list[Message]]:
        """One map expert per query; messages for an empty store, unreadable queries and queries without matches."""
        if self.is_empty:
            return [], []
        from ..osm.expert import OsmExpert
        from ..osm.query import QueryError

        try:
            store = resolve_store(context)
        except (OSError, ValueError) as err:
            return [], [Message("error", "The OpenStreetMap feature store cannot be read.", _clip(str(err), 200))]
        if store.is_empty:
            return [], [Message("warning", "No OpenStreetMap extract is imported, so the map queries are not used; run: python -m geolocate osm import EXTRACT.osm.pbf", str(store.folder))]
        experts: list[Expert] = []
        messages: list[Message] = []
        for q in self.queries:
            try:
                e = OsmExpert(store, q, miss_rate=self.miss_rate, hard=self.hard)
            except (QueryError, ValueError) as err:
                messages.append(Message("warning", "A map query was not used:", f"{_clip(q)}: {err}"))
                continue
            n = len(e.result)
            level = "info" if n else "warning"
            if n:
                text = f"{n} places match in the {e.covered_km2:,.1f} km² the extracts cover."
            elif self.hard:
                text = f"No place matches in the {e.covered_km2:,.1f} km² the extracts cover: that area is ruled out (certain), the rest of the world is not."
            else:
                text = f"No place matches in the {e.covered_km2:,.1f} km² the extracts cover, so this query changes nothing."
            messages.append(Message(level, text, q))
            experts.append(e)
        return experts, messages


def store_summary(store: Any) -> list[tuple[str, str]]:
    """(extract, 'N features, A km²') for each imported extract (plain text)."""
    return [(str(m.get("name")), f"{int(m.get('features', 0)):,} features, {float(m.get('coverage_km2', 0)):,.1f} km²") for m in store.extracts]


__all__ = ["MAX_QUERIES", "OsmEvidence", "resolve_store", "store_summary"]
