"""Benchmarks: experts and ensembles evaluated on a ground-truth set with GCD accuracy and Recall vs Area.

There is one expert pipeline: a benchmark's experts are ordinary :class:`~geolocate.experts.Expert`
objects (priors shared by every record, :class:`~geolocate.experts.point.PointPredictions` and
:class:`~geolocate.experts.attribute.AttributePredictions` holding one output per record), pooled by
:class:`~geolocate.ensemble.Ensemble` exactly as in the app. This module only reads files, splits,
fits and reports.

Pipeline (``run_benchmark``):
    1. Read the ground truth and every expert file, joined on image id. An image missing from an
       expert's file gets that expert's uniform density (counted and reported, never dropped). Each
       prediction file's own ``gt_lat``/``gt_long`` must agree with the ground truth.
    2. Split the images into a *fit* half and an *eval* half by a hash of the photographer (``AUTHOR``,
       stripped and case-folded, else the image id), so one photographer never sits on both sides.
       With ``fitted`` (weights and mixtures from elsewhere) there is no split: every image is evaluated.
    3. Fit on the fit half: each point expert's kernel scale mixture (EM on its errors) and, with
       ``fit=True``, the ensemble weights by coordinate ascent on the base-grid RvA AUC.
    4. Evaluate on the eval half (256 records at a time): for every expert alone and for the ensemble,
       each image's area to truth under the continuous density (closed forms for one expert,
       :func:`closed_form`; else :meth:`Ensemble.area_to_truth`, adaptive refinement to ``refine_to``
       with sub-cell shares), the GCD error of the mode (:meth:`Ensemble.peak`; a point model's mode
       is its prediction) and of the raw prediction for point experts; RvA summaries with
       author-clustered bootstrap intervals.

Adding an expert to the benchmark is one line in :func:`load_benchmark` (or one more file in a
benchmark folder for the kinds it already reads); see docs/architecture.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import metrics
from .data import (
    LAT_COLUMNS,
    LON_COLUMNS,
    BenchmarkSpec,
    DataError,
    read_attribute_probs,
    read_ground_truth,
    read_point_predictions,
)
from .ensemble import AREA_FINEST, DEFAULT_FLOOR, POINT_RES, Ensemble, FieldStack, floored
from .experts.attribute import AttributePredictions, attribute_log_likelihood
from .experts.base import Expert
from .experts.point import PointPredictions
from .experts.priors import PRIORS, DensityFieldExpert, get_prior
from .grid import DEFAULT_RESOLUTION, LAYER_RESOLUTION, cells_to_parents, global_grid, points_to_cells
from .layers import Layer
from .presets import get_preset

Progress = Callable[[float, str], None]

SCHEMA = "geolocate.bench/2"


FIT_GRID = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0)
"""Candidate values per weight in coordinate ascent."""

MODE_CELLS = 8
"""Beam width (densest cells kept per level) when looking for each image's mode."""

MODE_SEARCH_RES = 6
"""Finest resolution of the mode's cell search (:meth:`Ensemble.peak`); the local search goes on to 1 m."""

EVAL_CHUNK = 256
"""Eval-half records stacked and evaluated at once (bounds the memory of their base-grid fields)."""

DEFAULT_REFINE_TO = AREA_FINEST
"""Finest resolution of the areas to truth (res 10; the results no longer depend on it)."""
BENCH_PRESET = get_preset("equal")
"""Weights of an unfitted run: every expert at 1 (the "equal" preset of :mod:`geolocate.presets`)."""

TRUTH_TOLERANCE_KM = 1.0
"""Largest allowed distance between the ground truth and a prediction file's own gt_lat/gt_long."""


def _null_progress(fraction: float, message: str) -> None:
    pass


