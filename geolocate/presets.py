"""Presets: the starting weights, refinement and floor shared by the app, the CLI and ``bench``.

A preset is a small frozen config (open_clip's model configs are the pattern): :func:`get_preset` returns
one by name, :func:`list_presets` lists them, :func:`register_preset` adds one. The Locate page, ``python -m
geolocate predict`` and ``bench`` all start from :data:`DEFAULT_PRESET`, so the same evidence gives the
same map everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .ensemble import DEFAULT_FLOOR

WEIGHT_MAX = 3.0
"""Largest weight a slider, a link or the CLI accepts."""


@dataclass(frozen=True)
class Preset:
    """Starting settings of the ensemble.

    Attributes:
        name: registry key.
        weights: starting weight per expert name; experts not listed start at ``default``.
        default: starting weight of every other expert.
        refine: finest H3 resolution the densest regions are split to.
        method: "log-linear" or "linear" pooling.
        floor: uniform mixing weight per expert (see :func:`geolocate.ensemble.floored`).
        budget_km2: starting area budget, km².
    """

    name: str
    weights: Mapping[str, float] = field(default_factory=dict)
    default: float = 1.0
    refine: int = 6
    method: str = "log-linear"
    floor: float = DEFAULT_FLOOR
    budget_km2: float = 1e4

    def weight(self, expert_name: str) -> float:
        """Starting weight of an expert (priors are damped; evidence starts at ``default``)."""
        return float(self.weights.get(expert_name, self.default))

    def weights_for(self, names: list[str], overrides: Mapping[str, float] | None = None) -> dict[str, float]:
        """Weight of every named expert: ``overrides`` (e.g. from a link or sliders) first, then the preset."""
        given = overrides or {}
        return {n: float(given[n]) if n in given else self.weight(n) for n in names}


_PRESETS: dict[str, Preset] = {}


def register_preset(preset: Preset) -> Preset:
    """Add (or replace) a preset under its name."""
    _PRESETS[preset.name] = preset
    return preset


def get_preset(name: str = "default") -> Preset:
    """The preset registered as ``name``.

    Raises:
        ValueError: no such preset (the message lists the known ones).
    """
    if name not in _PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {list_presets()}")
    return _PRESETS[name]


def list_presets() -> list[str]:
    """Names of the registered presets."""
    return list(_PRESETS)


DEFAULT_PRESET = register_preset(
    Preset("default", weights=MappingProxyType({"uniform land": 0.5, "population": 0.25, "photo density": 0.5}))
)
"""What the app, the CLI and the case pages start from."""
register_preset(Preset("equal", weights=MappingProxyType({})))
"""Every expert at weight 1 (the benchmark's unfitted baseline)."""

DEFAULT_WEIGHTS: Mapping[str, float] = DEFAULT_PRESET.weights
"""Starting slider positions for the priors; every other expert starts at 1."""


def default_weight(name: str) -> float:
    """Initial weight of an expert in the default preset."""
    return DEFAULT_PRESET.weight(name)
