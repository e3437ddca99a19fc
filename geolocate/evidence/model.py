"""A vision-language model's answers as evidence (the ``model`` kind; pure Python: no Streamlit, no network here).

:class:`ModelEvidence` names the model and the number of samples; a link carries only those
(``vlm_model``, ``vlm_samples``), never the key and never the endpoint: the endpoint is the server's
configured one (``GEOLOCATE_VLM_ENDPOINT``) or what the analyst types in the panel, so a link can
neither send a photo nor point the panel at a host of the link author's choosing. The photo is sent
only by the panel's explicit "Ask the model" action (:class:`~geolocate.experts.vlm.VLMClient`), which
stores the answers in the in-memory :class:`~geolocate.experts.vlm.AnswerCache`;
:meth:`ModelEvidence.experts` only reads that cache.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from ..experts.base import Expert
from ..experts.vlm import (
    ANSWER_CACHE,
    DEFAULT_SAMPLES,
    DEFAULT_TEMPERATURE,
    ENDPOINT_ENV,
    MAX_SAMPLES,
    MODEL_ENV,
    AnswerCache,
    ModelAnswers,
    answers_experts,
    clip,
    endpoint_host,
    expert_name,
    fitted_mixture,
    normalise_endpoint,
)
from .base import EvidenceContext, Message, register

MAX_MODEL_CHARS = 200
"""Longest model name read from a link."""


def default_endpoint() -> str:
    """The server's configured endpoint (``GEOLOCATE_VLM_ENDPOINT``), or ""."""
    return normalise_endpoint(os.environ.get(ENDPOINT_ENV, ""))


def default_model() -> str:
    """The server's configured model name (``GEOLOCATE_VLM_MODEL``), or ""."""
    return os.environ.get(MODEL_ENV, "").strip()


def _cache_of(context: EvidenceContext) -> AnswerCache:
    extra = context.extras.get("model") if context.extras else None
    if isinstance(extra, AnswerCache):
        return extra
    cache = getattr(extra, "cache", None)
    return cache if isinstance(cache, AnswerCache) else ANSWER_CACHE


@register
@dataclass(frozen=True)
class ModelEvidence:
    """Which vision-language model was asked about the photo, and how.

    Attributes:
        model: the model's name on the endpoint ("" states nothing).
        samples: answers sampled per photo.
        endpoint: base URL of the OpenAI-compatible server (never in links; default: the server's own).
        temperature: sampling temperature (never in links).
        asked: tokens of the cached answers this evidence stands for (set by the panel after "Ask the model",
            never in links), so that the evidence's value changes when answers arrive (callers may memoise
            experts by evidence value).
    """

    kind: ClassVar[str] = "model"
    label: ClassVar[str] = "Ask a vision-language model"
    query_keys: ClassVar[tuple[str, ...]] = ("vlm_model", "vlm_samples")

    model: str = ""
    samples: int = DEFAULT_SAMPLES
    endpoint: str = ""
    temperature: float = DEFAULT_TEMPERATURE
    asked: str = ""

    @property
    def is_empty(self) -> bool:
        """True when no model is named."""
        return not self.model.strip()

    @property
    def host(self) -> str:
        """The host that receives the photo when the analyst asks ("" without an endpoint)."""
        return endpoint_host(self.endpoint)

    def summary(self) -> list[tuple[str, str]]:
        """(statement, value) pairs in plain text (the model's name is user data: escape before HTML)."""
        if self.is_empty:
            return []
        where = f", photo sent to {self.host}" if self.host else ""
        return [("vision-language model", f"{clip(self.model, 80)}, {self.samples} samples{where}")]

    def to_query(self) -> dict[str, str]:
        """URL parameters: the model's name and the samples (never the key or the endpoint)."""
        if self.is_empty:
            return {}
        q = {"vlm_model": self.model}
        if self.samples != DEFAULT_SAMPLES:
            q["vlm_samples"] = str(self.samples)
        return q

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> tuple[ModelEvidence, list[str]]:
        """The model a link names (bad values dropped and listed); the endpoint is the server's configured one."""
        problems: list[str] = []
        model = re.sub(r"[\x00-\x1f\x7f]", "", str(query.get("vlm_model", ""))).strip()
        if len(model) > MAX_MODEL_CHARS:
            problems.append(f"vlm_model: names are at most {MAX_MODEL_CHARS} characters; ignored")
            model = ""
        samples = DEFAULT_SAMPLES
        if "vlm_samples" in query:
            raw = str(query["vlm_samples"])
            try:
                samples = int(raw)
            except ValueError:
                samples = -1
            if not 1 <= samples <= MAX_SAMPLES:
                problems.append(f"vlm_samples {clip(raw, 20)!r} is not a whole number from 1 to {MAX_SAMPLES}; using {DEFAULT_SAMPLES}")
                samples = DEFAULT_SAMPLES
        return cls(model=model, samples=samples, endpoint=default_endpoint()), problems

    def cached_answers(self, context: EvidenceContext) -> list[ModelAnswers]:
        """The answers the analyst asked for, for each of the context's photos that has them (no network)."""
        cache = _cache_of(context)
        found = []
        for photo in context.photos:
            hit = cache.get(cache.key(photo, self.endpoint, self.model, self.samples))
            if hit is not None:
                found.append(hit)
        return found

    def details(self, context: EvidenceContext) -> list[tuple[str, str]]:
        """The model's answers (clues, reasoning, countries, candidates) as plain-text lines, from the cache."""
        from ..experts.vlm import answer_lines

        if self.is_empty or not context.photos:
            return []
        return [("model answer", line) for answers in self.cached_answers(context) for line in answer_lines(answers)]

    def experts(self, context: EvidenceContext) -> tuple[list[Expert], list[Message]]:
        """The model's experts from answers already asked for (never sends anything).

        ``context.extras["model"]`` may hold an :class:`~geolocate.experts.vlm.AnswerCache` (or an object
        with a ``cache`` attribute); default the process's :data:`~geolocate.experts.vlm.ANSWER_CACHE`.
        """
        if self.is_empty:
            return [], []
        if not context.photos:
            return [], [Message("info", "The vision-language model needs a photo.")]
        found = self.cached_answers(context)
        if not found:
            return [], [Message("info", "The model has not been asked about this photo yet: the photo is sent only when you click 'Ask the model'.")]
        experts, messages = answers_experts(found, expert_name(self.model), fitted_mixture(self.model))
        if not experts:
            messages.append(Message("warning", "The model's answers gave no usable location or country; it adds no expert."))
        elif len(found) < len(context.photos):
            messages.append(Message("info", f"The model was asked about {len(found)} of {len(context.photos)} photos; the others add nothing."))
        return experts, messages

