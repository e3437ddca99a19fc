"""One shared open_clip backbone: one image forward pass feeds every image expert.

Preprocessing reproduces GeoCLIP's reference exactly (Hugging Face ``CLIPImageProcessor`` for
``openai/clip-vit-large-patch14`` in transformers 5: uint8 tensor, shortest side resized to 224 with torchvision v2
antialiased bicubic, centre crop 224 with the offset floored, CLIP mean/std). open_clip's own
``preprocess`` for ViT-L-14/openai differs in two details (it resizes the PIL image with PIL's bicubic,
and rounds the crop offset), so a 512x504 photo lands one pixel apart; GeoCLIP's head was trained on
the former, so we use it for every expert (tests/image/test_backbone.py checks it against the HF
processor to 1e-5).

The embedding is open_clip's ``encode_image(normalize=False)``, i.e. ``ln_post(CLS) @ proj``, which
is Hugging Face's ``CLIPModel.get_image_features`` (``visual_projection(post_layernorm(CLS))``):
:func:`hf_clip_vision_to_open_clip` maps one state dict onto the other and the peer test shows equal
embeddings and equal GeoCLIP top-5 on the wheel's Kauai.png.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .weights import TINY_RANDOM, WeightsMissing, backbone_label, fetch_command, parse_spec, resolve_checkpoint

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGE_SIZE = 224

_CONFIG_DIR = Path(__file__).resolve().parent / "model_configs"
_registered = False


def register_configs() -> None:
    """Make the tiny test architecture known to open_clip (idempotent)."""
    global _registered
    if not _registered:
        import open_clip

        open_clip.add_model_config(_CONFIG_DIR)
        _registered = True


def resize_shortest_size(height: int, width: int, size: int = IMAGE_SIZE) -> tuple[int, int]:
    """(h, w) after resizing the shortest side to ``size`` with the long side truncated, as HF does."""
    if width <= height:
        return int(size * height / width), size
    return size, int(size * width / height)


def clip_preprocess(image: Image.Image, size: int = IMAGE_SIZE) -> torch.Tensor:
    """GeoCLIP's reference preprocessing of an RGB PIL image; float32 tensor (3, size, size)."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2 import functional as tvF  # the v2 kernels, as HF uses (v1 uint8 bicubic differs)

    x = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()
    h, w = resize_shortest_size(x.shape[1], x.shape[2], size)
    x = tvF.resize(x, [h, w], interpolation=InterpolationMode.BICUBIC, antialias=True)
    top, left = int((h - size) / 2.0), int((w - size) / 2.0)
    x = x[:, top : top + size, left : left + size]
    # HF fuses rescale (1/255) into mean and std; same arithmetic here so values agree to the last bit.
    scale = 1.0 / (1.0 / 255.0)
    mean, std = torch.tensor(CLIP_MEAN) * scale, torch.tensor(CLIP_STD) * scale
    return tvF.normalize(x.to(torch.float32), mean.tolist(), std.tolist())


def hf_clip_vision_to_open_clip(hf_state: dict[str, torch.Tensor], num_layers: int) -> dict[str, torch.Tensor]:
    """Map a Hugging Face ``CLIPModel`` vision state dict onto open_clip's ``visual`` module.

    Args:
        hf_state: CLIPModel state dict (keys ``vision_model.*`` and ``visual_projection.weight``).
        num_layers: number of vision transformer layers.

    Returns:
        State dict for ``open_clip_model.visual.load_state_dict`` (q/k/v fused into ``in_proj``,
        the projection transposed).
    """
    v = "vision_model."
    out = {
        "class_embedding": hf_state[v + "embeddings.class_embedding"],
        "conv1.weight": hf_state[v + "embeddings.patch_embedding.weight"],
        "positional_embedding": hf_state[v + "embeddings.position_embedding.weight"],
        "ln_pre.weight": hf_state[v + "pre_layrnorm.weight"],  # sic: HF spells it "layrnorm"
        "ln_pre.bias": hf_state[v + "pre_layrnorm.bias"],
        "ln_post.weight": hf_state[v + "post_layernorm.weight"],
        "ln_post.bias": hf_state[v + "post_layernorm.bias"],
        "proj": hf_state["visual_projection.weight"].t().contiguous(),
    }
    for i in range(num_layers):
        src, dst = f"{v}encoder.layers.{i}.", f"transformer.resblocks.{i}."
        a = src + "self_attn."
        out[dst + "attn.in_proj_weight"] = torch.cat([hf_state[a + f"{p}_proj.weight"] for p in "qkv"], 0)
        out[dst + "attn.in_proj_bias"] = torch.cat([hf_state[a + f"{p}_proj.bias"] for p in "qkv"], 0)
        for hf_name, oc_name in (
            ("self_attn.out_proj", "attn.out_proj"),
            ("layer_norm1", "ln_1"),
            ("layer_norm2", "ln_2"),
            ("mlp.fc1", "mlp.c_fc"),
            ("mlp.fc2", "mlp.c_proj"),
        ):
            for p in ("weight", "bias"):
                out[f"{dst}{oc_name}.{p}"] = hf_state[f"{src}{hf_name}.{p}"]
    return out


