"""The model stage: uint8 crops in, backbone embeddings and every image expert's compact result out.

Per photo it stores what rebuilds each expert exactly, plus a summary that needs no model:

* ``embedding``: the backbone's raw image embedding (float16 on disk; for new heads or prompts).
* ``geoclip_features``: GeoCLIP's normalised image features f (512, float32). f fixes the whole GeoCLIP
  expert, refinement included (:class:`~geolocate.image.geoclip_expert.GeoCLIPExpert` ``features=``),
  which the float16 embedding would not to 1e-6.
* ``geoclip_top_cells`` / ``geoclip_top_log_density``: the k densest base-grid cells (H3 ids as uint64)
  and GeoCLIP's log density there (per km², as the expert defines it).
* ``zs_<task>``: zero-shot class probabilities P(c | photo) per attribute task (land cover, population,
  scene, country); with the shipped layer they are the whole attribute expert.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..grid import DEFAULT_RESOLUTION, global_grid
from ..image.backbone import Backbone
from .preprocess import normalize

DEFAULT_TOP_K = 32

EXPERT_CHOICES = ("geoclip", "land cover", "population", "scene", "country")
"""Names accepted by ``--experts`` (the zero-shot ones are the task names of geolocate.image.zeroshot)."""


def task_column(task_name: str) -> str:
    """Column name of a zero-shot task's probabilities, e.g. "land cover" -> "zs_land_cover"."""
    return "zs_" + re.sub(r"[^a-z0-9]+", "_", task_name.lower()).strip("_")


