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

When the folder holds the post-pass stages (:mod:`geolocate.embed.stages`):

* ``text.parquet`` becomes :class:`TextPredictions` ("text"): per record the product of that photo's
  text clue experts (:func:`geolocate.text.experts.clue_experts` of the stored clues, not read again);
  photos without text, or without a clue, are uniform;
* ``vlm.parquet`` becomes the model's :class:`~geolocate.experts.vlm.SampledPointPredictions`
  (:func:`~geolocate.experts.vlm.answers_batch_expert` of the stored candidates), named as in the app.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..distribution import logsumexp
from ..experts.base import BatchExpert, Expert, ExpertKind
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


class TextPredictions(BatchExpert):
    """The text clues of N records: per record the product of its clue-type experts (proper densities).

    Args:
        name: label.
        experts: per record its text experts (from :func:`geolocate.text.experts.clue_experts`), or an empty list (uniform).
        source: where the clues came from.
    """

    kind = ExpertKind.TEXT

    def __init__(self, name: str, experts: list[list[Expert]], source: str = ""):
        self.name, self.source = name, source
        self._experts = [list(e) for e in experts]
        self.records = len(self._experts)
        self.present = np.array([bool(e) for e in self._experts], dtype=bool)
        places = [[(p.lat, p.lon) for e in es for c in getattr(e, "clues", ()) for p in c.places] for es in self._experts]
        width = max((len(p) for p in places), default=0) or 1
        self._modes = np.full((self.records, width, 2), np.nan)
        for r, p in enumerate(places):
            if p:
                self._modes[r, : len(p)] = np.asarray(p, dtype=np.float64)

    def record_log_density(self, cells: CellSet, rows: np.ndarray) -> np.ndarray:
        """Sum of the record's experts' log densities, (len(rows), n); 0 for records without clues."""
        out = np.zeros((len(rows), len(cells)))
        for j, r in enumerate(np.asarray(rows, dtype=np.int64)):
            for e in self._experts[r]:
                out[j] += np.asarray(e.log_density(cells), dtype=np.float64)
        return out

    def record_log_density_bounds(self, cells: CellSet, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sums of the experts' bounds (a product's log is the sum), (len(rows), n) each."""
        lo, hi = np.zeros((len(rows), len(cells))), np.zeros((len(rows), len(cells)))
        for j, r in enumerate(np.asarray(rows, dtype=np.int64)):
            for e in self._experts[r]:
                a, b = e.log_density_bounds(cells)
                lo[j] += np.asarray(a, dtype=np.float64)
                hi[j] += np.asarray(b, dtype=np.float64)
        return lo, hi

    def mode_candidates(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The places the clues name, (len(rows), P, 2) lat/lon degrees; NaN where none."""
        rows = np.arange(self.records) if rows is None else np.asarray(rows)
        return self._modes[rows]

    def describe(self) -> str:
        """One line."""
        return f"{self.kind}: {self.name} ({int(self.present.sum())} of {self.records} records with text clues)"


def stage_experts(out: str | Path, ids: list[str]) -> tuple[list[Expert], list[str]]:
    """Batch experts of the text and model stages of an output folder, records in ``ids`` order (none when absent).

    Returns:
        (experts, report lines).
    """
    from ..experts.vlm import answers_batch_expert, answers_frame, expert_name
    from ..text.experts import clue_experts
    from .stages import clues_of, read_stage, stage_meta

    experts: list[Expert] = []
    reports: list[str] = []
    text = read_stage(out, "text")
    if text is not None:
        by_id = {r["id"]: r for r in text.to_pylist() if r["ok"]}
        per: list[list[Expert]] = []
        for i in ids:
            clues = clues_of(by_id[i]) if i in by_id else []
            per.append(clue_experts(clues) if clues else [])
        n_clues = sum(1 for p in per if p)
        n_read = sum(1 for i in ids if i in by_id)
        reports.append(f"text: {n_clues} of {len(ids)} images have text clues ({n_read} read; uniform for the others)")
        experts.append(TextPredictions("text", per, source=str(Path(out) / "text.parquet")))
    vlm = read_stage(out, "vlm")
    if vlm is not None:
        meta = stage_meta(vlm)
        records = [r for r in vlm.to_pylist() if r["ok"]]
        expert, lines = answers_batch_expert(answers_frame(records), ids, name=expert_name(str(meta.get("model", "vlm"))), source=str(Path(out) / "vlm.parquet"))
        experts.append(expert)
        reports += lines
    return experts, reports


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
    more, lines = stage_experts(out, ids)
    return experts + more, reports + lines
