"""Benchmarks: experts and ensembles evaluated on a ground-truth set with GCD accuracy and Recall vs Area.

Pipeline (``run_benchmark``):
    1. Read the ground truth and every expert file (point predictions, attribute probabilities), joined on
       image id. An image missing from an expert's file gets that expert's uniform density (counted and
       reported, never dropped).
    2. Split the images into a *fit* half and an *eval* half, by a hash of the photographer (``AUTHOR``
       column when present, else the image id) so that one photographer's photos of one place never sit
       on both sides.
    3. Fit on the fit half: each point expert's kernel scale mixture (EM on its errors), and, with
       ``fit=True``, the ensemble weights, by coordinate ascent on the RvA AUC at the base resolution.
    4. Evaluate on the eval half: for every expert alone and for the ensemble, the area to truth of each
       image on the base grid, refined (cells at least as dense as the truth's cell are split down to
       ``refine_to`` and every expert re-evaluated at the children) when that area is below
       ``refine_below_km2``; GCD accuracy of the densest refined cell (and of the raw prediction for point
       experts); RvA summaries with bootstrap intervals.

All experts are held as per-image log densities on the base grid (float32, experts x images x cells),
so a new weight vector costs one weighted sum and one comparison pass (benchmarks/bench_rva.py).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from . import metrics
from .data import (
    BenchmarkSpec,
    read_attribute_probs,
    read_ground_truth,
    read_point_predictions,
)
from .distribution import area_to_truth
from .ensemble import DEFAULT_FLOOR, floored, normalise_on_grid
from .experts.attribute import attribute_log_likelihood
from .experts.point import (
    DEFAULT_SCALES_KM,
    fit_scale_mixture,
    haversine_km,
    kernel_log_density,
)
from .experts.priors import PhotoDensityPrior, PopulationPrior, UniformLandPrior
from .grid import DEFAULT_RESOLUTION, CellSet, children, global_grid, latlon_to_xyz

Progress = Callable[[float, str], None]

PRIORS = {"uniform land": UniformLandPrior, "population": PopulationPrior, "photo density": PhotoDensityPrior}

FIT_GRID = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0)
"""Candidate values per weight in coordinate ascent."""


def _null_progress(fraction: float, message: str) -> None:
    pass


@dataclass
class BenchExpert:
    """One expert of a benchmark, with what it needs to evaluate any image at any cells.

    kind "prior": ``shared`` is the expert (same density for every image).
    kind "point": ``centres`` (S, 3) unit vectors, ``present`` (S,) bool, ``scales``/``mix`` the kernel mixture.
    kind "attribute": ``probs`` (S, K), ``present``, ``layer``, ``class_prior``.
    """

    name: str
    kind: str
    source: str = ""
    shared: object = None
    centres: np.ndarray | None = None
    pred_latlon: np.ndarray | None = None
    present: np.ndarray | None = None
    scales: np.ndarray | None = None
    mix: np.ndarray | None = None
    probs: np.ndarray | None = None
    layer: object = None
    class_prior: np.ndarray | None = None

    def raw(self, cells: CellSet, rows: np.ndarray) -> np.ndarray:
        """Unnormalised log density for images ``rows`` at ``cells``: (len(rows), n) float64 (priors: (1, n))."""
        if self.kind == "prior":
            return self.shared.log_density(cells)[None, :]
        if self.kind == "point":
            out = kernel_log_density(cells.xyz, cells.area_km2, self.centres[rows], self.scales, self.mix)
        else:
            out = attribute_log_likelihood(self.layer.values_at(cells), self.probs[rows], self.class_prior)
        out[~self.present[rows]] = 0.0  # missing prediction: uniform
        return out


@dataclass
class BenchData:
    """Ground truth and experts for one benchmark, before splitting."""

    name: str
    truth: pd.DataFrame
    experts: list[BenchExpert]
    reports: list[str] = field(default_factory=list)
    groups: np.ndarray | None = None


def load_benchmark(
    spec: BenchmarkSpec,
    priors: list[str] | None = None,
    on_error: str = "raise",
    max_samples: int | None = None,
) -> BenchData:
    """Read a benchmark's ground truth and expert files (see module docstring).

    Args:
        spec: files of the benchmark.
        priors: names from :data:`PRIORS` (default all three).
        on_error: "raise" or "skip" bad rows (skips are reported).
        max_samples: keep only the first N ground-truth images (for quick looks).
    """
    truth, rep = read_ground_truth(spec.ground_truth, on_error=on_error)
    reports = [str(rep)]
    if max_samples:
        truth = truth.iloc[:max_samples].reset_index(drop=True)
    groups = None
    header = pd.read_csv(spec.ground_truth, nrows=0).columns
    author = next((c for c in header if c.lower() == "author"), None)
    if author:
        a = pd.read_csv(spec.ground_truth, usecols=[author], dtype=str)[author].fillna("")
        a.index = np.arange(len(a)) + 2  # file line numbers, as in truth["line"]
        groups = a.reindex(truth["line"].to_numpy()).fillna("").to_numpy()
    ids = truth["id"].to_numpy()
    experts: list[BenchExpert] = []
    for name in priors if priors is not None else list(PRIORS):
        if name not in PRIORS:
            raise ValueError(f"unknown prior {name!r}; choose from {list(PRIORS)}")
        experts.append(BenchExpert(name, "prior", source="prior", shared=PRIORS[name]()))
    for path in spec.predictions:
        pred, _footer, rep = read_point_predictions(path, on_error=on_error)
        reports.append(str(rep))
        joined = pd.DataFrame({"id": ids}).merge(pred, on="id", how="left")
        present = joined["lat"].notna().to_numpy()
        if (~present).any():
            reports.append(f"{Path(path).name}: {int((~present).sum())} of {len(ids)} images have no prediction (uniform for those)")
        lat = joined["lat"].fillna(0.0).to_numpy()
        lon = joined["lon"].fillna(0.0).to_numpy()
        experts.append(BenchExpert(Path(path).stem, "point", source=str(path), centres=latlon_to_xyz(lat, lon), pred_latlon=np.stack([lat, lon], 1), present=present))
    for path in spec.attributes:
        probs, names, rep = read_attribute_probs(path, on_error=on_error)
        reports.append(str(rep))
        from .layers import ASSETS, SCENE_CLASSES, scene_layer

        if sorted(names) != sorted(SCENE_CLASSES):
            reports.append(f"{Path(path).name}: classes {names} match no layer (expected {SCENE_CLASSES}); skipped")
            continue
        joined = pd.DataFrame({"id": ids}).merge(probs, on="id", how="left")
        present = joined[SCENE_CLASSES[0]].notna().to_numpy()
        if (~present).any():
            reports.append(f"{Path(path).name}: {int((~present).sum())} of {len(ids)} images have no probabilities (uniform for those)")
        prior = np.asarray(json.loads((ASSETS / "scene_rates.json").read_text())["class_prior"])
        experts.append(
            BenchExpert(
                f"scene ({Path(path).stem})", "attribute", source=str(path),
                probs=joined[SCENE_CLASSES].fillna(1 / 3).to_numpy(), present=present, layer=scene_layer(), class_prior=prior,
            )
        )
    return BenchData(spec.name, truth, experts, reports, groups)


def split_halves(keys: np.ndarray) -> np.ndarray:
    """True for the *fit* half: the first bit of sha1(key) — stable across file orderings and runs."""
    return np.array([hashlib.sha1(str(k).encode()).digest()[0] < 128 for k in keys])


@dataclass
class FieldStack:
    """Floored, normalised per-image log densities of every expert on the base grid.

    Attributes:
        grid: the base grid (n cells).
        rows: images (positions in the benchmark's truth table) covered, (S,).
        per_image: (E_img, S, n) float32 for point and attribute experts.
        shared: (E_prior, n) float64 for priors.
        log_norm: (E, S) normalisers (priors repeated), to evaluate refinement children on the same scale.
        order: expert positions: the stack's expert order is priors then per-image experts.
        truth_cell: (S,) base-grid position of each image's true location.
    """

    grid: object
    rows: np.ndarray
    per_image: np.ndarray
    shared: np.ndarray
    log_norm: np.ndarray
    experts: list[BenchExpert]
    truth_cell: np.ndarray
    truth_latlon: np.ndarray
    floor: float


def build_fields(data: BenchData, rows: np.ndarray, res: int = DEFAULT_RESOLUTION, floor: float = DEFAULT_FLOOR, progress: Progress = _null_progress, chunk: int = 128) -> FieldStack:
    """Evaluate every expert for images ``rows`` on the base grid (the expensive, weight-free step)."""
    grid = global_grid(res)
    priors = [e for e in data.experts if e.kind == "prior"]
    per = [e for e in data.experts if e.kind != "prior"]
    shared = np.zeros((len(priors), len(grid)))
    norm = np.zeros((len(priors) + len(per), len(rows)))
    for i, e in enumerate(priors):
        shared[i], z = normalise_on_grid(e.raw(grid, rows[:1])[0], grid.area_km2, floor)
        norm[i] = z
    stack = np.empty((len(per), len(rows), len(grid)), dtype=np.float32)
    steps = max(1, len(per) * ((len(rows) + chunk - 1) // chunk))
    done = 0
    for j, e in enumerate(per):
        for a in range(0, len(rows), chunk):
            r = rows[a : a + chunk]
            stack[j, a : a + len(r)], norm[len(priors) + j, a : a + len(r)] = normalise_on_grid(e.raw(grid, r), grid.area_km2, floor)
            done += 1
            progress(done / steps, f"expert fields: {e.name}")
    lat, lon = data.truth["lat"].to_numpy()[rows], data.truth["lon"].to_numpy()[rows]
    return FieldStack(grid, rows, stack, shared, norm, priors + per, grid.locate(lat, lon), np.stack([lat, lon], 1), floor)


def base_areas(fs: FieldStack, weights: np.ndarray, chunk: int = 256, want_mode: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Area to truth (km², ties half) on the base grid for every image, and each image's densest cell.

    Args:
        fs: the field stack.
        weights: (E,) in the stack's expert order (priors first).
        want_mode: also return each image's densest base cell (skipped while fitting).

    Returns:
        (areas (S,), mode_cell (S,) base-grid positions or None).
    """
    w = np.asarray(weights, dtype=np.float64)
    n_prior = len(fs.shared)
    prior_sum = (w[:n_prior] @ fs.shared).astype(np.float32) if n_prior else np.zeros(len(fs.grid), np.float32)
    w_img = w[n_prior:].astype(np.float32)
    half_area = (fs.grid.area_km2 / 2).astype(np.float32)
    S = len(fs.rows)
    out = np.empty(S)
    mode = np.empty(S, dtype=np.int64) if want_mode else None
    active = np.flatnonzero(w_img > 0)
    for a in range(0, S, chunk):
        b = min(S, a + chunk)
        if len(active):
            L = np.tensordot(w_img[active], fs.per_image[active, a:b], axes=1)
            L += prior_sum[None, :]
        else:
            L = np.broadcast_to(prior_sum, (b - a, len(prior_sum))).copy()
        t = L[np.arange(b - a), fs.truth_cell[a:b]][:, None]
        # sign(L - t) + 1 is 2 for denser cells and 1 for ties (the truth's own cell included), so one
        # matrix-vector product gives "denser + half of the ties"; the own cell's other half is added after.
        np.subtract(L, t, out=L)
        if want_mode:
            mode[a:b] = np.argmax(L, axis=1)
        np.sign(L, out=L)
        L += 1.0
        out[a:b] = L @ half_area + half_area[fs.truth_cell[a:b]]
    return out, mode


def _pooled_at(fs: FieldStack, k: int, cells: CellSet, weights: np.ndarray) -> np.ndarray:
    """Pooled log density (unnormalised, as in :func:`base_areas`) of image k of the stack at any cells."""
    row = fs.rows[k : k + 1]
    out = np.zeros(len(cells))
    for i in np.flatnonzero(weights > 0):
        e = fs.experts[i]
        out += weights[i] * floored(e.raw(cells, row)[0] - fs.log_norm[i, k], fs.floor)
    return out


def refined_areas(
    fs: FieldStack, weights: np.ndarray, base: np.ndarray, refine_to: int, refine_below_km2: float, progress: Progress = _null_progress
) -> tuple[np.ndarray, np.ndarray]:
    """Refine the area to truth of images whose base area is at most ``refine_below_km2`` km², and find
    every image's mode (densest cell) at ``refine_to``.

    For such an image, the base cells at least as dense as the truth's cell (and the truth's cell) are
    split into their children at ``refine_to`` and every expert is re-evaluated there; cells below the
    truth's cell stay whole (an approximation: their children are assumed no denser than the truth).

    Returns:
        (areas (S,) km², modes (S, 2) lat/lon in degrees).
    """
    from .grid import cells_to_parents, points_to_cells

    w = np.asarray(weights, dtype=np.float64)
    n_prior = len(fs.shared)
    prior_sum = w[:n_prior] @ fs.shared if n_prior else np.zeros(len(fs.grid))
    grid, area = fs.grid, fs.grid.area_km2
    S = len(fs.rows)
    areas, modes = base.copy(), np.empty((S, 2))
    truth_fine = points_to_cells(fs.truth_latlon[:, 0], fs.truth_latlon[:, 1], refine_to)
    # The base cell to refine is the fine cell's H3 ancestor, which is not always the base cell that
    # contains the point geometrically (children do not tile their parent exactly).
    truth_base = grid.index_of(cells_to_parents(truth_fine, grid.res))
    for k in range(S):
        L = prior_sum + w[n_prior:] @ fs.per_image[:, k].astype(np.float64)
        ti = truth_base[k]
        refine_truth = base[k] <= refine_below_km2
        cand = np.argpartition(-L, 3)[:3]  # the mode lies in one of the densest base cells
        if refine_truth:
            cand = np.union1d(cand, np.flatnonzero(L >= L[ti]))
        kids, _ = children(grid.cells[cand], refine_to)
        Lk = _pooled_at(fs, k, kids, w)
        best = int(np.argmax(Lk))
        modes[k] = kids.lat[best], kids.lon[best]
        hit = np.flatnonzero(kids.cells == truth_fine[k]) if refine_truth else ()
        if len(hit):
            # The mixed support: the unrefined base cells, then the children (truth among them).
            whole = np.ones(len(grid), bool)
            whole[cand] = False
            dens = np.concatenate([L[whole], Lk])
            cell_area = np.concatenate([area[whole], kids.area_km2])
            areas[k] = area_to_truth(dens, cell_area, int(whole.sum()) + int(hit[0]))
        if k % 64 == 0:
            progress(k / S, "refining top cells")
    progress(1.0, "refining top cells")
    return areas, modes


def fit_weights(fs: FieldStack, progress: Progress = _null_progress, candidates=FIT_GRID, sweeps: int = 2) -> np.ndarray:
    """Ensemble weights maximising the base-grid RvA AUC on the images of ``fs`` (coordinate ascent:
    each weight in turn takes the best of ``candidates``, ``sweeps`` times, starting from all ones)."""
    w = np.ones(len(fs.experts))
    best = metrics.rva_auc(base_areas(fs, w, want_mode=False)[0])
    steps, done = sweeps * len(w) * len(candidates), 0
    for _ in range(sweeps):
        for i in range(len(w)):
            for c in candidates:
                done += 1
                if c == w[i]:
                    continue
                trial = w.copy()
                trial[i] = c
                if not trial.any():
                    continue
                score = metrics.rva_auc(base_areas(fs, trial, want_mode=False)[0])
                if score > best + 1e-9:
                    best, w = score, trial
                progress(done / steps, f"fitting weights: AUC {best:.4f}")
    return w


@dataclass
class BenchResult:
    """Everything a benchmark run reports.

    Attributes:
        report: the JSON document (schema in docs/benchmark.md).
        summary: one row per expert and the ensemble: auc (+ _lo/_hi), recall@1e+02..1e+06, area@0.25/0.5/0.75
            (km², + _lo/_hi), acc@1km..acc@2500km of the mode (and pred_acc@... of raw predictions).
        curves: long table expert, area_km2, recall.
        weights: the ensemble weights by expert name.
    """

    name: str
    expert_names: list[str]
    weights: dict[str, float]
    summary: pd.DataFrame
    curves: pd.DataFrame
    report: dict
    areas: dict[str, np.ndarray]

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.report, indent=2))

    def table(self) -> str:
        """The summary as a fixed-width text table."""
        cols = ["expert", "auc", "auc_lo", "auc_hi", "area@0.5", "area@0.5_lo", "area@0.5_hi"]
        cols += [c for c in self.summary.columns if c.startswith("recall@")] + [c for c in self.summary.columns if c.startswith("acc@")]
        fmt = {c: (lambda v: f"{v:.3g}") for c in cols if c.startswith("area")}
        return self.summary[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}", formatters=fmt)