@dataclass(eq=False)
class Backbone:
    """A loaded open_clip model with the project's preprocessing.

    Attributes:
        spec: backbone spec it was built from.
        label: human-readable name; says RANDOM for random weights.
        random: True when the weights are a random initialisation (outputs are meaningless).
        model: the open_clip CLIP model (eval mode, CPU unless moved).
        embed_dim: image/text embedding size.
        logit_scale: CLIP's learned temperature, exp(model.logit_scale) (100 for OpenAI's).
        checkpoint: weights file, or None for random init.
    """

    spec: str
    label: str
    random: bool
    model: Any  # an open_clip CLIP (torch.nn.Module): encode_image / encode_text are its own methods
    embed_dim: int
    logit_scale: float
    checkpoint: str | None = None
    _tokenizer: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def device(self) -> torch.device:
        """The torch device the model's parameters are on."""
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the model's parameters; inputs are cast to it."""
        return next(self.model.parameters()).dtype

    @torch.no_grad()
    def encode_images(self, images: Sequence[Image.Image], batch_size: int = 8) -> np.ndarray:
        """Raw (unnormalised) image embeddings, float32 (n, embed_dim): what GeoCLIP's head takes."""
        out = []
        for i in range(0, len(images), batch_size):
            x = torch.stack([clip_preprocess(im) for im in images[i : i + batch_size]])
            with self._lock:  # torch modules are not re-entrant across Streamlit sessions' threads
                out.append(self.model.encode_image(x.to(self.device, self.dtype)).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.embed_dim), np.float32)

    @torch.no_grad()
    def encode_texts(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """L2-normalised text embeddings, float32 (n, embed_dim)."""
        if self._tokenizer is None:
            import open_clip

            # The tiny config uses the same BPE vocabulary, so one tokenizer serves both.
            self._tokenizer = open_clip.get_tokenizer("ViT-L-14")
        out = []
        for i in range(0, len(texts), batch_size):
            tok = self._tokenizer(list(texts[i : i + batch_size])).to(self.device)
            with self._lock:
                t = self.model.encode_text(tok).float()
            out.append(torch.nn.functional.normalize(t, dim=-1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.embed_dim), np.float32)


def build_backbone(spec: str, checkpoint: str | None = None, device: str = "cpu", seed: int = 0) -> Backbone:
    """Build the open_clip model of ``spec`` and load ``checkpoint`` (random init when None)."""
    import open_clip
    from open_clip.pretrained import get_pretrained_cfg

    register_configs()
    arch, tag = parse_spec(spec)
    # OpenAI's weights were trained with QuickGELU; open_clip warns but does not switch by itself.
    quick = bool((get_pretrained_cfg(arch, tag) or {}).get("quick_gelu", False)) if tag else False
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # random init is reproducible, so test expectations are stable
            model = open_clip.create_model(arch, pretrained=checkpoint, force_quick_gelu=quick, device=device)
    except Exception as err:  # noqa: BLE001 - safetensors, pickle and state-dict errors come in many types
        if checkpoint is None:
            raise
        raise WeightsMissing(
            backbone_label(spec),
            f"checkpoint {checkpoint} is corrupt or not a {arch} checkpoint ({type(err).__name__}: {str(err)[:200]})",
            f"delete it, then {fetch_command(spec)}",
        ) from None
    model.eval()
    scale = float(model.logit_scale.detach().exp()) if hasattr(model, "logit_scale") else 100.0
    embed_dim = int(model.visual.output_dim)
    random = checkpoint is None
    label = backbone_label(spec) if not random or spec == TINY_RANDOM else f"RANDOM {arch} (no weights loaded)"
    return Backbone(spec, label, random, model, embed_dim, scale, checkpoint)


_CACHE: dict[str, Backbone] = {}
_CACHE_LOCK = threading.Lock()


def load_backbone(spec: str, progress: Callable[[float, str], None] | None = None) -> Backbone:
    """The backbone of ``spec``, built once per process (thread-safe).

    Raises:
        WeightsMissing: weights not available and not downloadable (see :mod:`geolocate.image.weights`).
    """
    with _CACHE_LOCK:
        if spec in _CACHE:
            return _CACHE[spec]
        if progress:
            progress(0.0, f"locating {backbone_label(spec)}")
        checkpoint = resolve_checkpoint(spec)
        if progress:
            progress(0.5, f"loading {backbone_label(spec)}")
        bb = build_backbone(spec, checkpoint)
        _CACHE[spec] = bb
        return bb
