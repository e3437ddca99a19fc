"""The one entry point the app and the CLI call: photos in, image experts out.

Models are loaded once per process behind locks (several Streamlit sessions share them). When weights
are missing in offline mode the experts that need them are left out and a message says what is missing
and the command that fetches it; everything else (priors, analyst evidence, layers) keeps working.

``GEOLOCATE_BACKBONE=tiny-random`` (or ``backbone="tiny-random"``) swaps in a tiny randomly initialised
open_clip model: for tests and demos of the plumbing only. Its experts carry "[RANDOM backbone]" in their
names and descriptions; their output is noise, never a prediction.
"""

from __future__ import annotations

from collections.abc import Callable

from ..evidence.base import Message
from ..experts.base import Expert
from .backbone import load_backbone
from .geoclip_expert import GEOCLIP_EMBED_DIM, GeoCLIPExpert, load_geoclip_head
from .photo import Photo, PhotoError, load_photo
from .weights import BackboneSpecError, WeightsMissing, WeightStatus, default_backbone_spec, resolve_checkpoint
from .weights import status as _status
from .zeroshot import attribute_experts

__all__ = ["Photo", "PhotoError", "WeightStatus", "download_weights", "image_experts", "load_photo", "weights_status"]

Progress = Callable[[float, str], None]


def weights_status(backbone: str | None = None) -> list[WeightStatus]:
    """What the image experts need and whether it is here (never uses the network)."""
    return _status(backbone)


def download_weights(backbone: str | None = None, progress: Progress | None = None) -> list[WeightStatus]:
    """Fetch the backbone checkpoint into the weights directory and build the GeoCLIP feature caches.

    Raises:
        WeightsMissing: the download failed or offline mode is on.
    """
    spec = backbone or default_backbone_spec()
    if progress:
        progress(0.0, f"fetching {spec} weights")
    resolve_checkpoint(spec)  # downloads unless offline mode is on: an air-gapped machine must never try
    if progress:
        progress(0.5, "GeoCLIP gallery and grid features (computed once, ~1 min on CPU)")
    head = load_geoclip_head("wheel")
    head.gallery_features()
    head.grid_features()
    return weights_status(spec)


def _sub(progress: Progress | None, lo: float, hi: float) -> Progress | None:
    if progress is None:
        return None
    return lambda f, msg: progress(lo + (hi - lo) * max(0.0, min(1.0, f)), msg)


def image_experts(photos: list[Photo], *, backbone: str | None = None, progress: Progress | None = None) -> tuple[list[Expert], list[Message]]:
    """Image experts for one photo, or for an album of photos of one place (one expert per kind).

    Args:
        photos: decoded photos (see :func:`load_photo`); several photos are combined (product of densities).
        backbone: backbone spec (default ``GEOLOCATE_BACKBONE`` or ViT-L-14/openai).
        progress: optional callable(fraction in [0, 1], message).

    Returns:
        (experts, messages): GeoCLIP then the zero-shot attribute experts; a warning message for each
        expert that could not be built (its ``detail`` is the command that fixes it, when there is one).
    """
    if not photos:
        return [], []
    spec = backbone or default_backbone_spec()
    messages: list[Message] = []
    try:
        bb = load_backbone(spec, _sub(progress, 0.0, 0.3))
    except BackboneSpecError as err:
        return [], [Message("warning", f"GeoCLIP and zero-shot experts are unavailable (unknown backbone {err.spec!r}: {err.detail}). To fix it:", err.fix)]
    except WeightsMissing as err:
        return [], [Message("warning", f"GeoCLIP and zero-shot experts are unavailable ({err.what} missing: {err.detail}). To fetch it, on a connected machine:", err.fix)]
    suffix = " [RANDOM backbone]" if bb.random else ""
    if progress:
        progress(0.3, f"encoding {len(photos)} photo(s) with {bb.label}")
    emb = bb.encode_images([p.image for p in photos])
    experts: list[Expert] = []
    if bb.embed_dim != GEOCLIP_EMBED_DIM:
        messages.append(Message("warning", f"GeoCLIP is unavailable: it needs a {GEOCLIP_EMBED_DIM}-d CLIP ViT-L/14 embedding; {spec} gives {bb.embed_dim}-d. Use the backbone:", "ViT-L-14/openai"))
    else:
        try:
            head = load_geoclip_head()
            name = f"GeoCLIP{suffix or (' [RANDOM head]' if head.random else '')}"
            experts.append(GeoCLIPExpert(head, emb, name=name, progress=_sub(progress, 0.45, 0.8)))
            if head.random and not bb.random:
                messages.append(Message("warning", "GeoCLIP uses the generated test head (GEOLOCATE_GEOCLIP=tiny-random): its output is noise."))
        except WeightsMissing as err:
            messages.append(Message("warning", f"GeoCLIP is unavailable ({err.what} missing: {err.detail}). To fetch it, on a connected machine:", err.fix))
        except ValueError as err:  # e.g. GEOLOCATE_GEOCLIP set to something unknown
            messages.append(Message("warning", "GeoCLIP is unavailable:", str(err)))
    zs, msgs = attribute_experts(bb, emb, suffix=suffix, progress=_sub(progress, 0.8, 1.0))
    experts += zs
    messages += msgs
    if bb.random:
        messages.append(Message("warning", f"{bb.label}: these image experts are random noise, for testing the plumbing only."))
    if progress:
        progress(1.0, "image experts ready")
    return experts, messages
