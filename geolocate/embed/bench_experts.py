"""Stored ``embed`` results as benchmark experts: one batch expert per image expert, rows = ground-truth rows.

``python -m geolocate bench --truth gt.csv --embeddings DIR`` passes these to
:func:`geolocate.bench.run_benchmark` (``extra_experts``), so GeoCLIP and the zero-shot attribute
experts get the same split, fitting, converged RvA and clustered intervals as prediction files and priors.

* :class:`GeoCLIPPredictions` is :class:`~geolocate.image.geoclip_expert.GeoCLIPExpert` for N records:
  the same base-grid density and the same refinement (parent's mass redistributed by the location
  encoder at the finer cell's centre), evaluated for any subset of records at once.
* zero-shot tasks become :class:`~geolocate.experts.attribute.AttributePredictions` with the stored
  class probabilities and the class prior the in-process expert uses.

Records without a stored result (absent id, or a bad photo) get the uniform density, and are counted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..distribution import logsumexp
from ..experts.base import Expert, ExpertKind
from ..grid import CellSet, cells_to_parents, children, global_grid


class GeoCLIPPredictions(Expert):
    """GeoCLIP's density for N records from their stored head features.

    Args:
        name: label.
        head: the loaded :class:`~geolocate.image.geoclip_expert.GeoCLIPHead`.
        features: (N, 512) normalised image features; rows with NaN have none (uniform density).
        res: base grid resolution.
        encoder_mix: lambda of geoclip_expert's docstring.
        source: where the features came from.
    """

    kind = ExpertKind.IMAGE

    def __init__(self, name: str, head, features: np.ndarray, res: int, encoder_mix: float, source: str = ""):
        feats = np.asarray(features, dtype=np.float32)
        self.name, self.head, self.res, self.encoder_mix, self.source = name, head, int(res), float(encoder_mix), source
        self.present = np.asarray(np.isfinite(feats).all(axis=1), dtype=bool)
        self._f = torch.as_tensor(np.where(self.present[:, None], feats, 0.0).astype(np.float32))
        self.records: int = len(feats)
        self._base: np.ndarray | None = None  # (N, cells) float32, filled on demand
        self._done = np.zeros(len(feats), bool)

    def _base_rows(self, rows: np.ndarray) -> np.ndarray:
        """Base-grid log densities per km² of ``rows``, (len(rows), cells), computed once per record."""
        grid = global_grid(self.res)
        if self._base is None:
            self._base = np.zeros((self.records, len(grid)), np.float32)
        todo = np.unique(rows[~self._done[rows]])
        area = grid.area_km2
        cell_of = torch.as_tensor(self.head.gallery_cells(self.res))
        gal, loc = self.head.gallery_features(), self.head.grid_features(self.res)
        for lo in range(0, len(todo), 128):
            r = todo[lo : lo + 128]
            f = self._f[r]
            with torch.no_grad():
                p = torch.log_softmax(self.head.logit_scale * (f @ gal.t()), dim=-1).double().exp()
                m_gal = torch.zeros((len(r), len(grid)), dtype=torch.float64).index_add_(1, cell_of, p).numpy()
                z = (self.head.logit_scale * (f @ loc.t())).double().numpy() + np.log(area)[None, :]
            m_enc = np.exp(z - logsumexp(z, axis=1).reshape(-1, 1))
            self._base[r] = np.log((1.0 - self.encoder_mix) * m_gal + self.encoder_mix * m_enc) - np.log(area)[None, :]
            self._done[r] = True
        return self._base[rows].astype(np.float64)

    def _scores(self, rows: np.ndarray, cells: CellSet) -> np.ndarray:
        """GeoCLIP logits s(centre) of ``rows`` at ``cells``, float64 (len(rows), n)."""
        loc = self.head.location_features(np.stack([cells.lat, cells.lon], 1))
        with torch.no_grad():
            return (self.head.logit_scale * (self._f[rows] @ loc.t())).double().numpy()

    def batch_log_density(self, cells: CellSet, rows: np.ndarray) -> np.ndarray:
        """Log densities per km² for records ``rows``, (len(rows), n); 0 (uniform) for records without features."""
        rows = np.asarray(rows, dtype=np.int64)
        grid = global_grid(self.res)
        res = cells.resolution
        out = np.zeros((len(rows), len(cells)))
        base = self._base_rows(rows)
        coarse = res <= self.res
        if coarse.any():
            idx = np.where(res[coarse] == self.res, grid.index_of(cells.cells[coarse]), grid.locate(cells.lat[coarse], cells.lon[coarse]))
            out[:, coarse] = base[:, idx]
        fine = ~coarse
        if fine.any():
            sub = cells.subset(np.flatnonzero(fine))
            parents = cells_to_parents(sub.cells, self.res)
            uniq, inv = np.unique(parents, return_inverse=True)
            kids, owner = children(uniq, self.res + 1)
            s_kids = self._scores(rows, kids)
            counts = np.bincount(owner, minlength=len(uniq))
            starts = np.r_[0, np.cumsum(counts)[:-1]]  # children come grouped by parent (owner is sorted)
            # log mean exp of s over each parent's children, all parents at once
            mx = np.maximum.reduceat(s_kids, starts, axis=1)
            norm = mx + np.log(np.add.reduceat(np.exp(s_kids - mx[:, owner]), starts, axis=1)) - np.log(counts)[None, :]
            out[:, fine] = base[:, grid.index_of(parents)] + self._scores(rows, sub) - norm[:, inv]
        out[~self.present[rows]] = 0.0
        return out

    def log_density(self, cells: CellSet) -> np.ndarray:
        """The one record's density; several records need :meth:`batch_log_density`."""
        if self.records != 1:
            raise TypeError(f"{self.name} holds {self.records} records: use batch_log_density(cells, rows)")
        return self.batch_log_density(cells, np.array([0]))[0]


def bench_experts(out: str | Path, ids: list[str]) -> tuple[list[Expert], list[str]]:
    """Batch experts for benchmark records ``ids`` (in ground-truth order) from an ``embed`` output folder.

    Returns:
        (experts, report lines): one line says how many records have no stored result.
    """
    from ..experts.attribute import AttributePredictions
    from .load import _builders, load_rows

    try:
        rows = load_rows(Path(out))
    except FileNotFoundError as err:
        raise ValueError(str(err)) from None
    pos = {v: i for i, v in enumerate(rows.ids)}
    take = np.array([pos.get(i, -1) for i in ids], dtype=np.int64)
    have = take >= 0
    have[have] &= rows.ok[take[have]]
    missing = int((~have).sum())
    reports = [f"{Path(out).name}: {len(ids) - missing} of {len(ids)} images have stored results"
               + (f"; {missing} have none (absent or bad photo: uniform for those)" if missing else "")]
    head, gname, tasks = _builders(rows.manifest)
    res = int(rows.manifest["models"]["res"])

    def aligned(values: np.ndarray) -> np.ndarray:
        outv = np.full((len(ids), values.shape[1]), np.nan)
        outv[have] = values[take[have]]
        return outv

    experts: list[Expert] = []
    if head is not None and rows.geoclip_features is not None:
        experts.append(GeoCLIPPredictions(gname, head, aligned(rows.geoclip_features), res, float(rows.manifest["models"]["encoder_mix"]), source=str(out)))
    for _task, col, layer, prior, name in tasks:
        experts.append(AttributePredictions(name, layer, aligned(rows.probs[col]), prior, source=str(out)))
    return experts, reports
