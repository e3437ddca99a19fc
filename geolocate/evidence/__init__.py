"""Evidence: what is known about a photo, one module per kind behind one protocol (:mod:`.base`).

Kinds register in import order, which is the order of the page's panels and the report's list:
:mod:`.analyst` (guess, countries, attributes), :mod:`.sunclock` (sun, shadow and clock), :mod:`.text`
(text read in the photo or typed), :mod:`.model` (a vision-language model), :mod:`.osm` (map features).
"""

from .analyst import (
    ATTRIBUTE_TERMS,
    POINT_EXPERT,
    RADIUS_MAX_KM,
    RADIUS_MIN_KM,
    REGION_EXPERT,
    AnalystEvidence,
    analyst_experts,
    attribute_expert_name,
    attribute_layers,
    parse_latlon,
)
from .base import Evidence, EvidenceContext, EvidenceSet, Message, Severity, kinds, register
from .sunclock import SunClockEvidence

__all__ = [
    "ATTRIBUTE_TERMS", "POINT_EXPERT", "RADIUS_MAX_KM", "RADIUS_MIN_KM", "REGION_EXPERT", "AnalystEvidence", "Evidence",
    "EvidenceContext", "EvidenceSet", "Message", "Severity", "SunClockEvidence", "analyst_experts", "attribute_expert_name",
    "attribute_layers", "kinds", "parse_latlon", "register",
]
# Optional kinds register after the two built-in ones; the order is the panels' and the report's
# (hence not sorted).
from .text import TextEvidence  # noqa: E402,F401,I001  (the "text" kind: text read in the photo or typed)
from .model import ModelEvidence  # noqa: E402,F401  (the "model" kind: a vision-language model's answers)
from .osm import OsmEvidence  # noqa: E402,F401  (the "osm" kind: OpenStreetMap features)
