"""Text in the photo as evidence: lines read by OCR and lines the analyst types (pure Python: no Streamlit here).

:class:`TextEvidence` is the ``text`` kind of the evidence protocol (:mod:`geolocate.evidence.base`):
URL keys ``text`` (typed lines only: the link never carries what OCR read in a photo) and ``ocr``
(``ocr=0`` switches reading off). Lines the analyst unticks are kept in ``unticked``, which never goes
into a link. :func:`analyse` reads the photos and finds the clues; :meth:`TextEvidence.experts` turns
them into one ``text`` expert per clue type (:mod:`geolocate.text.experts`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..experts.base import Expert
from .analyst import clip_text
from .base import EvidenceContext, Message, register

MAX_TYPED_CHARS = 10_000
"""Typed text kept (the field and the link); the rest is cut with a message."""

MAX_TYPED_LINES = 50
"""Typed lines kept."""

MAX_LINE_CHARS = 300
"""Characters kept per typed line."""


def _clean_lines(text: str) -> tuple[tuple[str, ...], list[str]]:
    """Typed text as clean lines (no control or bidi characters), and the problems found (plain text)."""
    from ..text.clues import clean_text

    problems: list[str] = []
    raw = str(text)
    if len(raw) > MAX_TYPED_CHARS:
        problems.append(f"typed text: only the first {MAX_TYPED_CHARS:,} of {len(raw):,} characters were read")
    clean = clean_text(raw, MAX_TYPED_CHARS)
    lines = [" ".join(line.split()) for line in clean.split("\n")]
    lines = [line for line in lines if line]
    if len(lines) > MAX_TYPED_LINES:
        problems.append(f"typed text: only the first {MAX_TYPED_LINES} of {len(lines)} lines were read")
        lines = lines[:MAX_TYPED_LINES]
    if any(len(line) > MAX_LINE_CHARS for line in lines):
        problems.append(f"typed text: lines were cut to {MAX_LINE_CHARS} characters")
        lines = [line[:MAX_LINE_CHARS] for line in lines]
    return tuple(dict.fromkeys(lines)), problems


@register
@dataclass(frozen=True)
class TextEvidence:
    """Text seen in the photo.

    Attributes:
        typed: lines the analyst typed (plain text; they travel in the link).
        ocr: read the text in the photos (when the reader is installed).
        unticked: texts of OCR lines the analyst unticked (never in the link: they quote the photo).
    """

    kind: ClassVar[str] = "text"
    label: ClassVar[str] = "Text in the photo"
    query_keys: ClassVar[tuple[str, ...]] = ("text", "ocr")

    typed: tuple[str, ...] = ()
    ocr: bool = True
    unticked: tuple[str, ...] = field(default=())

    @classmethod
    def from_typed(cls, text: str, ocr: bool = True, unticked: Sequence[str] = ()) -> tuple[TextEvidence, list[str]]:
        """Evidence from the typed field's text (one clue source per line), and the problems found."""
        lines, problems = _clean_lines(text)
        return cls(typed=lines, ocr=bool(ocr), unticked=tuple(dict.fromkeys(unticked))), problems

    @property
    def is_empty(self) -> bool:
        """True when nothing is typed, reading is on (the default) and nothing is unticked."""
        return not self.typed and self.ocr and not self.unticked

    def summary(self) -> list[tuple[str, str]]:
        """(statement, value) pairs in plain text (typed lines are user data: escape before HTML)."""
        out: list[tuple[str, str]] = []
        if self.typed:
            out.append(("text seen in the photo", " | ".join(clip_text(t, 80) for t in self.typed[:10]) + (f" (+{len(self.typed) - 10} lines)" if len(self.typed) > 10 else "")))
        if not self.ocr:
            out.append(("reading text in the photo", "off"))
        if self.unticked:
            out.append(("lines read but not used", str(len(self.unticked))))
        return out

    def to_query(self) -> dict[str, str]:
        """URL parameters: the typed lines (newline-separated) and ``ocr=0`` when reading is off; never OCR text."""
        q: dict[str, str] = {}
        if self.typed:
            q["text"] = "\n".join(self.typed)
        if not self.ocr:
            q["ocr"] = "0"
        return q

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> tuple[TextEvidence, list[str]]:
        """The typed lines and the OCR switch a link carries; bad values are cut or ignored and listed as problems."""
        problems: list[str] = []
        typed: tuple[str, ...] = ()
        if "text" in query:
            typed, probs = _clean_lines(str(query["text"]))
            problems += probs
        ocr = True
        if "ocr" in query:
            v = str(query["ocr"]).strip().lower()
            if v in ("0", "false", "off", "no"):
                ocr = False
            elif v not in ("1", "true", "on", "yes", ""):
                problems.append(f"ocr: {clip_text(v, 12)!r} is not 0 or 1; reading stays on")
        return cls(typed=typed, ocr=ocr), problems

    def details(self, context: EvidenceContext) -> list[tuple[str, str]]:
        """The clues read or typed and what each implies (plain text; cached reads, no second OCR)."""
        if not self.typed and not (context.photos and self.ocr):
            return []
        return [(f"text: {text}", why) for text, why in clue_report(analyse(self, context.photos))]

    def experts(self, context: EvidenceContext) -> tuple[list[Expert], list[Message]]:
        """One ``text`` expert per clue type found in the typed lines and (when on) the photos' text."""
        from ..text.experts import clue_experts

        analysis = analyse(self, context.photos)
        if not analysis.clues:
            return [], list(analysis.messages)
        try:
            experts = clue_experts(analysis.clues)
        except Exception as err:  # noqa: BLE001 - evidence never raises for bad input
            return [], [*analysis.messages, Message("error", "The text clues could not be turned into experts.", f"{type(err).__name__}: {clip_text(str(err), 120)}")]
        return experts, list(analysis.messages)