def _entry(areas: np.ndarray, distances: np.ndarray, pred_distances: np.ndarray | None, kind: str, n_boot: int) -> dict:
    out = {"kind": kind, "rva": metrics.rva_summary(areas, n_boot=n_boot)}
    g = metrics.gcd_summary(distances, n_boot=n_boot)
    out["gcd_accuracy"], out["median_error_km"] = g["accuracy"], g["median_km"]
    if pred_distances is not None:
        p = metrics.gcd_summary(pred_distances, n_boot=n_boot)
        out["prediction_gcd_accuracy"], out["prediction_median_error_km"] = p["accuracy"], p["median_km"]
    return out


def _row(name: str, entry: dict) -> dict:
    r = {"expert": name}
    rva = entry["rva"]
    r["auc"], r["auc_lo"], r["auc_hi"] = rva["auc"]["value"], rva["auc"]["lo"], rva["auc"]["hi"]
    for k, v in rva["recall_at_area"].items():
        r[f"recall@{k}"] = v["value"]
    for k, v in rva["area_at_recall"].items():
        r[f"area@{k}"], r[f"area@{k}_lo"], r[f"area@{k}_hi"] = v["value"], v["lo"], v["hi"]
    for k, v in entry["gcd_accuracy"].items():
        r[f"acc@{k}km"] = v["value"]
    for k, v in entry.get("prediction_gcd_accuracy", {}).items():
        r[f"pred_acc@{k}km"] = v["value"]
    return r


