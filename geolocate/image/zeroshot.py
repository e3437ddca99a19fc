"""Zero-shot attribute experts through the backbone's text tower.

For each task (land cover, population density, scene, country) every class has a few phrases and every
phrase is put into a few templates ("a photo of {}."). The class text embedding is the normalised mean
of the normalised prompt embeddings (CLIP's prompt ensembling). For a photo with normalised image
embedding v, P(c | photo) = softmax_c(logit_scale * <v, t_c> / T), logit_scale = exp(CLIP's learned
scale) = 100 for OpenAI's weights, and T the task's temperature (default 1: uncalibrated; fit it on a
labelled set). The probabilities feed the core's :class:`~geolocate.experts.AttributeExpert` with its
layer; the class prior pi(c) is the class frequency among photo locations, read from the layer at the
GeoCLIP gallery's 100K MP-16 locations (floored at 1e-4).

Country class 0 ("none", open sea) gets a deliberately rare prompt ("the open ocean far from any
coast"), so it only wins for photos of the open sea.

Album mode multiplies the photos' attribute likelihoods (one expert per task).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..evidence.base import Message
from ..experts.attribute import AttributeExpert, attribute_log_likelihood, tempered
from ..experts.base import Expert, ExpertKind
from ..grid import CellSet, cache_dir, write_cache
from ..layers import IGBP_CLASSES, POPULATION_BINS, SCENE_CLASSES, Layer, LayerError

TEMPLATES = ["a photo of {}.", "a blurry photo of {}.", "a travel photo of {}.", "a street-level photo of {}."]

LANDCOVER_PHRASES = {
    "water": ["a lake", "the sea", "a river"],
    "evergreen needleleaf forest": ["a pine forest", "a coniferous forest"],
    "evergreen broadleaf forest": ["a tropical rainforest", "a dense jungle"],
    "deciduous needleleaf forest": ["a larch forest", "a boreal forest of larches"],
    "deciduous broadleaf forest": ["a deciduous forest of oak and beech", "a broadleaf woodland"],
    "mixed forest": ["a mixed forest of conifers and broadleaf trees", "a temperate forest"],
    "closed shrubland": ["dense shrubland", "thick bushes and scrub"],
    "open shrubland": ["sparse desert scrub", "dry open shrubland"],
    "woody savanna": ["a woody savanna", "open woodland with scattered trees"],
    "savanna": ["an African savanna", "grassland with scattered trees"],
    "grassland": ["a grassland", "a prairie", "open meadows"],
    "permanent wetland": ["a wetland", "a marsh", "a swamp"],
    "cropland": ["farmland with crop fields", "agricultural fields"],
    "urban and built-up": ["a city", "buildings and streets", "an urban area"],
    "cropland / natural vegetation mosaic": ["a patchwork of fields and woods", "countryside with farms and trees"],
    "permanent snow and ice": ["a glacier", "snow and ice", "an ice sheet"],
    "barren": ["a barren desert", "bare rock and sand", "a rocky wasteland"],
}

POPULATION_PHRASES = [
    ["remote wilderness with no people", "an empty landscape far from any town"],
    ["open countryside with a few scattered farmhouses", "a sparsely populated rural area"],
    ["a small village", "a hamlet with a few streets"],
    ["a town", "the centre of a small town"],
    ["a big city", "a dense city with tall buildings and busy streets"],
]

SCENE_PHRASES = {
    "indoor": ["an indoor room", "the inside of a building"],
    "natural": ["nature", "a natural landscape"],
    "urban": ["a city street", "an urban scene with buildings"],
}

SEA_PHRASES = ["the open ocean far from any coast"]

COUNTRY_NAMES = {
    "Dem. Rep. Congo": "the Democratic Republic of the Congo",
    "Central African Rep.": "the Central African Republic",
    "Dominican Rep.": "the Dominican Republic",
    "Eq. Guinea": "Equatorial Guinea",
    "Bosnia and Herz.": "Bosnia and Herzegovina",
    "Falkland Is.": "the Falkland Islands",
    "Fr. S. Antarctic Lands": "the French Southern and Antarctic Lands",
    "Solomon Is.": "the Solomon Islands",
    "W. Sahara": "Western Sahara",
    "N. Cyprus": "Northern Cyprus",
    "S. Sudan": "South Sudan",
    "United States of America": "the United States",
    "United Kingdom": "the United Kingdom",
    "Netherlands": "the Netherlands",
    "Philippines": "the Philippines",
    "Czechia": "the Czech Republic",
    "eSwatini": "Eswatini",
    "Côte d'Ivoire": "Ivory Coast",
    # Natural Earth 1:10m English names (the country layer since issue 13)
    "Democratic Republic of the Congo": "the Democratic Republic of the Congo",
    "Republic of the Congo": "the Republic of the Congo",
    "Central African Republic": "the Central African Republic",
    "Dominican Republic": "the Dominican Republic",
    "United Arab Emirates": "the United Arab Emirates",
    "Solomon Islands": "the Solomon Islands",
    "Falkland Islands": "the Falkland Islands",
    "French Southern and Antarctic Lands": "the French Southern and Antarctic Lands",
    "Czech Republic": "the Czech Republic",
}
COUNTRY_TEMPLATES = ["a photo taken in {}.", "a street-level photo in {}.", "a landscape photo in {}.", "a travel photo of {}."]


@dataclass
class Task:
    """One zero-shot attribute task.

    Attributes:
        name: expert name stem ("land cover", "population", "scene", "country").
        layer_fn: returns the core layer (may raise LayerError).
        temperature: T of the module docstring.
    """

    name: str
    layer_fn: Callable[[], Layer]
    temperature: float = 1.0

    def prompts(self, layer: Layer) -> list[list[str]]:
        """Prompt ensemble per class of ``layer`` (one list of strings per class, in class order)."""
        if self.name == "land cover":
            return [[t.format(p) for p in LANDCOVER_PHRASES[c] for t in TEMPLATES] for c in layer.classes]
        if self.name == "population":
            return [[t.format(p) for p in POPULATION_PHRASES[i] for t in TEMPLATES] for i in range(len(layer.classes))]
        if self.name == "scene":
            return [[t.format(p) for p in SCENE_PHRASES[c] for t in TEMPLATES] for c in layer.classes]
        if self.name == "country":
            from ..layers import country_table

            names = [COUNTRY_NAMES.get(c["name"], c["name"]) for c in country_table()]
            return [[t.format(p) for p in SEA_PHRASES for t in TEMPLATES]] + [[t.format(n) for t in COUNTRY_TEMPLATES] for n in names]
        raise ValueError(f"unknown task {self.name}")


def _landcover():
    from ..layers import landcover_layer

    return landcover_layer()


def _population():
    from ..layers import geonames_population_layer

    return geonames_population_layer()


def _scene():
    from ..layers import scene_layer

    return scene_layer()


def _country():
    from ..layers import country_layer

    return country_layer()


TASKS = [Task("land cover", _landcover), Task("population", _population), Task("scene", _scene), Task("country", _country)]
"""The zero-shot tasks, in display order."""

assert list(LANDCOVER_PHRASES) == IGBP_CLASSES and len(POPULATION_PHRASES) == len(POPULATION_BINS) and list(SCENE_PHRASES) == SCENE_CLASSES

_TEXT_CACHE: dict[tuple, np.ndarray] = {}
_TEXT_LOCK = threading.Lock()


def class_embeddings(backbone, prompts: list[list[str]]) -> np.ndarray:
    """Prompt-ensembled class text embeddings, float32 (K, D), L2-normalised.

    Each class's embedding is the renormalised mean of its prompts' embeddings. Results are cached per
    backbone in memory, and on disk for real checkpoints (the ViT-L text tower takes ~1 s per 20 prompts
    on CPU).

    Args:
        backbone: a loaded :class:`~geolocate.image.backbone.Backbone`.
        prompts: K lists of prompts, one list per class.
    """
    digest = hashlib.sha256(json.dumps(prompts).encode()).hexdigest()[:16]
    key = (backbone.spec, backbone.checkpoint, digest)
    with _TEXT_LOCK:
        if key in _TEXT_CACHE:
            return _TEXT_CACHE[key]
    path = None
    if backbone.checkpoint:
        st = os.stat(backbone.checkpoint)
        ck = hashlib.sha256(f"{backbone.spec}|{os.path.basename(backbone.checkpoint)}|{st.st_size}".encode()).hexdigest()[:16]
        path = cache_dir() / f"text_{ck}_{digest}.npy"
        if path.exists():
            try:
                emb = np.load(path)
                with _TEXT_LOCK:
                    _TEXT_CACHE[key] = emb
                return emb
            except (OSError, ValueError):
                pass
    flat = [p for ps in prompts for p in ps]
    t = backbone.encode_texts(flat)
    owner = np.repeat(np.arange(len(prompts)), [len(ps) for ps in prompts])
    mean = np.zeros((len(prompts), t.shape[1]), np.float64)
    np.add.at(mean, owner, t)
    emb = (mean / np.linalg.norm(mean, axis=1, keepdims=True)).astype(np.float32)
    if path is not None:
        write_cache(path, lambda f: np.save(f, emb))
    with _TEXT_LOCK:
        _TEXT_CACHE[key] = emb
    return emb


def zero_shot_probs(image_embeddings: np.ndarray, class_emb: np.ndarray, logit_scale: float) -> np.ndarray:
    """softmax(logit_scale * <v, t_c>) per photo, float64 (S, K) (temperature is applied by the expert)."""
    v = np.asarray(image_embeddings, dtype=np.float64)
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    z = logit_scale * v @ np.asarray(class_emb, dtype=np.float64).T
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


@functools.lru_cache(maxsize=8)
def photo_class_prior(layer: Layer, floor: float = 1e-4) -> np.ndarray:
    """pi(c): mean layer fractions at the GeoCLIP gallery's photo locations, floored and normalised, (K,).

    Computed once per layer as (photos per cell) @ (cell fractions), without a per-photo table.

    Args:
        layer: the attribute layer (K classes).
        floor: smallest prior of a class before renormalising, so that no class has pi(c) = 0.
    """
    from ..experts.priors import _gallery_counts

    counts = _gallery_counts()  # photos per cell of global_grid(LAYER_RESOLUTION)
    pi = layer.weighted_sum(counts) / counts.sum()
    pi = np.maximum(pi, floor)
    return pi / pi.sum()


class AlbumAttributeExpert(Expert):
    """Product over several photos of attribute likelihoods sum_c f(cell, c) P_s(c) / pi(c)."""

    def __init__(self, layer: Layer, probs: np.ndarray, class_prior: np.ndarray, temperature: float = 1.0, name: str | None = None, kind: ExpertKind = ExpertKind.ATTRIBUTE):
        self.layer, self.class_prior = layer, np.asarray(class_prior, dtype=np.float64)
        self.probs = tempered(np.atleast_2d(probs), temperature)
        self.name, self.kind = name or layer.name, kind

    def log_density(self, cells: CellSet) -> np.ndarray:
        """Log likelihood of the album at each cell, summed over the photos, float64 (n,)."""
        return attribute_log_likelihood(self.layer.values_at(cells), self.probs, self.class_prior).sum(axis=0)

    def describe(self) -> str:
        """One line with the album size and the three most probable classes on average."""
        mean = self.probs.mean(axis=0)
        tops = ", ".join(f"{self.layer.classes[i]} {mean[i]:.0%}" for i in np.argsort(-mean)[:3])
        return f"{self.kind}: {self.name} (album of {len(self.probs)} photos, mean {tops})"


def attribute_experts(backbone, image_embeddings: np.ndarray, *, suffix: str = "", tasks: list[Task] | None = None,
                      progress: Callable[[float, str], None] | None = None) -> tuple[list[Expert], list[Message]]:
    """Zero-shot attribute experts for one photo (S = 1) or an album (S > 1).

    Args:
        backbone: a loaded :class:`~geolocate.image.backbone.Backbone`.
        image_embeddings: raw image embeddings (S, D) from the same backbone.
        suffix: appended to expert names (e.g. " [RANDOM backbone]").
        tasks: default :data:`TASKS`.
        progress: optional callable(fraction, message).

    Returns:
        (experts, messages): messages say which tasks were skipped and why (e.g. a missing layer).
    """
    emb = np.atleast_2d(image_embeddings)
    experts: list[Expert] = []
    messages: list[Message] = []
    tasks = TASKS if tasks is None else tasks
    for i, task in enumerate(tasks):
        if progress:
            progress(i / len(tasks), f"zero-shot {task.name}")
        try:
            layer = task.layer_fn()
        except (LayerError, FileNotFoundError) as err:
            messages.append(Message("warning", f"The {task.name} (zero-shot) expert is unavailable:", str(err)))
            continue
        probs = zero_shot_probs(emb, class_embeddings(backbone, task.prompts(layer)), backbone.logit_scale)
        prior = photo_class_prior(layer)
        name = f"{task.name} (zero-shot){suffix}"
        if len(probs) == 1:
            experts.append(AttributeExpert(layer, probs[0], prior, task.temperature, name=name, kind=ExpertKind.ATTRIBUTE))
        else:
            experts.append(AlbumAttributeExpert(layer, probs, prior, task.temperature, name=name))
    return experts, messages
