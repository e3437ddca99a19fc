"""The locate service: photos and evidence in, the ensemble and its ranked regions out (no Streamlit here).

The Locate page, ``python -m geolocate predict``, the Cases page and batch scoring all build their
experts and ensemble here, from an :class:`~geolocate.evidence.base.EvidenceSet` and a
:class:`~geolocate.presets.Preset`, so the same inputs give the same map everywhere::

    located = build(photos, evidence)                      # experts, ensemble, messages
    dist = located.distribution(weights)                   # the preset's refinement and pooling
    regions = dist.within_budget(10_000)                   # ranked regions inside 10,000 km²

:func:`from_link` restores everything a shareable link carries (weights, budget, resolution, shown
view, every evidence) and :func:`top_regions` is the page's "Top regions" table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .distribution import CellDistribution, RankedRegions
from .ensemble import Ensemble
from .evidence.base import EvidenceContext, EvidenceSet, Message
from .experts.base import Expert, ExpertKind, expert_label
from .presets import DEFAULT_PRESET, Preset

Progress = Callable[[float, str], None]

TOP_REGIONS = 10
"""Rows of the "Top regions" table (page) and of ``predict``'s printout."""


def image_evidence(photos: Sequence[Any], *, backbone: str | None = None, progress: Progress | None = None) -> tuple[list[Expert], list[Message]]:
    """The image experts of a photo or album (GeoCLIP, zero-shot attributes), or a message saying why none ran.

    Args:
        photos: decoded photos (:class:`~geolocate.image.photo.Photo`); several are one album.
        backbone: open_clip backbone spec (default ``GEOLOCATE_BACKBONE`` or ViT-L-14/openai).
        progress: optional callable(fraction in [0, 1], message).

    Returns:
        (experts, messages); never raises for missing weights or a broken install.
    """
    if not photos:
        return [], []
    try:
        from .image.suite import image_experts
    except Exception as err:  # noqa: BLE001 - a broken optional install must not take the service down
        return [], [Message("warning", "Image experts are unavailable in this install (the image suite did not load).", f"{type(err).__name__}: {err}")]
    try:
        return image_experts(list(photos), backbone=backbone, progress=progress)
    except Exception as err:  # noqa: BLE001 - a model failing must leave priors and evidence working
        return [], [Message("error", "The image experts failed; priors and your evidence still work.", f"{type(err).__name__}: {err}")]


@dataclass
class Located:
    """The experts and ensemble for one photo (or album, or no photo) and its evidence.

    Attributes:
        ensemble: the ensemble of priors, evidence experts and image experts (base fields computed).
        preset: the starting weights, refinement and pooling.
        messages: what could not be used and what was used from EXIF, in plain text.
        evidence: the evidence the experts were built from.
        photos: how many photos were analysed.
        image_experts: the image experts (empty when none ran).
        evidence_errors: the error messages of the evidence (input the analyst must correct).
    """

    ensemble: Ensemble
    preset: Preset
    messages: list[Message] = field(default_factory=list)
    evidence: EvidenceSet = field(default_factory=EvidenceSet.of)
    photos: int = 0
    image_experts: list[Expert] = field(default_factory=list)
    evidence_errors: list[Message] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        """The weighted experts' names (the sliders)."""
        return self.ensemble.names

    @property
    def labels(self) -> dict[str, str]:
        """Expert name -> display label, for every expert."""
        return {e.name: expert_label(e) for e in self.ensemble.experts}

    @property
    def priors_only(self) -> bool:
        """True when no photo model and no evidence has a say: the map is where photos are usually taken."""
        return not self.image_experts and not any(e.kind != ExpertKind.PRIOR for e in self.ensemble.experts)

    def weights(self, overrides: Mapping[str, float] | None = None) -> dict[str, float]:
        """Weight of every weighted expert: ``overrides`` (sliders, a link) first, then the preset."""
        return self.preset.weights_for(self.names, overrides)

    def distribution(self, weights: Mapping[str, float] | None = None, show: str = "ensemble", refine: int | None = None,
                     method: str | None = None) -> CellDistribution:
        """The ensemble (or one expert on its own) as a distribution refined to ``refine``.

        Args:
            weights: expert name -> weight; missing experts take the preset's weight.
            show: "ensemble" or an expert name.
            refine: finest H3 resolution (default: the preset's).
            method: "log-linear" or "linear" (default: the preset's).

        Raises:
            ValueError: an unknown expert name or pooling method.
        """
        res = self.preset.refine if refine is None else int(refine)
        if show != "ensemble":
            return self.ensemble.expert_distribution(show, refine_to=res)
        return self.ensemble.distribution(self.weights(weights), method=method or self.preset.method, refine_to=res)