@dataclass(frozen=True)
class AnalysedLine:
    """One line of text with its clues (for the page's list).

    Attributes:
        text: the line (plain text).
        source: "typed" or "photo N" (N from 1).
        used: False when the analyst unticked it.
        box: four (x, y) corners in the photo's pixels (OCR lines), or ().
        confidence: the reader's confidence 0..1 (1 for typed lines).
        script: the line's dominant script.
        clues: implications of the clues found in this line ("+351 21 346 2917 -> Portugal, Lisbon (phone)").
    """

    text: str
    source: str
    used: bool = True
    box: tuple[tuple[float, float], ...] = ()
    confidence: float = 1.0
    script: str = ""
    clues: tuple[str, ...] = ()


@dataclass(frozen=True)
class TextAnalysis:
    """Lines, clues and messages of one :class:`TextEvidence` on some photos.

    Attributes:
        lines: every line, typed first, then each photo's (unticked ones included, ``used`` False).
        clues: clues of the used lines (duplicates across lines merged).
        messages: what could not be read or used (plain text).
        read_seconds: OCR wall time of the photos (0 when cached or off).
    """

    lines: tuple[AnalysedLine, ...] = ()
    clues: tuple[Any, ...] = ()
    messages: tuple[Message, ...] = ()
    read_seconds: float = 0.0


def analyse(evidence: TextEvidence, photos: Sequence[Any] = ()) -> TextAnalysis:
    """Read the photos (when ``evidence.ocr``), add the typed lines, and find the clues of the lines in use.

    Args:
        evidence: the text evidence.
        photos: :class:`~geolocate.image.photo.Photo` objects (or PIL images), in memory.

    Returns:
        A :class:`TextAnalysis`; never raises for bad input (problems are messages).
    """
    from ..text.clues import dominant_script, extract_clues

    lines: list[AnalysedLine] = [AnalysedLine(t, "typed", script=dominant_script(t)) for t in evidence.typed]
    messages: list[Message] = []
    seconds = 0.0
    if evidence.ocr and photos:
        from ..text import ocr

        status = ocr.reader_status()
        if not status["pp_ocr"]:
            messages.append(Message("warning", f"Text in the photo is not read: the reader is not installed ({ocr.INSTALL_PP}). Type the text you see instead."))
        else:
            unticked = set(evidence.unticked)
            for k, photo in enumerate(photos, 1):
                image = getattr(photo, "image", photo)
                try:
                    result = ocr.read_image(image)
                except Exception as err:  # noqa: BLE001 - a reader failure must not stop the page
                    messages.append(Message("error", f"Photo {k}: the text reader failed.", f"{type(err).__name__}: {clip_text(str(err), 120)}"))
                    continue
                seconds += result.seconds
                tag = f"photo {k}" if len(photos) > 1 else "photo"
                for m in result.messages:
                    messages.append(Message(m.level, (f"Photo {k}: " if len(photos) > 1 else "") + m.text, m.detail))
                for line in result.lines:
                    lines.append(AnalysedLine(line.text, tag, line.text not in unticked, line.box, line.confidence, line.script))
    used = [ln for ln in lines if ln.used]
    problems: list[str] = []
    clues = extract_clues([ln.text for ln in used], problems) if used else []
    for p in dict.fromkeys(problems):
        messages.append(Message("info", "A number was not used:", p))
    by_line: dict[int, list[str]] = {}
    for c in clues:
        for i in c.lines:
            by_line.setdefault(i, []).append(f"{c.implication or 'says nothing'} ({c.kind})")
    out: list[AnalysedLine] = []
    k = 0
    for ln in lines:
        if ln.used:
            out.append(AnalysedLine(ln.text, ln.source, True, ln.box, ln.confidence, ln.script, tuple(by_line.get(k, ()))))
            k += 1
        else:
            out.append(ln)
    if (evidence.typed or photos) and lines and not clues:
        messages.append(Message("info", "The text says nothing about where the photo was taken (no number, address, place name, currency, or language found)."))
    return TextAnalysis(tuple(out), tuple(clues), tuple(messages), seconds)


def clue_report(analysis: TextAnalysis) -> list[tuple[str, str]]:
    """(clue text, what it implies) pairs in plain text, one per distinct clue, for the CLI and the HTML report.

    Example: ``("+351 21 346 2917", "Portugal, Lisbon (phone)")``. Values quote the photo or the analyst:
    escape before HTML.
    """
    return [(c.text, f"{c.implication or 'says nothing'} ({c.kind})") for c in analysis.clues]


__all__ = ["AnalysedLine", "MAX_TYPED_CHARS", "TextAnalysis", "TextEvidence", "analyse", "clue_report"]
