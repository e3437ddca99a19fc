"""GeoCLIP on the shared backbone, with cached gallery features and a refinable density on the H3 grid.

GeoCLIP scores a location x for a photo by ``s(x) = exp(t) * <f, g(x)>`` with ``f`` the normalised
image head output (768-d CLIP embedding -> 512) and ``g`` the normalised location-encoder output;
the reference ``GeoCLIP.predict`` softmaxes ``s`` over a 100K GPS gallery. We reuse the wheel's own
modules and weights (``geoclip.model.location_encoder.LocationEncoder``, the image MLP's state dict,
the logit scale, the gallery CSV) and differ only in what is cached:

* gallery features ``g(gallery)`` (100000 x 512) and base-grid centre features (41,162 x 512) do not
  depend on the photo; they are computed once and stored under ``geolocate.grid.cache_dir()``, keyed by
  the sha256 of the location-encoder weights and gallery files. A photo then costs one backbone pass
  and two matrix products instead of 100K location-encoder passes (~17 s on 2 CPU cores).

Density on the base grid (res 3), per photo:

    m_gal(c) = sum of softmax gallery probabilities of the gallery points in cell c
    m_enc(c) = softmax over cells of s(centre_c) + log area_c   (the encoder read at every cell centre)
    m(c)     = (1 - lambda) m_gal(c) + lambda m_enc(c),    lambda = ENCODER_MIX = 0.1
    log D(c) = log m(c) - log area_c                        (per km²)

The lambda part is the smoothing: cells without gallery points (most of them) get the model's own
score instead of zero, so nothing is -inf and a photo from an area the gallery misses is still found.

Refinement: a cell x finer than res 3 with res-3 parent p gets

    log D(x) = log D(p) + s(x) - log mean_{k in children_res4(p)} exp s(k),

i.e. the parent's mass is redistributed by the location encoder evaluated at the finer cell's centre,
normalised by its mean over p's seven res-4 child centres (which are the cells the ensemble evaluates
first when it refines p, so the normaliser is almost always free). This keeps each parent's mass and
makes the heatmap as sharp as the location encoder where the ensemble refines.

Album mode (several photos of one place) multiplies the photos' densities (sum of log densities).
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..distribution import logsumexp
from ..experts.base import Expert, ExpertKind
from ..grid import DEFAULT_RESOLUTION, CellSet, cache_dir, cells_to_parents, children, global_grid, points_to_cells, write_cache
from .weights import WeightsMissing, geoclip_weights_files

GEOCLIP_EMBED_DIM = 768
"""Size of the CLIP image embedding GeoCLIP's head takes (ViT-L/14 projection)."""

ENCODER_MIX = 0.1
"""Share of the base-grid mass given by the location encoder at cell centres (the smoothing)."""

_BATCH = 8192


TINY_RANDOM_HEAD = "tiny-random"
"""``GEOLOCATE_GEOCLIP`` value that swaps in :meth:`GeoCLIPHead.tiny_random` (generated test data, like
torchgeo's: a 2,000-point gallery and a small random location encoder; no 290 MB feature cache)."""


