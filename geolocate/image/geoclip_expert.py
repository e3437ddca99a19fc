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

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..distribution import logsumexp
from ..experts.base import Expert
from ..grid import DEFAULT_RESOLUTION, CellSet, cache_dir, cells_to_parents, children, global_grid, points_to_cells
from .weights import geoclip_weights_files

GEOCLIP_EMBED_DIM = 768
"""Size of the CLIP image embedding GeoCLIP's head takes (ViT-L/14 projection)."""

ENCODER_MIX = 0.1
"""Share of the base-grid mass given by the location encoder at cell centres (the smoothing)."""

_BATCH = 8192


class GeoCLIPHead:
    """The GeoCLIP parts downstream of CLIP, from the ``geoclip`` wheel.

    Attributes:
        mlp: image head, 768 -> 512 (same layers as ``geoclip.ImageEncoder.mlp``).
        location_encoder: ``geoclip.LocationEncoder`` with the wheel's weights.
        logit_scale: exp of the learned logit scale (float).
        gallery: (100000, 2) float32 (lat, lon) in degrees, as ``geoclip`` loads it.
        key: hex digest of the location-encoder weights and gallery files (cache key).
    """

    def __init__(self):
        from geoclip.model.location_encoder import LocationEncoder
        from geoclip.model.misc import load_gps_data

        files = geoclip_weights_files()
        # geoclip.ImageEncoder would also build a random 430M-parameter HF CLIP; its head is just this MLP.
        self.mlp = nn.Sequential(nn.Linear(768, 768), nn.ReLU(), nn.Linear(768, 512))
        self.mlp.load_state_dict(torch.load(files["mlp"], map_location="cpu", weights_only=True))
        self.location_encoder = LocationEncoder(from_pretrained=False)
        self.location_encoder.load_state_dict(torch.load(files["location_encoder"], map_location="cpu", weights_only=True))
        self.mlp.eval(), self.location_encoder.eval()
        self.logit_scale = float(torch.load(files["logit_scale"], map_location="cpu", weights_only=True).exp())
        self.gallery = load_gps_data(str(files["gallery"]))
        h = hashlib.sha256()
        for name in ("location_encoder", "gallery"):
            h.update(hashlib.sha256(files[name].read_bytes()).digest())
        self.key = h.hexdigest()[:16]
        self._lock = threading.Lock()
        self._gallery_features: torch.Tensor | None = None
        self._grid_features: dict[int, torch.Tensor] = {}
        self._gallery_cells: dict[int, np.ndarray] = {}

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
        path = cache_dir() / f"geoclip_{name}_{self.key}.npy"
        if path.exists():
            try:
                arr = np.load(path)
                if arr.shape == (len(points), 512):
                    return torch.from_numpy(arr)
            except (OSError, ValueError):
                pass  # a corrupt cache is recomputed, never trusted
        feats = self.location_features(points, progress)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npy")
        np.save(tmp, feats.numpy())
        os.replace(tmp, path)
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
        """log softmax over the gallery of the GeoCLIP logits, float64 (S, 100000)."""
        f = self.image_features(embeddings)
        logits = self.logit_scale * (f @ self.gallery_features().t())
        return torch.log_softmax(logits, dim=-1).double().numpy()


_HEAD: GeoCLIPHead | None = None
_HEAD_LOCK = threading.Lock()


def load_geoclip_head() -> GeoCLIPHead:
    """The process-wide :class:`GeoCLIPHead` (built once, thread-safe)."""
    global _HEAD
    with _HEAD_LOCK:
        if _HEAD is None:
            _HEAD = GeoCLIPHead()
        return _HEAD


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

    kind = "image"

    def __init__(self, head: GeoCLIPHead, embeddings: np.ndarray | None, name: str = "GeoCLIP", encoder_mix: float = ENCODER_MIX, res: int = DEFAULT_RESOLUTION, progress=None,
                 features: np.ndarray | None = None):
        if not 0 < encoder_mix < 1:
            raise ValueError("encoder_mix must be in (0, 1)")
        self.head, self.name, self.res, self.encoder_mix = head, name, res, encoder_mix
        if progress:
            progress(0.0, "GeoCLIP: gallery features")
        head.gallery_features(progress)
        head.grid_features(res, progress)
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
        """log mean exp of s over the res+1 children of each base cell, (S, len(parents))."""
        todo = [int(p) for p in np.unique(parents).tolist() if int(p) not in self._norm]
        if todo:
            kids, owner = children(np.asarray(todo, dtype=np.uint64), self.res + 1)
            s = self._scores_at(kids)
            for j, p in enumerate(todo):
                sel = owner == j
                self._norm[p] = logsumexp(s[:, sel], axis=1).reshape(-1) - np.log(sel.sum())
        return np.stack([self._norm[int(p)] for p in parents.tolist()], axis=1)

    def log_density(self, cells: CellSet) -> np.ndarray:
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
        (lat, lon), p = self.top_gallery(1)[0][0], self.top_gallery(1)[1][0]
        album = f", album of {self.n_photos} photos" if self.n_photos > 1 else ""
        return f"{self.kind}: {self.name} (top gallery point {lat:.3f}, {lon:.3f} at {p:.1%}{album})"