def pick_device(device: str = "auto") -> str:
    """"cuda" when asked for or available ("auto"), else "cpu"."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is visible to torch")
    return device


def weights_sha256(backbone) -> str:
    """sha256 of the checkpoint file, or of the random initialisation's tensors (reproducible by seed)."""
    if backbone.checkpoint:
        from ..image.weights import file_sha256

        return file_sha256(backbone.checkpoint)
    h = hashlib.sha256()
    for name, t in sorted(backbone.model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@dataclass
class ExpertSpec:
    """One stored image expert: its display name and columns."""

    name: str
    kind: str
    columns: list[str]
    classes: list[str] | None = None


class Scorer:
    """Backbone + GeoCLIP head + zero-shot class embeddings, loaded once per process (or Ray actor).

    Args:
        backbone: backbone spec (``ViT-L-14/openai``, ``tiny-random``, ...), or a built
            :class:`~geolocate.image.backbone.Backbone` (moved to ``device``; benchmarks pass random-weight ones).
        device: "auto", "cpu" or "cuda[:n]".
        top_k: GeoCLIP cells kept per photo.
        res: base H3 resolution of the stored cells.
        threads: torch CPU threads (fixed so both engines compute the same bytes); None leaves torch's default.
        sha256: known weights digest (skips hashing a 1.7 GB checkpoint again in every Ray actor).
        experts: which experts to store, from :data:`EXPERT_CHOICES` (default all).

    Raises:
        WeightsMissing: the backbone's weights are not here (offline) and cannot be fetched.
    """

    def __init__(self, backbone: str | Backbone, device: str = "auto", top_k: int = DEFAULT_TOP_K, res: int = DEFAULT_RESOLUTION,
                 threads: int | None = None, sha256: str | None = None, experts: Sequence[str] | None = None):
        from ..image.backbone import build_backbone
        from ..image.geoclip_expert import ENCODER_MIX, GEOCLIP_EMBED_DIM, load_geoclip_head
        from ..image.weights import WeightsMissing, resolve_checkpoint
        from ..image.zeroshot import TASKS, class_embeddings
        from ..layers import LayerError

        wanted = list(EXPERT_CHOICES if experts is None else experts)
        unknown = sorted(set(wanted) - set(EXPERT_CHOICES))
        if unknown:
            raise ValueError(f"unknown experts {unknown}; choose from {', '.join(EXPERT_CHOICES)}")
        if threads:
            torch.set_num_threads(threads)
        self.device = pick_device(device)
        self.top_k, self.res, self.encoder_mix = int(top_k), int(res), ENCODER_MIX
        if isinstance(backbone, str):
            self.backbone = build_backbone(backbone, resolve_checkpoint(backbone), device=self.device)
        else:
            self.backbone = backbone
            self.backbone.model.to(self.device)
            backbone = backbone.spec
        self.sha256 = sha256 or weights_sha256(self.backbone)
        self.suffix = " [RANDOM backbone]" if self.backbone.random else ""
        self.messages: list[str] = []
        self.experts: list[ExpertSpec] = []
        self.head = None
        if "geoclip" not in wanted:
            pass
        elif self.backbone.embed_dim != GEOCLIP_EMBED_DIM:
            self.messages.append(f"unavailable: GeoCLIP (needs a {GEOCLIP_EMBED_DIM}-d embedding; {backbone} gives {self.backbone.embed_dim}-d)")
        else:
            try:
                self.head = load_geoclip_head()
            except WeightsMissing as err:
                self.messages.append(f"unavailable: GeoCLIP ({err.what} missing: {err.detail}). fix: {err.fix}")
        if self.head is not None:
            grid = global_grid(self.res)
            dev = self.device
            self._mlp = self.head.mlp.to(dev) if dev != "cpu" else self.head.mlp
            self._gal_t = self.head.gallery_features().t().contiguous().to(dev)
            self._grid_t = self.head.grid_features(self.res).t().contiguous().to(dev)
            self._cell_of = torch.as_tensor(self.head.gallery_cells(self.res), device=dev)
            self._log_area = torch.as_tensor(np.log(grid.area_km2), dtype=torch.float64, device=dev)
            self._grid_cells = torch.as_tensor(grid.cells.view(np.int64), device=dev)
            self.head_key = self.head.key
            self.experts.append(ExpertSpec(f"GeoCLIP{self.suffix}", "geoclip", ["geoclip_features", "geoclip_top_cells", "geoclip_top_log_density"]))
        self.tasks = []
        for task in TASKS:
            if task.name not in wanted:
                continue
            try:
                layer = task.layer_fn()
            except (LayerError, FileNotFoundError) as err:
                self.messages.append(f"unavailable: {task.name} (zero-shot) expert: {err}")
                continue
            emb = class_embeddings(self.backbone, task.prompts(layer))
            self.tasks.append((task, task_column(task.name), emb))
            self.experts.append(ExpertSpec(f"{task.name} (zero-shot){self.suffix}", "zero-shot", [task_column(task.name)], list(layer.classes)))
        self._autocast: Any
        if self.device.startswith("cuda"):
            self._autocast = torch.autocast("cuda", dtype=torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
        else:
            self._autocast = nullcontext()  # fp32 on CPU: exact, and what the in-process predict computes
        self.timing = {"model_s": 0.0, "experts_s": 0.0}

    @property
    def precision(self) -> str:
        """Compute precision of the backbone: float32 on CPU, bfloat16 (or float16) on GPU."""
        if isinstance(self._autocast, nullcontext):
            return "float32"
        return str(self._autocast.fast_dtype).replace("torch.", "")

    def columns(self) -> dict[str, tuple[str, int]]:
        """Result columns: name -> (numpy dtype name, width)."""
        cols = {"embedding": ("float16", self.backbone.embed_dim)}
        if self.head is not None:
            cols |= {"geoclip_features": ("float32", 512), "geoclip_top_cells": ("uint64", self.top_k), "geoclip_top_log_density": ("float32", self.top_k)}
        for _task, col, emb in self.tasks:
            cols[col] = ("float32", len(emb))
        return cols

    @torch.no_grad()
    def score(self, pixels: torch.Tensor) -> dict[str, np.ndarray]:
        """Results for a batch of uint8 crops (B, 3, 224, 224) (on any device): column -> (B, width) array."""
        from ..image.zeroshot import zero_shot_probs

        if len(pixels) == 0:  # a micro-batch whose photos were all bad: nothing for the model to see
            return {name: np.zeros((0, width), dtype=np.dtype(dtype)) for name, (dtype, width) in self.columns().items()}
        t0 = time.perf_counter()
        x = normalize(pixels.to(self.device, non_blocking=True))
        with self._autocast:
            emb = self.backbone.model.encode_image(x.to(self.backbone.dtype)).float()
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
        t1 = time.perf_counter()
        out = {"embedding": emb.cpu().numpy()}
        if self.head is not None and len(emb):
            f, cells, logd = self._geoclip(emb)
            out |= {"geoclip_features": f, "geoclip_top_cells": cells, "geoclip_top_log_density": logd}
        e64 = out["embedding"]
        for _task, col, cls in self.tasks:
            out[col] = zero_shot_probs(e64, cls, self.backbone.logit_scale).astype(np.float32) if len(e64) else np.zeros((0, len(cls)), np.float32)
        self.timing["model_s"] += t1 - t0
        self.timing["experts_s"] += time.perf_counter() - t1
        return out

    def _geoclip(self, emb: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """f, top-k cells and their log densities per km² (the GeoCLIP density of geoclip_expert's docstring)."""
        assert self.head is not None
        f = torch.nn.functional.normalize(self._mlp(emb.float()), dim=1)
        scale = self.head.logit_scale
        logp = torch.log_softmax(scale * (f @ self._gal_t), dim=-1).double()
        m_gal = torch.zeros((len(f), len(self._log_area)), dtype=torch.float64, device=f.device).index_add_(1, self._cell_of, logp.exp())
        z = (scale * (f @ self._grid_t)).double() + self._log_area
        m_enc = torch.softmax(z, dim=-1)
        base = torch.log((1.0 - self.encoder_mix) * m_gal + self.encoder_mix * m_enc) - self._log_area
        val, idx = torch.topk(base, min(self.top_k, base.shape[1]), dim=1)
        cells = self._grid_cells[idx].cpu().numpy().view(np.uint64)
        return f.float().cpu().numpy(), cells, val.float().cpu().numpy()

    def describe(self) -> dict:
        """What the manifest records about the models."""
        import geolocate

        return {
            "backbone": self.backbone.spec,
            "backbone_label": self.backbone.label,
            "random_weights": self.backbone.random,
            "checkpoint": self.backbone.checkpoint,
            "weights_sha256": self.sha256,
            "embed_dim": self.backbone.embed_dim,
            "geoclip_head_key": getattr(self, "head_key", None),
            "encoder_mix": self.encoder_mix,
            "res": self.res,
            "top_k": self.top_k,
            "device": self.device,
            "precision": self.precision,
            "geolocate_version": geolocate.__version__,
            "experts": [e.__dict__ for e in self.experts],
            "messages": self.messages,
        }
