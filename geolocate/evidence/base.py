"""The evidence protocol: one kind of evidence is one class behind :class:`Evidence` (no Streamlit here).

Every kind of evidence (what the analyst states, sun/shadow/clock, text read in the photo, a
vision-language model's answers, map features) is a frozen, hashable value that

* travels in a shareable link (:meth:`Evidence.to_query` / :meth:`Evidence.from_query`, each kind
  owning the URL keys it lists in ``query_keys``),
* says what it states in plain text (:meth:`Evidence.summary`, for reports and the CLI),
* turns into experts for one photo or album (:meth:`Evidence.experts`, given an
  :class:`EvidenceContext`), with :class:`Message` s saying what it could not use.

A kind registers itself with :func:`register`; :func:`kinds` lists them in registration order, which is
the order of the page's panels, the link's keys and the report's evidence list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self, runtime_checkable

if TYPE_CHECKING:
    from ..experts.base import Expert
    from ..layers import Layer


class Severity(StrEnum):
    """How much a message matters; the page picks its widget by severity, never by parsing text."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Message:
    """A message for the analyst (the one message type of the app, the CLI and every evidence kind).

    Attributes:
        level: "info", "warning" or "error" (a :class:`Severity` value).
        text: the app's own words.
        detail: values from the user, a file or a model quoted in the message.

    Both are plain text: the page shows them with ``st.text``-like widgets, never as Markdown or HTML.
    """

    level: str
    text: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.text} {self.detail}".strip()


@dataclass(frozen=True)
class EvidenceContext:
    """What an evidence kind may use to build its experts.

    Attributes:
        photos: the decoded photos (shrunk, in memory; empty without a photo). An album has several.
        layers: layer name -> layer for attribute terms (``landcover``, ``scene``); None loads on demand.
        privacy: privacy mode is on (no photo or query may leave the server).
        extras: per-kind runtime objects that never travel in a link (e.g. a model client), by kind.
    """

    photos: Sequence[Any] = ()
    layers: Mapping[str, Layer] | None = None
    privacy: bool = True
    extras: Mapping[str, Any] = field(default_factory=dict)

    @property
    def exif_photo(self) -> Any:
        """The photo whose EXIF clock is evidence: a single photo (an album's photos may span hours), else None."""
        return self.photos[0] if len(self.photos) == 1 else None


@runtime_checkable
class Evidence(Protocol):
    """One kind of evidence (a frozen dataclass in practice: hashable, compared by value)."""

    kind: ClassVar[str]
    """Registry key, e.g. "analyst", "sunclock"."""
    label: ClassVar[str]
    """Title of the kind's panel and report section."""
    query_keys: ClassVar[tuple[str, ...]]
    """The URL parameters this kind reads and writes (disjoint across kinds)."""

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> tuple[Self, list[str]]:
        """The evidence a link carries (its own keys only), and the problems found (plain text)."""
        ...

    def to_query(self) -> dict[str, str]:
        """URL parameters for this evidence (only what is stated)."""
        ...

    def summary(self) -> list[tuple[str, str]]:
        """(statement, value) pairs in plain text."""
        ...

    def experts(self, context: EvidenceContext) -> tuple[list[Expert], list[Message]]:
        """Experts for this evidence, and messages on what could not be used (never an exception for bad input)."""
        ...

    @property
    def is_empty(self) -> bool:
        """True when nothing is stated."""
        ...


def details_of(evidence: Any, context: EvidenceContext) -> list[tuple[str, str]]:
    """What an evidence kind found beyond what was stated (text read, a model's answers), as plain-text pairs.

    Optional part of the protocol: a kind with findings implements ``details(context)``; the report and
    the CLI list them. Kinds without it have none.
    """
    fn = getattr(evidence, "details", None)
    return list(fn(context)) if callable(fn) else []


_KINDS: dict[str, Any] = {}
"""kind -> evidence class (typed Any: each class has the protocol's class attributes, which ``type`` lacks)."""


def register(cls: Any) -> Any:
    """Class decorator registering an evidence kind under ``cls.kind``; its URL keys must be new."""
    taken = {k: other.kind for other in _KINDS.values() if other is not cls and other.kind != cls.kind for k in other.query_keys}
    clash = [k for k in cls.query_keys if k in taken]
    if clash:
        raise ValueError(f"evidence kind {cls.kind!r}: URL keys {clash} already belong to {sorted({taken[k] for k in clash})}")
    _KINDS[cls.kind] = cls
    return cls


def kinds() -> list[Any]:
    """The registered evidence classes, in registration order."""
    return list(_KINDS.values())


def kind(name: str) -> Any:
    """The evidence class registered as ``name``.

    Raises:
        KeyError: no such kind.
    """
    return _KINDS[name]


def query_keys() -> set[str]:
    """Every URL key that belongs to some evidence kind."""
    return {k for cls in _KINDS.values() for k in cls.query_keys}


@dataclass(frozen=True)
class EvidenceSet:
    """One evidence value per registered kind (empty values for kinds with nothing stated).

    Attributes:
        items: the evidence values, in registration order of their kinds.
    """

    items: tuple[Any, ...] = ()

    @classmethod
    def of(cls, *items: Any) -> EvidenceSet:
        """A set holding ``items`` and an empty value of every other registered kind."""
        given = {type(e).kind: e for e in items}
        return cls(tuple(given.get(k.kind) or k() for k in kinds()))

    def get(self, kind_name: str) -> Any:
        """The evidence of one kind (an empty value when the set does not hold it)."""
        for e in self.items:
            if type(e).kind == kind_name:
                return e
        return kind(kind_name)()

    def replace(self, evidence: Any) -> EvidenceSet:
        """A copy with ``evidence`` in place of the value of its kind."""
        return EvidenceSet.of(*[e for e in self.items if type(e).kind != type(evidence).kind], evidence)

    @property
    def is_empty(self) -> bool:
        """True when no kind states anything."""
        return all(e.is_empty for e in self.items)

    @classmethod
    def from_query(cls, query: Mapping[str, Any]) -> tuple[EvidenceSet, list[str]]:
        """Every kind's evidence from a link; problems are plain text, prefixed by nothing (each kind words its own)."""
        flat = {k: (v[-1] if isinstance(v, (list, tuple)) and v else v) for k, v in query.items()}
        problems: list[str] = []
        items = []
        for k in kinds():
            mine = {key: str(flat[key]) for key in k.query_keys if key in flat and flat[key] is not None}
            ev, probs = k.from_query(mine) if mine else (k(), [])
            items.append(ev)
            problems += probs
        return cls(tuple(items)), problems

    def to_query(self) -> dict[str, str]:
        """URL parameters of every kind."""
        out: dict[str, str] = {}
        for e in self.items:
            out.update(e.to_query())
        return out

    def summary(self) -> list[tuple[str, str]]:
        """Every kind's (statement, value) pairs, in plain text."""
        return [pair for e in self.items for pair in e.summary()]

    def details(self, context: EvidenceContext) -> list[tuple[str, str]]:
        """Every kind's findings (see :func:`details_of`), in registration order."""
        return [pair for e in self.items for pair in details_of(e, context)]

    def experts(self, context: EvidenceContext) -> tuple[list[Expert], list[Message]]:
        """Every kind's experts and messages, in registration order."""
        experts: list[Expert] = []
        messages: list[Message] = []
        for e in self.items:
            ex, ms = e.experts(context)
            experts += ex
            messages += ms
        return experts, messages
