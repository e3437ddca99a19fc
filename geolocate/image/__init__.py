"""Image experts: one shared open_clip backbone feeding GeoCLIP and zero-shot attribute experts.

Entry points: :func:`load_photo`, :func:`image_experts`, :func:`weights_status` (see ``suite``);
docs/image_experts.md explains the models, caches, weights directory and offline mode.
"""

from importlib import import_module
from typing import Any

_LAZY = {
    "Photo": "photo", "PhotoError": "photo", "load_photo": "photo",
    "download_weights": "suite", "image_experts": "suite", "weights_status": "suite",
    "WeightsMissing": "weights", "WeightStatus": "weights",
}


def __getattr__(name: str) -> Any:
    """The public names, imported on first use (the suite loads torch; reading a photo must not)."""
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Photo", "PhotoError", "WeightStatus", "WeightsMissing", "download_weights", "image_experts", "load_photo", "weights_status"]