_BLAS_THREAD_CALLS = (("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"), ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
                      ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"), ("openblas_get_num_threads", "openblas_set_num_threads"))


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run the block with OpenBLAS on one thread (then restore), where the loaded library allows it.

    The benchmark's matrix products are small (3 coordinates, 7 experts); OpenBLAS's worker threads
    spin-wait between them and, measured on 2 shared cores, multiplied the CPU time of weight fitting
    by 5 and of the expert fields by 2 for no gain in wall time. Results do not change: each output
    element is computed by one thread either way. Without OpenBLAS this does nothing.
    """
    calls = []
    try:
        import ctypes

        libs = {line.split()[-1] for line in Path("/proc/self/maps").read_text().splitlines() if "openblas" in line.lower() and line.split()[-1].startswith("/")}
        for path in libs:
            lib = ctypes.CDLL(path)
            for get, set_ in _BLAS_THREAD_CALLS:
                if hasattr(lib, get) and hasattr(lib, set_):
                    calls.append((getattr(lib, set_), int(getattr(lib, get)())))
                    break
    except OSError:
        calls = []
    for set_, _ in calls:
        set_(1)
    try:
        yield
    finally:
        for set_, n in calls:
            set_(n)


@dataclass
class BenchData:
    """Ground truth and experts for one benchmark, before splitting.

    Attributes:
        truth: columns id, lat, lon (degrees), line (in the ground-truth file).
        experts: the experts, records aligned with ``truth`` rows.
        groups: (S,) normalised photographer per image, or None.
    """

    name: str
    truth: pd.DataFrame
    experts: list[Expert]
    reports: list[str] = field(default_factory=list)
    groups: np.ndarray | None = None


def normalise_author(values: pd.Series) -> np.ndarray:
    """Photographer keys: stripped and case-folded, so ' Alice' and 'alice' are one author."""
    return values.fillna("").astype(str).str.strip().str.casefold().to_numpy()


def _check_truth_columns(path: Path, truth: pd.DataFrame, on_error: str) -> None:
    """Compare a prediction file's own gt_lat/gt_long with the ground truth (clear error on mismatch)."""
    header = [c.lower() for c in pd.read_csv(path, nrows=0).columns]
    has_lat = any(c.lower() in header for c in LAT_COLUMNS)
    has_lon = any(c.lower() in header for c in LON_COLUMNS)
    if not (has_lat and has_lon):
        return
    own, _ = read_ground_truth(path, on_error=on_error)
    j = truth[["id", "lat", "lon"]].merge(own[["id", "lat", "lon", "line"]], on="id", suffixes=("", "_file"))
    if not len(j):
        return
    d = metrics.haversine_km(j["lat"], j["lon"], j["lat_file"], j["lon_file"])
    bad = np.flatnonzero(d > TRUTH_TOLERANCE_KM)
    if not len(bad):
        return
    swapped = metrics.haversine_km(j["lat"], j["lon"], j["lon_file"], j["lat_file"])
    first = j.iloc[bad[0]]
    hint = " (its latitude and longitude look swapped)" if np.mean(swapped[bad] <= TRUTH_TOLERANCE_KM) > 0.5 else ""
    raise DataError(
        f"{path}: {len(bad)} of {len(j)} rows give a true location that disagrees with the ground truth{hint}; "
        f"first on line {int(first['line'])}: image {first['id']!r} at ({first['lat_file']}, {first['lon_file']}) "
        f"in the file, ({first['lat']}, {first['lon']}) in the ground truth"
    )


def load_benchmark(
    spec: BenchmarkSpec,
    priors: Sequence[str] | None = None,
    on_error: str = "raise",
    max_samples: int | None = None,
) -> BenchData:
    """Read a benchmark's ground truth and expert files (see module docstring).

    Args:
        spec: files of the benchmark.
        priors: names from :data:`PRIORS` (default all three; empty for none).
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
        a = pd.read_csv(spec.ground_truth, usecols=[author], dtype=str, keep_default_na=False)[author]
        a.index = np.arange(len(a)) + 2  # file line numbers, as in truth["line"]
        groups = normalise_author(a.reindex(truth["line"].to_numpy()))
    ids = truth["id"].to_numpy()
    experts: list[Expert] = []
    for name in list(PRIORS) if priors is None else list(priors):
        experts.append(get_prior(name))
    for path in spec.predictions:
        pred, _footer, rep = read_point_predictions(path, on_error=on_error)
        reports.append(str(rep))
        _check_truth_columns(Path(path), truth, on_error)
        joined = pd.DataFrame({"id": ids}).merge(pred, on="id", how="left")
        missing = int(joined["lat"].isna().sum())
        if missing:
            reports.append(f"{Path(path).name}: {missing} of {len(ids)} images have no prediction (uniform for those)")
        experts.append(PointPredictions(Path(path).stem, joined[["lat", "lon"]].to_numpy(), source=str(path)))
    for path in spec.attributes:
        probs, names, rep = read_attribute_probs(path, on_error=on_error)
        reports.append(str(rep))
        from .layers import ASSETS, SCENE_CLASSES, scene_layer

        if sorted(names) != sorted(SCENE_CLASSES):
            reports.append(f"{Path(path).name}: classes {names} match no layer (expected {SCENE_CLASSES}); skipped")
            continue
        joined = pd.DataFrame({"id": ids}).merge(probs, on="id", how="left")
        missing = int(joined[SCENE_CLASSES[0]].isna().sum())
        if missing:
            reports.append(f"{Path(path).name}: {missing} of {len(ids)} images have no probabilities (uniform for those)")
        prior = np.asarray(json.loads((ASSETS / "scene_rates.json").read_text())["class_prior"])
        experts.append(AttributePredictions(f"scene ({Path(path).stem})", scene_layer(), joined[SCENE_CLASSES].to_numpy(), prior, source=str(path)))
    return BenchData(spec.name, truth, experts, reports, groups)


def split_halves(keys: np.ndarray) -> np.ndarray:
    """True for the *fit* half: the first bit of sha1(key), stable across file orderings and runs."""
    return np.array([hashlib.sha1(str(k).encode()).digest()[0] < 128 for k in keys])


def truth_cells(stack: FieldStack, truth: pd.DataFrame) -> np.ndarray:
    """Base-grid position of each stacked record's true location."""
    t = truth.iloc[stack.rows]
    return global_grid(stack.ensemble.res).locate(t["lat"].to_numpy(), t["lon"].to_numpy())


def fit_weights(stack: FieldStack, truth_cell: np.ndarray, progress: Progress = _null_progress, candidates: Sequence[float] = FIT_GRID, sweeps: int = 2) -> np.ndarray:
    """Ensemble weights maximising the base-grid RvA AUC on the stacked records.

    Coordinate ascent: each weight in turn takes the best of ``candidates``, ``sweeps`` times,
    starting from all ones. The candidates of one weight are scored together
    (:meth:`FieldStack.areas_along`), then taken in order exactly as one at a time: a candidate
    replaces the current weight when its AUC beats the best so far by more than 1e-9.
    """
    w = np.ones(len(stack.ensemble.names))
    best = metrics.rva_auc(stack.base_areas(w, truth_cell))
    steps, done = sweeps * len(w) * len(candidates), 0
    for _ in range(sweeps):
        for i in range(len(w)):
            areas = stack.areas_along(w, i, candidates, truth_cell)
            scores = [metrics.rva_auc(a) for a in areas]
            for c, score in zip(candidates, scores):
                done += 1
                if c == w[i]:
                    continue
                trial = w.copy()
                trial[i] = c
                if not trial.any():
                    continue
                if score > best + 1e-9:
                    best, w = score, trial
                progress(done / steps, f"fitting weights: AUC {best:.4f}")
    return w


@dataclass
class Fitted:
    """Quantities fitted on one set of images, with where each came from.

    Attributes:
        weights: ensemble weights by expert name.
        mixtures: point experts' scale-mixture weights by name ({"1km": w, ...}).
        provenance: for "weights" and each mixture, a sentence naming the images it was fitted on.
    """

    weights: dict[str, float]
    mixtures: dict[str, dict[str, float]] = field(default_factory=dict)
    provenance: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_report(cls, path: str | Path) -> Fitted:
        """Read ``weights`` and ``point_scale_mixtures`` from a previous ``bench --json`` report."""
        path = Path(path)
        try:
            rep = json.loads(path.read_text())
            weights = {str(k): float(v) for k, v in rep["weights"].items()}
            mixtures = {str(k): {str(s): float(x) for s, x in v.items()} for k, v in rep.get("point_scale_mixtures", {}).items()}
        except (OSError, ValueError, KeyError, AttributeError, TypeError) as err:
            raise ValueError(f"{path}: not a bench report with weights ({err})") from None
        prov = rep.get("provenance", {})
        src = f"{path.name} (benchmark {rep.get('benchmark', '?')})"
        provenance = {"weights": f"read from {src}: {prov.get('weights', 'fitted there')}"}
        for name in mixtures:
            provenance[f"mixture {name}"] = f"read from {src}: {prov.get(f'mixture {name}', 'fitted there')}"
        return cls(weights, mixtures, provenance)


def _mixture_dict(e: PointPredictions) -> dict[str, float]:
    return dict(zip([f"{s:g}km" for s in e.scales_km], np.round(e.weights, 6).tolist()))


def fit_on(data: BenchData, rows: np.ndarray, fit: bool, res: int, floor: float, label: str, progress: Progress = _null_progress) -> Fitted:
    """Fit point mixtures (always) and ensemble weights (``fit``) on records ``rows`` of ``data``.

    Args:
        data: the benchmark (its point experts' mixtures are set here).
        rows: the records to fit on.
        fit: also fit the ensemble weights (else all 1).
        res: base grid resolution for the weight objective.
        floor: uniform mixing weight.
        label: words naming the images, for the provenance (e.g. "im2gps3k fit half, 1,339 images").
        progress: callable(fraction, message).
    """
    truth = data.truth[["lat", "lon"]].to_numpy()
    mixtures, provenance = {}, {}
    for e in data.experts:
        if isinstance(e, PointPredictions):
            if e.fit(rows, truth[rows]):
                provenance[f"mixture {e.name}"] = f"EM on {label}"
            else:
                data.reports.append(f"{e.name}: no predictions in {label}; equal weights over the scale ladder")
                provenance[f"mixture {e.name}"] = "equal weights (no predictions to fit)"
            mixtures[e.name] = _mixture_dict(e)
    names = [e.name for e in data.experts]
    if fit:
        ens = Ensemble(data.experts, floor, res)
        stack = ens.stack(rows, progress=lambda f, m: progress(0.3 * f, m))
        w = fit_weights(stack, truth_cells(stack, data.truth), lambda f, m: progress(0.3 + 0.7 * f, m))
        weights = dict(zip(ens.names, w.tolist()))
        provenance["weights"] = f"coordinate ascent on the base-grid RvA AUC over {list(FIT_GRID)}, {label}"
    else:
        weights = BENCH_PRESET.weights_for(names)
        provenance["weights"] = f"preset {BENCH_PRESET.name!r}: all 1 (not fitted)"
    return Fitted(weights, mixtures, provenance)


def apply_fitted(data: BenchData, fitted: Fitted) -> None:
    """Set the point experts' mixtures from ``fitted`` (they must match the scale ladder)."""
    for e in data.experts:
        if isinstance(e, PointPredictions):
            mix = fitted.mixtures.get(e.name)
            if mix is None:
                raise ValueError(f"the fitted quantities have no scale mixture for point expert {e.name!r}; they have {sorted(fitted.mixtures)}")
            scales = [float(k.removesuffix("km")) for k in mix]
            if not np.allclose(scales, e.scales_km):
                raise ValueError(f"{e.name}: fitted mixture scales {scales} differ from {list(e.scales_km)}")
            e.weights = np.asarray(list(mix.values()), dtype=np.float64)


@dataclass
class BenchResult:
    """Everything a benchmark run reports.

    Attributes:
        report: the JSON document (schema in docs/benchmark.md).
        summary: one row per expert and the ensemble: auc (+ _lo/_hi), recall@1e+02..1e+06, area@0.25/0.5/0.75
            (km², + _lo/_hi), acc@1km..acc@2500km of the mode (and pred_acc@... of raw predictions).
        curves: long table expert, area_km2, recall.
        weights: the ensemble weights by expert name.
        areas: per configuration, (S,) areas to truth (km²) of the evaluated images.
    """

    name: str
    expert_names: list[str]
    weights: dict[str, float]
    summary: pd.DataFrame
    curves: pd.DataFrame
    report: dict
    areas: dict[str, np.ndarray]

    def to_json(self, path: str | Path) -> None:
        """Write :attr:`report` as indented JSON."""
        Path(path).write_text(json.dumps(self.report, indent=2))

    def table(self) -> str:
        """The summary as a fixed-width text table."""
        cols = ["expert", "auc", "auc_lo", "auc_hi", "area@0.5", "area@0.5_lo", "area@0.5_hi"]
        cols += [c for c in self.summary.columns if c.startswith("recall@")] + [c for c in self.summary.columns if c.startswith("acc@")]
        fmt = {c: (lambda v: f"{v:.3g}") for c in cols if c.startswith("area")}
        return self.summary[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}", formatters=fmt)


def _entry(areas: np.ndarray, distances: np.ndarray, pred_distances: np.ndarray | None, kind: str, n_boot: int, groups: np.ndarray | None) -> dict:
    out: dict = {"kind": kind, "rva": metrics.rva_summary(areas, n_boot=n_boot, groups=groups)}
    g = metrics.gcd_summary(distances, n_boot=n_boot, groups=groups)
    out["gcd_accuracy"], out["median_error_km"] = g["accuracy"], g["median_km"]
    if pred_distances is not None:
        p = metrics.gcd_summary(pred_distances, n_boot=n_boot, groups=groups)
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


_DENSITY_METHODS = ("log_density", "batch_log_density", "log_density_bounds", "record_log_density", "record_log_density_bounds")
"""Methods a subclass must not override for a closed form to hold (it may change the density)."""


def _plain(e: Expert, cls: type, *methods: str) -> bool:
    """``e`` is a ``cls`` whose ``methods`` are ``cls``'s own (a subclass may change the density)."""
    return isinstance(e, cls) and all(getattr(type(e), m, None) is getattr(cls, m, None) for m in methods)


def _truth_res4(t: np.ndarray) -> np.ndarray:
    """Position in ``global_grid(LAYER_RESOLUTION)`` of the res-4 ancestor of each truth's finest cell."""
    g4 = global_grid(LAYER_RESOLUTION)
    return g4.index_of(cells_to_parents(points_to_cells(t[:, 0], t[:, 1], POINT_RES), LAYER_RESOLUTION))


def _plateau_areas(values: np.ndarray, area: np.ndarray, truth_value: np.ndarray) -> np.ndarray:
    """Area denser than each truth value (ties half) of fields constant on k plateaus, (S,) km².

    Args:
        values: (S, k) each record's value on each plateau.
        area: (k,) plateau areas, km².
        truth_value: (S,) each record's value at its truth (one of its row's values).
    """
    above = (values > truth_value[:, None]) @ area
    tied = (values == truth_value[:, None]) @ area
    return above + 0.5 * tied


_PLATEAUS: dict = {}
"""Plateaus of the one-expert closed forms (a prior's values, a dense layer's distinct rows), kept
across chunks of records; each entry holds its source so a recycled id() is never trusted."""


def closed_form(stack: FieldStack, w: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Areas to truth, modes and bands of a one-expert configuration in closed form, or None.

    The same quantities as :meth:`Ensemble.area_to_truth` and :meth:`Ensemble.peak` compute by
    refinement, exactly (tests/test_bench.py checks them against each other):

    * a point expert (kernels around one prediction; the floor is monotone): its density falls with
      the distance from the prediction, so the area denser than the truth is the spherical cap through
      the truth, and the mode is the prediction;
    * a prior on the layer grid (constant on res-4 cells): the area of the res-4 cells denser than the
      truth's, plus half of those equal to it; the mode is the centre of the densest cell (lowest index);
    * an attribute expert on a dense layer (constant on the layer's cells): the same over the layer's
      distinct rows (85 strata for the scene layer).

    Args:
        stack: the stacked records.
        w: (E,) weights; only one-hot configurations have a closed form.
        truth: (S, 2) true (lat, lon), degrees, of the stacked records.

    Returns:
        (areas (S,) km², modes (S, 2) degrees, bands (S,) km²), or None.
    """
    ens = stack.ensemble
    active = np.flatnonzero(w > 0)
    if len(active) != 1 or ens.hard_experts:
        return None
    i = int(active[0])
    e = ens.soft_experts[i]
    S = len(stack)
    bands = np.zeros(S)
    if _plain(e, PointPredictions, *_DENSITY_METHODS, "mode_candidates"):
        assert isinstance(e, PointPredictions)
        ok = e.present[stack.rows]
        if not ok.all():
            return None  # uniform records: the generic path
        pred = e.latlon[stack.rows]
        d = metrics.haversine_km(truth[:, 0], truth[:, 1], pred[:, 0], pred[:, 1])
        return metrics.disc_area_km2(d), pred.copy(), bands
    g4 = global_grid(LAYER_RESOLUTION)
    if _plain(e, DensityFieldExpert, *_DENSITY_METHODS) and e.records is None:
        key = (id(e), float(stack.log_norm[i, 0]), ens.floor)
        if _PLATEAUS.get(key, (None,))[0] is not e:  # the same for every chunk of records
            v = floored(e.log_density(g4) - stack.log_norm[i, 0], ens.floor)
            uniq, inv = np.unique(v, return_inverse=True)
            area_u = np.bincount(inv, weights=g4.area_km2, minlength=len(uniq))
            above = np.cumsum(area_u[::-1])[::-1] - area_u  # area of strictly denser plateaus
            _PLATEAUS[key] = (e, v, uniq, area_u, above, int(np.flatnonzero(v == v.max())[0]))
        _, v, uniq, area_u, above, top = _PLATEAUS[key]
        u = np.searchsorted(uniq, v[_truth_res4(truth)])
        modes = np.repeat([[g4.lat[top], g4.lon[top]]], S, axis=0)
        return above[u] + 0.5 * area_u[u], modes, bands
    if (isinstance(e, AttributePredictions) and _plain(e, AttributePredictions, *_DENSITY_METHODS)
            and type(e.layer) is Layer and e.layer.grid.res == e.layer.res == LAYER_RESOLUTION):
        hit = _PLATEAUS.get(id(e.layer.fractions))
        if hit is None or hit[0] is not e.layer.fractions:  # the layer's distinct rows, once
            rows_u, inv = np.unique(e.layer.fractions, axis=0, return_inverse=True)
            inv = inv.ravel()
            first = np.full(len(rows_u), len(g4), dtype=np.int64)
            np.minimum.at(first, inv, np.arange(len(g4)))
            hit = _PLATEAUS[id(e.layer.fractions)] = (e.layer.fractions, rows_u, inv, np.bincount(inv, weights=g4.area_km2, minlength=len(rows_u)), first)
        _, rows_u, inv, area_u, first = hit
        tu = inv[_truth_res4(truth)]
        raw = attribute_log_likelihood(rows_u, e.probs[stack.rows], e.class_prior)
        raw[~e.present[stack.rows]] = 0.0
        v = floored(raw - stack.log_norm[i][:, None], ens.floor)
        tv = v[np.arange(S), tu]
        areas = _plateau_areas(v, area_u, tv)
        top = np.where(v == v.max(axis=1, keepdims=True), first[None, :], len(g4)).min(axis=1)
        return areas, np.stack([g4.lat[top], g4.lon[top]], axis=1), bands
    return None


def evaluate(
    stack: FieldStack,
    truth: pd.DataFrame,
    configs: list[tuple[str, np.ndarray]],
    refine_to: int,
    rel_tol: float = 0.01,
    progress: Progress = _null_progress,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Areas to truth, modes and open bands of every configuration for every stacked record.

    One-expert configurations with a closed form (:func:`closed_form`) take it; the others (the
    ensemble) run :meth:`Ensemble.area_to_truth` (finest ``refine_to``) and :meth:`Ensemble.peak`
    (cell search to ``min(refine_to, MODE_SEARCH_RES)``, then the local search) record by record.

    Returns:
        (areas, modes, bands) by configuration name: (S,) km², (S, 2) degrees, (S,) km².
    """
    t = truth.iloc[stack.rows][["lat", "lon"]].to_numpy()
    S = len(stack)
    areas: dict[str, np.ndarray] = {}
    bands: dict[str, np.ndarray] = {}
    modes: dict[str, np.ndarray] = {}
    generic = []
    for name, w in configs:
        fast = closed_form(stack, w, t)
        if fast is None:
            generic.append((name, w))
            areas[name], bands[name], modes[name] = np.empty(S), np.empty(S), np.empty((S, 2))
        else:
            areas[name], modes[name], bands[name] = fast
    search = min(refine_to, MODE_SEARCH_RES)
    for k in range(S if generic else 0):
        view = stack.record(k)
        for name, w in generic:
            ta = view.area_to_truth(t[k, 0], t[k, 1], w, finest=refine_to, rel_tol=rel_tol)
            areas[name][k], bands[name][k] = ta.area_km2, ta.band_km2
            modes[name][k] = view.mode(w, refine_to=search, beam=MODE_CELLS)
        if k % 16 == 0:
            progress(k / S, "areas to truth")
    progress(1.0, "areas to truth")
    return areas, modes, bands


@single_threaded_blas()
def run_benchmark(
    spec: BenchmarkSpec,
    *,
    experts: list[str] | None = None,
    weights: dict[str, float] | None = None,
    fit: bool = False,
    fitted: Fitted | None = None,
    fit_spec: BenchmarkSpec | None = None,
    max_samples: int | None = None,
    progress: Progress | None = None,
    res: int = DEFAULT_RESOLUTION,
    refine_to: int = DEFAULT_REFINE_TO,
    rel_tol: float = 0.01,
    n_boot: int = 1000,
    priors: list[str] | None = None,
    on_error: str = "raise",
    floor: float = DEFAULT_FLOOR,
    extra_experts: Sequence[Expert] = (),
) -> BenchResult:
    """Evaluate every expert alone and their ensemble on a benchmark (see module docstring).

    Args:
        spec: benchmark files.
        experts: names to keep (default all).
        weights: ensemble weights by name (missing names get 1); ignored when ``fit`` or ``fitted``.
        fit: fit the weights (objective: base-grid RvA AUC) on the fit half, or on ``fit_spec``.
        fitted: weights and point mixtures fitted elsewhere (:meth:`Fitted.from_report`): no split,
            every image is evaluated.
        fit_spec: another benchmark to fit on (all its images); no split, every image is evaluated.
        max_samples: evaluate the first N images only (``fit_spec`` is always used whole).
        progress: callable(fraction, message).
        res: base grid resolution (normalisation, weight fitting, modes).
        refine_to: finest resolution of the adaptive refinement and of the modes.
        rel_tol: refinement stops once the unsettled area is at most this fraction of the area to truth.
        n_boot: bootstrap resamples for intervals (clustered by author when the truth has AUTHOR).
        priors: prior names (default all three).
        on_error: "raise" or "skip" bad rows.
        floor: uniform mixing weight per expert.
        extra_experts: more experts, shared or batch experts whose records follow the ground truth's
            rows (after ``max_samples``): the one line that benchmarks a new expert.
    """
    progress = progress or _null_progress
    t0 = time.perf_counter()
    if fitted is not None and fit_spec is not None:
        raise ValueError("give fitted quantities or a benchmark to fit on, not both")
    data = load_benchmark(spec, priors=priors, on_error=on_error, max_samples=max_samples)
    for extra in extra_experts:
        if extra.records not in (None, len(data.truth)):
            raise ValueError(f"expert {extra.name!r} holds {extra.records} records; the benchmark has {len(data.truth)} images")
        data.experts.append(extra)

    def keep_experts(d: BenchData) -> None:
        if experts is not None:
            unknown = set(experts) - {e.name for e in d.experts}
            if unknown:
                raise ValueError(f"unknown experts {sorted(unknown)}; available: {[e.name for e in d.experts]}")
            d.experts = [e for e in d.experts if e.name in experts]

    keep_experts(data)
    if not data.experts:
        raise ValueError("no experts to evaluate")
    keys = data.groups if data.groups is not None else data.truth["id"].to_numpy()
    if fitted is not None or fit_spec is not None:
        fit_rows, eval_rows = np.zeros(0, dtype=np.int64), np.arange(len(data.truth))
        if fit_spec is not None:
            other = load_benchmark(fit_spec, priors=priors, on_error=on_error)
            keep_experts(other)
            rows = np.arange(len(other.truth))
            fitted = fit_on(other, rows, fit, res, floor, f"all {len(rows):,} images of {other.name}", lambda f, m: progress(0.3 * f, m))
            data.reports += [f"fit on {other.name}: {r}" for r in other.reports]
        assert fitted is not None
        apply_fitted(data, fitted)
        names = [e.name for e in data.experts]
        missing = [n for n in names if n not in fitted.weights]
        if missing:
            raise ValueError(f"the fitted weights have no value for {missing}; they cover {sorted(fitted.weights)}")
        weights_by_name = {n: float(fitted.weights[n]) for n in names}
        split = {"method": "none: weights and mixtures fitted elsewhere (see provenance)", "fit": 0, "eval": int(len(eval_rows))}
        objective = fitted.provenance.get("weights")
    else:
        is_fit = split_halves(keys)
        fit_rows, eval_rows = np.flatnonzero(is_fit), np.flatnonzero(~is_fit)
        label = f"the {data.name} fit half ({len(fit_rows):,} images)"
        fitted = fit_on(data, fit_rows, fit, res, floor, label, lambda f, m: progress(0.1 + 0.4 * f, m))
        if not fit:
            fitted.weights = BENCH_PRESET.weights_for([e.name for e in data.experts], weights)
            fitted.provenance["weights"] = "given" if weights else f"preset {BENCH_PRESET.name!r}: all 1 (not fitted)"
        weights_by_name = fitted.weights
        split = {"method": "sha1 of AUTHOR (stripped, case-folded; else image id), first bit", "fit": int(len(fit_rows)), "eval": int(len(eval_rows))}
        objective = fitted.provenance["weights"] if fit else None
    ens = Ensemble(data.experts, floor, res)
    order = ens.names
    w_ens = np.array([weights_by_name[n] for n in order])
    configs = [(n, np.eye(len(order))[i]) for i, n in enumerate(order)] + [("ensemble", w_ens)]
    # The eval half is stacked and evaluated a chunk of records at a time: its fields are needed only
    # while those records are evaluated, so memory stays that of the fit half's stack.
    parts: list[tuple[dict, dict, dict]] = []
    for start in range(0, len(eval_rows), EVAL_CHUNK):
        f0, f1 = start / len(eval_rows), min(start + EVAL_CHUNK, len(eval_rows)) / len(eval_rows)

        def stage(f: float, m: str, f0: float = f0, f1: float = f1) -> None:
            progress(0.5 + 0.48 * (f0 + (f1 - f0) * f), m)

        def stacking(f: float, m: str, f0: float = f0) -> None:
            progress(0.5 + 0.48 * f0, m)

        stack = ens.stack(eval_rows[start : start + EVAL_CHUNK], progress=stacking)
        parts.append(evaluate(stack, data.truth, configs, refine_to, rel_tol, stage))
        del stack
    areas_by, modes_by, bands_by = ({n: np.concatenate([p[j][n] for p in parts]) for n, _ in configs} for j in range(3))
    groups = data.groups[eval_rows] if data.groups is not None else None
    truth = data.truth[["lat", "lon"]].to_numpy()[eval_rows]
    entries, curves = {}, []
    for name, _ in configs:
        e = next((x for x in data.experts if x.name == name), None)
        dist = metrics.haversine_km(truth[:, 0], truth[:, 1], modes_by[name][:, 0], modes_by[name][:, 1])
        pred = None
        if isinstance(e, PointPredictions):
            pl = e.latlon[eval_rows]
            # An image without a prediction counts as a miss at every radius.
            pred = np.where(e.present[eval_rows], metrics.haversine_km(truth[:, 0], truth[:, 1], pl[:, 0], pl[:, 1]), np.inf)
        entries[name] = _entry(areas_by[name], dist, pred, e.kind if e is not None else "ensemble", n_boot, groups)
        entries[name]["refinement_band_km2"] = {"median": float(np.median(bands_by[name])), "max": float(np.max(bands_by[name]))}
        a, r = metrics.rva_curve(areas_by[name])
        curves.append(pd.DataFrame({"expert": name, "area_km2": a, "recall": r}))
    singles = [n for n in entries if n != "ensemble"]
    best = max(singles, key=lambda n: entries[n]["rva"]["auc"]["value"])
    versus = {"best_single_expert": best, **metrics.paired_comparison(areas_by["ensemble"], areas_by[best], n_boot=n_boot, groups=groups)}
    report = {
        "schema": SCHEMA,
        "benchmark": data.name,
        "ground_truth": str(spec.ground_truth),
        "n_images": int(len(data.truth)),
        "split": split,
        "resolution": res,
        "refinement": {"method": "continuous density: one-expert configurations in closed form; else adaptive refinement, unsettled cells split until settled, at refine_to, or their sampled shares within rel_tol", "refine_to": refine_to, "rel_tol": rel_tol, "mode": "Ensemble.peak: kernel centres and densest cells, lattice search to 2 m"},
        "floor": floor,
        "objective": objective,
        "weights": weights_by_name,
        "point_scale_mixtures": fitted.mixtures,
        "provenance": fitted.provenance,
        "bootstrap": {"unit": "author" if groups is not None else "image", "resamples": n_boot},
        "read_reports": data.reports,
        "seconds": round(time.perf_counter() - t0, 1),
        "experts": {k: v for k, v in entries.items() if k != "ensemble"},
        "ensemble": entries["ensemble"],
        "ensemble_vs_best": versus,
    }
    summary = pd.DataFrame([_row(k, v) for k, v in entries.items()])
    return BenchResult(data.name, order, weights_by_name, summary, pd.concat(curves, ignore_index=True), report, areas_by)


__all__ = [
    "FIT_GRID", "PRIORS", "SCHEMA", "BenchData", "BenchResult", "Fitted", "apply_fitted", "evaluate", "fit_on",
    "fit_weights", "load_benchmark", "normalise_author", "run_benchmark", "split_halves", "truth_cells",
]