def run_benchmark(
    spec: BenchmarkSpec,
    *,
    experts: list[str] | None = None,
    weights: dict[str, float] | None = None,
    fit: bool = False,
    max_samples: int | None = None,
    progress: Progress | None = None,
    res: int = DEFAULT_RESOLUTION,
    refine_to: int = 6,
    refine_below_km2: float = 2e5,
    n_boot: int = 1000,
    priors: list[str] | None = None,
    on_error: str = "raise",
    floor: float = DEFAULT_FLOOR,
) -> BenchResult:
    """Evaluate every expert alone and their ensemble on a benchmark (see module docstring).

    Args:
        spec: benchmark files.
        experts: names to keep (default all).
        weights: ensemble weights by name (missing names get 1); ignored when ``fit``.
        fit: fit the weights on the fit half (objective: base-grid RvA AUC).
        max_samples: use the first N images only.
        progress: callable(fraction, message).
        res: base grid resolution.
        refine_to: resolution of refinement for small areas and modes.
        refine_below_km2: refine images whose base-grid area to truth is at most this (km²).
        n_boot: bootstrap resamples for intervals.
    """
    progress = progress or _null_progress
    t0 = time.perf_counter()
    data = load_benchmark(spec, priors=priors, on_error=on_error, max_samples=max_samples)
    if experts is not None:
        unknown = set(experts) - {e.name for e in data.experts}
        if unknown:
            raise ValueError(f"unknown experts {sorted(unknown)}; available: {[e.name for e in data.experts]}")
        data.experts = [e for e in data.experts if e.name in experts]
    if not data.experts:
        raise ValueError("no experts to evaluate")
    keys = data.groups if data.groups is not None else data.truth["id"].to_numpy()
    is_fit = split_halves(keys)
    fit_rows, eval_rows = np.flatnonzero(is_fit), np.flatnonzero(~is_fit)
    truth = data.truth[["lat", "lon"]].to_numpy()
    for e in data.experts:
        if e.kind == "point":
            ok = fit_rows[e.present[fit_rows]]
            err = haversine_km(truth[ok, 0], truth[ok, 1], e.pred_latlon[ok, 0], e.pred_latlon[ok, 1])
            e.scales = np.asarray(DEFAULT_SCALES_KM)
            if len(err):
                e.mix = fit_scale_mixture(err, e.scales)
            else:
                e.mix = np.full(len(e.scales), 1.0 / len(e.scales))
                data.reports.append(f"{e.name}: no predictions in the fit half; equal weights over the scale ladder")
    names = [e.name for e in data.experts]
    objective = None
    if fit:
        fs_fit = build_fields(data, fit_rows, res, floor, lambda f, m: progress(0.1 + 0.15 * f, m))
        w = fit_weights(fs_fit, lambda f, m: progress(0.25 + 0.25 * f, m))
        order = [e.name for e in fs_fit.experts]
        weights_by_name = dict(zip(order, w.tolist()))
        objective = "base-grid RvA AUC on the fit half, coordinate ascent over " + str(list(FIT_GRID))
        del fs_fit
    else:
        weights_by_name = {n: float((weights or {}).get(n, 1.0)) for n in names}
    fs = build_fields(data, eval_rows, res, floor, lambda f, m: progress(0.5 + 0.15 * f, m))
    order = [e.name for e in fs.experts]
    w_ens = np.array([weights_by_name[n] for n in order])
    configs = [(n, np.eye(len(order))[i]) for i, n in enumerate(order)] + [("ensemble", w_ens)]
    entries, areas_by, curves = {}, {}, []
    for j, (name, w) in enumerate(configs):
        sub = lambda f, m, j=j, name=name: progress(0.65 + 0.35 * (j + f) / len(configs), f"{name}: {m}")  # noqa: E731
        base, _ = base_areas(fs, w)
        areas, modes = refined_areas(fs, w, base, refine_to, refine_below_km2, sub)
        dist = haversine_km(fs.truth_latlon[:, 0], fs.truth_latlon[:, 1], modes[:, 0], modes[:, 1])
        e = fs.experts[j] if name != "ensemble" else None
        pred = None
        if e is not None and e.kind == "point":
            pl = e.pred_latlon[fs.rows]
            pred = haversine_km(fs.truth_latlon[:, 0], fs.truth_latlon[:, 1], pl[:, 0], pl[:, 1])
        kind = e.kind if e is not None else "ensemble"
        entries[name] = _entry(areas, dist, pred, kind, n_boot)
        areas_by[name] = areas
        a, r = metrics.rva_curve(areas)
        curves.append(pd.DataFrame({"expert": name, "area_km2": a, "recall": r}))
    singles = [n for n in entries if n != "ensemble"]
    best = max(singles, key=lambda n: entries[n]["rva"]["auc"]["value"])
    versus = {"best_single_expert": best, **metrics.paired_comparison(areas_by["ensemble"], areas_by[best], n_boot=n_boot)}
    report = {
        "schema": "geolocate.bench/1",
        "benchmark": data.name,
        "ground_truth": str(spec.ground_truth),
        "n_images": int(len(data.truth)),
        "split": {"method": "sha1 of AUTHOR (else image id), first bit", "fit": int(len(fit_rows)), "eval": int(len(eval_rows))},
        "resolution": res,
        "refine_to": refine_to,
        "refine_below_km2": refine_below_km2,
        "floor": floor,
        "objective": objective,
        "weights": weights_by_name,
        "point_scale_mixtures": {e.name: dict(zip([f"{s:g}km" for s in e.scales], np.round(e.mix, 4).tolist())) for e in data.experts if e.kind == "point"},
        "read_reports": data.reports,
        "seconds": round(time.perf_counter() - t0, 1),
        "experts": {k: v for k, v in entries.items() if k != "ensemble"},
        "ensemble": entries["ensemble"],
        "ensemble_vs_best": versus,
    }
    summary = pd.DataFrame([_row(k, v) for k, v in entries.items()])
    return BenchResult(data.name, order, weights_by_name, summary, pd.concat(curves, ignore_index=True), report, areas_by)