class _TinyLocationEncoder(nn.Module):
    """Random Fourier features of the unit vector, then one linear layer: a stand-in with GeoCLIP's interface."""

    freq: torch.Tensor

    def __init__(self, seed: int = 0, n_freq: int = 64, dim: int = 512):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("freq", torch.randn(3, n_freq, generator=g) * torch.tensor([1.0, 4.0, 16.0, 32.0]).repeat_interleave(n_freq // 4))
        self.proj = nn.Linear(2 * n_freq, dim)
        with torch.no_grad():
            self.proj.weight.copy_(torch.randn(dim, 2 * n_freq, generator=g) / (2 * n_freq) ** 0.5)
            self.proj.bias.zero_()

    def forward(self, latlon: torch.Tensor) -> torch.Tensor:
        lat, lon = torch.deg2rad(latlon[:, 0]), torch.deg2rad(latlon[:, 1])
        xyz = torch.stack([torch.cos(lat) * torch.cos(lon), torch.cos(lat) * torch.sin(lon), torch.sin(lat)], 1)
        z = xyz @ self.freq
        return self.proj(torch.cat([torch.sin(z), torch.cos(z)], 1))


def _load_weights(path, what: str = "GeoCLIP head and location encoder"):
    """``torch.load`` of a wheel file; a corrupt or unreadable file is :class:`WeightsMissing`, not a traceback."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - unpickling errors come in many types
        raise WeightsMissing(what, f"{path} is unreadable or corrupt ({type(err).__name__}: {err})", "pip install --force-reinstall geoclip==1.3.0") from None


class GeoCLIPHead:
    """The GeoCLIP parts downstream of CLIP, from the ``geoclip`` wheel (or generated, for tests).

    ``GEOLOCATE_GALLERY`` may name a CSV with LAT and LON columns to use instead of the wheel's 100K gallery
    (the feature caches are keyed by its content).

    Attributes:
        mlp: image head, 768 -> 512 (same layers as ``geoclip.ImageEncoder.mlp``).
        location_encoder: ``geoclip.LocationEncoder`` with the wheel's weights.
        logit_scale: exp of the learned logit scale (float).
        gallery: (100000, 2) float32 (lat, lon) in degrees, as ``geoclip`` loads it.
        key: hex digest of the location-encoder weights and gallery files (cache key).
        random: True for the generated test head (its output means nothing).
        disk_cache: whether gallery and grid features are cached on disk.
    """

    def __init__(self):
        from geoclip.model.location_encoder import LocationEncoder
        from geoclip.model.misc import load_gps_data

        files = geoclip_weights_files()
        gallery_file = Path(os.environ.get("GEOLOCATE_GALLERY") or files["gallery"])
        # geoclip.ImageEncoder would also build a random 430M-parameter HF CLIP; its head is just this MLP.
        self.mlp = nn.Sequential(nn.Linear(768, 768), nn.ReLU(), nn.Linear(768, 512))
        self.location_encoder = LocationEncoder(from_pretrained=False)
        try:
            self.mlp.load_state_dict(_load_weights(files["mlp"]))
            self.location_encoder.load_state_dict(_load_weights(files["location_encoder"]))
            self.logit_scale = float(_load_weights(files["logit_scale"]).exp())
        except (RuntimeError, KeyError, TypeError, AttributeError) as err:  # a state dict of the wrong shape
            if isinstance(err, WeightsMissing):
                raise
            raise WeightsMissing("GeoCLIP head and location encoder", f"the wheel's weight files do not fit GeoCLIP ({type(err).__name__})", "pip install --force-reinstall geoclip==1.3.0") from None
        self.mlp.eval(), self.location_encoder.eval()
        try:
            self.gallery = load_gps_data(str(gallery_file))
        except Exception as err:  # noqa: BLE001 - pandas/IO errors
            raise WeightsMissing("GeoCLIP gallery", f"{gallery_file} is not a CSV with LAT and LON columns ({type(err).__name__}: {err})", "unset GEOLOCATE_GALLERY, or pip install --force-reinstall geoclip==1.3.0") from None
        h = hashlib.sha256()
        for f in (files["location_encoder"], gallery_file):
            h.update(hashlib.sha256(f.read_bytes()).digest())
        self._setup(h.hexdigest()[:16], random=False, disk_cache=True)

    def _setup(self, key: str, random: bool, disk_cache: bool) -> None:
        self.key, self.random, self.disk_cache = key, random, disk_cache
        self._lock = threading.Lock()
        self._gallery_features: torch.Tensor | None = None
        self._grid_features: dict[int, torch.Tensor] = {}
        self._gallery_cells: dict[int, np.ndarray] = {}

    @classmethod
    def tiny_random(cls, n_gallery: int = 2000, seed: int = 0) -> GeoCLIPHead:
        """Build a random head for tests, with no weights files.

        It has a random image MLP, a :class:`_TinyLocationEncoder` and ``n_gallery`` points spread evenly
        over the sphere; its features take milliseconds and stay in memory (nothing on disk).

        Args:
            n_gallery: number of gallery points.
            seed: seed of the random weights.

        Returns:
            The head, marked random.
        """
        self = cls.__new__(cls)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.mlp = nn.Sequential(nn.Linear(768, 768), nn.ReLU(), nn.Linear(768, 512)).eval()
        self.location_encoder = _TinyLocationEncoder(seed).eval()
        self.logit_scale = 30.0
        i = np.arange(n_gallery) + 0.5  # a Fibonacci lattice: even cover, no randomness needed
        lat = np.degrees(np.arcsin(1 - 2 * i / n_gallery))
        lon = (np.degrees(np.pi * (1 + 5**0.5) * i) + 180.0) % 360.0 - 180.0
        self.gallery = torch.tensor(np.stack([lat, lon], 1), dtype=torch.float32)
        self._setup(f"tiny{seed}n{n_gallery}", random=True, disk_cache=False)
        return self

    @torch.no_grad()
    def image_features(self, embeddings: np.ndarray) -> torch.Tensor:
        """Normalised image features (S, 512) from raw CLIP embeddings (S, 768)."""
        e = torch.as_tensor(np.asarray(embeddings, dtype=np.float32))
        if e.ndim != 2 or e.shape[1] != GEOCLIP_EMBED_DIM:
            raise ValueError(f"GeoCLIP needs {GEOCLIP_EMBED_DIM}-d CLIP image embeddings, got shape {tuple(e.shape)}")
        return F.normalize(self.mlp(e), dim=1)

    @torch.no_grad()
    def location_features(self, latlon: np.ndarray | torch.Tensor, progress=None) -> torch.Tensor:
        """Normalised location features (n, 512) of (n, 2) (lat, lon) points in degrees."""
        x = torch.as_tensor(latlon, dtype=torch.float32)
        out = []
        for i in range(0, len(x), _BATCH):
            with self._lock:
                out.append(F.normalize(self.location_encoder(x[i : i + _BATCH]), dim=1))
            if progress:
                progress(min(1.0, (i + _BATCH) / len(x)), f"encoding locations {min(i + _BATCH, len(x)):,}/{len(x):,}")
        return torch.cat(out) if out else torch.zeros((0, 512))

    def _cached(self, name: str, points: np.ndarray | torch.Tensor, progress=None) -> torch.Tensor:
        if not self.disk_cache:
            return self.location_features(points, progress)
        path = cache_dir() / f"geoclip_{name}_{self.key}.npy"
        if path.exists():
            try:
                arr = np.load(path)
                if arr.shape == (len(points), 512):
                    return torch.from_numpy(arr)
            except (OSError, ValueError):
                pass  # a corrupt cache is recomputed, never trusted
        feats = self.location_features(points, progress)
        write_cache(path, lambda f: np.save(f, feats.numpy()))
        return feats

    def gallery_features(self, progress=None) -> torch.Tensor:
        """Location features of the 100K gallery (100000, 512), from the disk cache or computed once (~20 s)."""
        if self._gallery_features is None:
            self._gallery_features = self._cached("gallery100k", self.gallery, progress)
        return self._gallery_features

    def grid_features(self, res: int = DEFAULT_RESOLUTION, progress=None) -> torch.Tensor:
        """Location features of every cell centre of ``global_grid(res)``, cached like the gallery's."""
        if res not in self._grid_features:
            g = global_grid(res)
            self._grid_features[res] = self._cached(f"grid{res}", np.stack([g.lat, g.lon], 1), progress)
        return self._grid_features[res]

    def gallery_cells(self, res: int = DEFAULT_RESOLUTION) -> np.ndarray:
        """Index in ``global_grid(res)`` of each gallery point's cell, int64 (100000,)."""
        if res not in self._gallery_cells:
            g = self.gallery.numpy().astype(np.float64)
            self._gallery_cells[res] = global_grid(res).index_of(points_to_cells(g[:, 0], g[:, 1], res))
        return self._gallery_cells[res]

    @torch.no_grad()
    def gallery_log_probs(self, embeddings: np.ndarray) -> np.ndarray:
        """Log softmax over the gallery of the GeoCLIP logits, float64 (S, 100000)."""
        f = self.image_features(embeddings)
        logits = self.logit_scale * (f @ self.gallery_features().t())
        return torch.log_softmax(logits, dim=-1).double().numpy()


_HEADS: dict[str, GeoCLIPHead] = {}
_HEAD_LOCK = threading.Lock()


def load_geoclip_head(spec: str | None = None) -> GeoCLIPHead:
    """The process-wide :class:`GeoCLIPHead` (built once per spec, thread-safe).

    Args:
        spec: "wheel" (the geoclip wheel's weights) or :data:`TINY_RANDOM_HEAD`; default ``GEOLOCATE_GEOCLIP`` or "wheel".

    Raises:
        WeightsMissing: the geoclip wheel or one of its files is missing or corrupt.
        ValueError: an unknown spec.
    """
    spec = spec or os.environ.get("GEOLOCATE_GEOCLIP") or "wheel"
    if spec not in ("wheel", TINY_RANDOM_HEAD):
        raise ValueError(f"GEOLOCATE_GEOCLIP must be 'wheel' or {TINY_RANDOM_HEAD!r}, got {spec!r}")
    with _HEAD_LOCK:
        if spec not in _HEADS:
            _HEADS[spec] = GeoCLIPHead.tiny_random() if spec == TINY_RANDOM_HEAD else GeoCLIPHead()
        return _HEADS[spec]


class GeoCLIPExpert(Expert):
    """GeoCLIP's distribution for one photo, or the product over an album, on any H3 cells.

    Args:
        head: the loaded :class:`GeoCLIPHead`.
        embeddings: raw CLIP image embeddings, (S, 768) for S photos (S > 1: album product).
        name: label (say RANDOM when the backbone is random).
        encoder_mix: lambda of the module docstring.
        res: base grid resolution.
        features: instead of ``embeddings``, the head's normalised image features (S, 512) stored by
            ``python -m geolocate embed``.
    """

    kind = ExpertKind.IMAGE

    def __init__(self, head: GeoCLIPHead, embeddings: np.ndarray | None, name: str = "GeoCLIP", encoder_mix: float = ENCODER_MIX, res: int = DEFAULT_RESOLUTION, progress=None,
                 features: np.ndarray | None = None):
        if not 0 < encoder_mix < 1:
            raise ValueError("encoder_mix must be in (0, 1)")
        self.head, self.name, self.res, self.encoder_mix = head, name, res, encoder_mix
        if progress:
            progress(0.0, "GeoCLIP: gallery features")
        # Gallery first (70 % of the work when nothing is cached), then grid centres: progress never goes back.
        head.gallery_features(progress and (lambda f, m: progress(0.7 * f, m)))
        head.grid_features(res, progress and (lambda f, m: progress(0.7 + 0.3 * f, m)))
        if features is None:
            self._f = head.image_features(np.atleast_2d(np.asarray(embeddings, dtype=np.float32)))  # (S, 512)
        else:  # stored head outputs (geolocate.embed): the backbone pass was done elsewhere
            self._f = torch.as_tensor(np.atleast_2d(np.asarray(features, dtype=np.float32)))
        self.n_photos = len(self._f)
        with torch.no_grad():  # same arithmetic as GeoCLIPHead.gallery_log_probs, from the features
            logits = head.logit_scale * (self._f @ head.gallery_features().t())
            self.gallery_log_prob = torch.log_softmax(logits, dim=-1).double().numpy()  # (S, 100000)
        grid = global_grid(res)
        area = grid.area_km2
        cell_of = head.gallery_cells(res)
        p = np.exp(self.gallery_log_prob)
        m_gal = np.stack([np.bincount(cell_of, weights=row, minlength=len(grid)) for row in p])
        s_grid = self._scores(head.grid_features(res))  # (S, ncells)
        z = s_grid + np.log(area)[None, :]
        m_enc = np.exp(z - logsumexp(z, axis=1).reshape(-1, 1))
        m = (1.0 - encoder_mix) * m_gal + encoder_mix * m_enc
        self._base_log = np.log(m) - np.log(area)[None, :]  # (S, ncells), finite since m_enc > 0
        self._memo: dict[int, np.ndarray] = {}
        self._norm: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    def _scores(self, loc_features: torch.Tensor) -> np.ndarray:
        """GeoCLIP logits s(x) of every photo at given location features, float64 (S, n)."""
        with torch.no_grad():
            return (self.head.logit_scale * (self._f @ loc_features.t())).double().numpy()

    def _scores_at(self, cells: CellSet) -> np.ndarray:
        """s(centre) for each cell, memoised per cell, (S, n)."""
        ids = cells.cells.tolist()
        missing = [i for i, c in enumerate(ids) if c not in self._memo]
        if missing:
            sub = cells.subset(np.asarray(missing))
            s = self._scores(self.head.location_features(np.stack([sub.lat, sub.lon], 1)))
            for j, i in enumerate(missing):
                self._memo[ids[i]] = s[:, j]
        return np.stack([self._memo[c] for c in ids], axis=1) if ids else np.zeros((self.n_photos, 0))

    def _parent_norms(self, parents: np.ndarray) -> np.ndarray:
        """Log mean exp of s over the res+1 children of each base cell, (S, len(parents))."""
        todo = [int(p) for p in np.unique(parents).tolist() if int(p) not in self._norm]
        if todo:
            kids, owner = children(np.asarray(todo, dtype=np.uint64), self.res + 1)
            s = self._scores_at(kids)
            for j, p in enumerate(todo):
                sel = owner == j
                self._norm[p] = logsumexp(s[:, sel], axis=1).reshape(-1) - np.log(sel.sum())
        return np.stack([self._norm[int(p)] for p in parents.tolist()], axis=1)

    def log_density(self, cells: CellSet) -> np.ndarray:
        """Log density per km² at each cell, summed over the photos (album product), float64 (n,).

        Cells at the base resolution or coarser read the base grid (coarser ones at their centre); a finer
        cell takes its base parent's density times exp(s) at its centre over the mean of exp(s) at the
        parent's res+1 children.
        """
        grid = global_grid(self.res)
        res = cells.resolution
        out = np.empty((self.n_photos, len(cells)))
        coarse = res <= self.res
        if coarse.any():
            # Base cells read their own value; coarser cells (not used by the ensemble) read their centre's.
            idx = np.where(res[coarse] == self.res, grid.index_of(cells.cells[coarse]), grid.locate(cells.lat[coarse], cells.lon[coarse]))
            out[:, coarse] = self._base_log[:, idx]
        fine = ~coarse
        if fine.any():
            with self._lock:
                sub = cells.subset(fine)
                parents = cells_to_parents(sub.cells, self.res)
                s = self._scores_at(sub)
                out[:, fine] = self._base_log[:, grid.index_of(parents)] + s - self._parent_norms(parents)
        return out.sum(axis=0)

    def top_gallery(self, k: int = 5, photo: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """The k most probable gallery points of one photo: ((k, 2) lat/lon degrees, (k,) probabilities)."""
        lp = self.gallery_log_prob[photo]
        idx = np.argsort(-lp, kind="stable")[:k]
        return self.head.gallery.numpy()[idx].astype(np.float64), np.exp(lp[idx])

    def describe(self) -> str:
        """One line naming the top gallery point of the first photo and its probability."""
        (lat, lon), p = self.top_gallery(1)[0][0], self.top_gallery(1)[1][0]
        album = f", album of {self.n_photos} photos" if self.n_photos > 1 else ""
        return f"{self.kind}: {self.name} (top gallery point {lat:.3f}, {lon:.3f} at {p:.1%}{album})"