def build(photos: Sequence[Any] = (), evidence: EvidenceSet | None = None, *, preset: Preset = DEFAULT_PRESET,
          priors: Sequence[Expert] | None = None, image: tuple[list[Expert], list[Message]] | None = None,
          layers: Mapping[str, Any] | None = None, privacy: bool = True, extras: Mapping[str, Any] | None = None,
          backbone: str | None = None, progress: Progress | None = None) -> Located:
    """Experts and ensemble for photos and evidence.

    Args:
        photos: decoded photos (empty: evidence and priors only).
        evidence: every kind's evidence (default: none stated).
        preset: starting weights, refinement, pooling and floor.
        priors: the prior experts (default: every registered prior; the app passes its shared, warmed ones).
        image: the image experts and their messages when already computed (the page caches them per
            upload); None runs them on ``photos``.
        layers: layers for attribute terms (None: loaded when needed).
        privacy: privacy mode (evidence kinds that would send data away must not).
        extras: per-kind runtime objects (see :class:`~geolocate.evidence.base.EvidenceContext`).
        backbone: open_clip backbone spec for the image experts.
        progress: optional callable(fraction, message) while the image experts run.

    Returns:
        The :class:`Located` result; bad evidence gives messages, never an exception.
    """
    from .experts.priors import standard_priors

    evidence = evidence if evidence is not None else EvidenceSet.of()
    img_experts, messages = image if image is not None else image_evidence(photos, backbone=backbone, progress=progress)
    messages = list(messages)
    context = EvidenceContext(photos=tuple(photos), layers=layers, privacy=privacy, extras=dict(extras or {}))
    ev_experts, ev_messages = evidence.experts(context)
    messages += ev_messages
    prior_experts = list(standard_priors() if priors is None else priors)
    ensemble = Ensemble(prior_experts + ev_experts + list(img_experts), floor=preset.floor)
    ensemble.base_fields()
    errors = [m for m in ev_messages if m.level == "error"]
    return Located(ensemble, preset, messages, evidence, len(photos), list(img_experts), errors)


def build_record(experts: Sequence[Expert], row: int, *, preset: Preset = DEFAULT_PRESET) -> Located:
    """Experts and ensemble for one benchmark record (the Cases and Classroom pages' photo).

    Args:
        experts: the benchmark's experts (batch experts hold every record; shared ones, e.g. priors, none).
        row: the record's row in the batch experts.
        preset: starting weights, refinement, pooling and floor (as for an uploaded photo).
    """
    ensemble = Ensemble(list(experts), floor=preset.floor, row=int(row))
    ensemble.base_fields()
    return Located(ensemble, preset, image_experts=[e for e in experts if e.kind == ExpertKind.IMAGE])


@dataclass(frozen=True)
class View:
    """What a shareable link restores besides the evidence.

    Attributes:
        weights: expert name -> weight given by the link (the rest take the preset's).
        budget_km2: area budget, km².
        refine: finest H3 resolution.
        show: "ensemble" or an expert name.
    """

    weights: Mapping[str, float]
    budget_km2: float
    refine: int
    show: str


def from_link(link_or_query: str | Mapping[str, Any]) -> tuple[EvidenceSet, View, list[Message]]:
    """Read a shareable link (a full URL, a ``?query`` or a parsed mapping) into evidence and view.

    Returns:
        (evidence, view, messages): one warning listing every bad value (plain text), as the page shows.
    """
    from urllib.parse import parse_qsl, urlsplit

    from .share import decode_query

    if isinstance(link_or_query, str):
        text = link_or_query.strip()
        query_text = urlsplit(text).query if ("://" in text or text.startswith("/")) else text.lstrip("?")
        query: Mapping[str, Any] = dict(parse_qsl(query_text, keep_blank_values=True))
    else:
        query = link_or_query
    params, messages = decode_query(query)
    return params.evidence, View(params.weights, params.budget_km2, params.refine, params.show), messages


def top_regions(dist: CellDistribution, regions: RankedRegions, n: int = TOP_REGIONS) -> RankedRegions:
    """The page's "Top regions" rows: the first ``n`` inside the budget, else the ``n`` densest overall."""
    return regions.head(n) if len(regions) else dist.ranked(n)
