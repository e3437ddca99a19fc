"""Image experts: one shared open_clip backbone feeding GeoCLIP and zero-shot attribute experts.

Entry points: :func:`load_photo`, :func:`image_experts`, :func:`weights_status` (see ``suite``);
docs/image_experts.md explains the models, caches, weights directory and offline mode.
"""

from .photo import Photo, PhotoError, load_photo
from .suite import download_weights, image_experts, weights_status
from .weights import WeightsMissing, WeightStatus

__all__ = ["Photo", "PhotoError", "WeightStatus", "WeightsMissing", "download_weights", "image_experts", "load_photo", "weights_status"]
