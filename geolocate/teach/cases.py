"""Benchmark cases one photo at a time, and scoring a person's guess against the models.

A *case* is one image of a benchmark: its true location, each expert's map (the priors, one point expert
per prediction file with the scale mixture fitted to that model's errors as in :mod:`geolocate.bench`,
the scene expert), their product-of-experts ensemble, and for each the **area to truth** (km², the area
searched going down the density ranking until the truth's cell is reached) and the truth cell's rank.

A person's guess is scored the same way with a disc: the **area to truth of a guess** is the area of the
smallest disc (spherical cap) centred on the guess that contains the true location,
``2 pi R^2 (1 - cos(d / R))`` for a great-circle distance d (about ``pi d^2`` when d is small). A search
budget B around the guess contains the truth exactly when that area is at most B. Points per case use the
RvA AUC normalisation of :mod:`geolocate.metrics`: ``100 (L - clip(log10 area, 0, L)) / L`` with
``L = log10(5.1e8)``, so 100 means within 1 km² and a guess on the far side of the Earth scores 0.

Benchmark image ids that are Flickr file names (``{photo id}_{secret}_{server}_{owner}.jpg``, as in
Im2GPS3k) give the photo's address on Flickr's static server; the browser loads it, the server never does.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import pandas as pd

from ..data import BenchmarkSpec
from ..distribution import CellDistribution
from ..ensemble import AREA_FINEST, Ensemble
from ..experts.attribute import AttributePredictions
from ..experts.base import Expert
from ..experts.point import PointPredictions, haversine_km
from ..metrics import AREA_MAX_KM2, disc_area_km2

Progress = Callable[[float, str], None]

CASE_REFINE_TO = 6
"""Resolution the densest cells of a case's maps are refined to, and the finest resolution of its
converged areas to truth (as the benchmark's default)."""

Weights = Mapping[str, float] | Sequence[float] | np.ndarray | None


class AreaMethod(StrEnum):
    """How an area to truth is computed (km² searched down the density ranking until the truth's cell)."""

    CONVERGED = "converged"
    """:meth:`Ensemble.area_to_truth`: the area denser than the truth under the continuous density, by
    adaptive refinement (the benchmark's number, at its finest resolution; independent of how a map was drawn)."""
    MAP = "map"
    """On a drawn map's cells (the densest refined to ``finest``): depends on the drawing's refinement."""
    BASE_GRID = "base grid"
    """On the base grid (res 3), no refinement: coarse, but fast for every image at once (the RvA curves)."""


def area_to_truth(
    ensemble: Ensemble,
    lat: float,
    lon: float,
    weights: Weights = None,
    method: AreaMethod = AreaMethod.CONVERGED,
    finest: int | None = None,
) -> float:
    """Area to truth (km², ties half) of one record's pooled map, by an explicit method.

    Args:
        ensemble: the record's ensemble.
        lat: truth latitude, degrees.
        lon: truth longitude, degrees.
        weights: expert weights (see :meth:`Ensemble.weight_vector`).
        method: see :class:`AreaMethod`.
        finest: the finest refinement: CONVERGED's (default :data:`geolocate.ensemble.AREA_FINEST`, as the
            benchmark) or the map's (MAP, default :data:`CASE_REFINE_TO`); unused on BASE_GRID.
    """
    method = AreaMethod(method)
    if method is AreaMethod.CONVERGED:
        return float(ensemble.area_to_truth(lat, lon, weights, finest=AREA_FINEST if finest is None else finest).area_km2)
    refine = (CASE_REFINE_TO if finest is None else finest) if method is AreaMethod.MAP else None
    return float(ensemble.distribution(weights, refine_to=refine).area_to_contain(lat, lon))

_FLICKR = re.compile(r"^(?P<id>\d+)_(?P<secret>[0-9a-f]+)_(?P<server>\d+)(?:_(?P<owner>[^/]+?))?\.jpe?g$", re.IGNORECASE)


@dataclass(frozen=True)
class FlickrPhoto:
    """Where a Flickr photo can be seen; built from the file name only (nothing is fetched here)."""

    photo_id: str
    secret: str
    server: str
    owner: str | None

    @property
    def image_url(self) -> str:
        """The 500-px image on Flickr's static server."""
        return f"https://live.staticflickr.com/{self.server}/{self.photo_id}_{self.secret}.jpg"

    @property
    def page_url(self) -> str | None:
        """The photo's page, when the owner is known."""
        return f"https://www.flickr.com/photos/{self.owner}/{self.photo_id}" if self.owner else None


def flickr_photo(image_id: str) -> FlickrPhoto | None:
    """Parse an image id such as ``1000269685_e60e9cdfb4_1125_78841376@N00.jpg``; None when it is not one."""
    m = _FLICKR.match(str(image_id).strip())
    if not m:
        return None
    return FlickrPhoto(m["id"], m["secret"].lower(), m["server"], m["owner"])


# --------------------------------------------------------------------------------------------- guesses


def points(area_km2: float | np.ndarray) -> np.ndarray:
    """Score 0-100 for an area to truth (km²): the RvA AUC normalisation (see module docstring)."""
    top = math.log10(AREA_MAX_KM2)
    la = np.clip(np.log10(np.maximum(np.asarray(area_km2, dtype=np.float64), 1e-300)), 0.0, top)
    return 100.0 * (top - la) / top


@dataclass(frozen=True)
class GuessScore:
    """A guess against the truth.

    Attributes:
        distance_km: great-circle distance from the guess to the truth, km.
        area_km2: area of the smallest disc around the guess that contains the truth, km².
        budget_km2: the disc area the person said they would search, km², or None.
        in_budget: whether that disc contains the truth (None without a budget).
        points: 0-100, see :func:`points`.
    """

    distance_km: float
    area_km2: float
    budget_km2: float | None
    in_budget: bool | None
    points: float


def score_guess(guess: tuple[float, float], truth: tuple[float, float], budget_km2: float | None = None) -> GuessScore:
    """Score a guess (lat, lon in degrees) against the truth, optionally with a search budget (km²)."""
    (glat, glon), (tlat, tlon) = guess, truth
    for lat, lon in (guess, truth):
        if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
            raise ValueError(f"({lat}, {lon}) is not a position: latitude must be in [-90, 90], longitude in [-180, 180]")
    if budget_km2 is not None and not budget_km2 > 0:
        raise ValueError(f"the search budget must be a positive area in km², got {budget_km2}")
    d = float(haversine_km(glat, glon, tlat, tlon))
    area = float(disc_area_km2(d))
    inside = None if budget_km2 is None else bool(area <= budget_km2)
    return GuessScore(d, area, budget_km2, inside, float(points(area)))


# --------------------------------------------------------------------------------------------- case book


@dataclass
class CaseBook:
    """A benchmark ready to be browsed case by case.

    Attributes:
        name: benchmark name.
        truth: id, lat, lon, line (the ground-truth table, see :func:`geolocate.data.read_ground_truth`).
        experts: the benchmark's experts: shared priors and batch experts holding one output per image
            (point mixtures fitted), as in :mod:`geolocate.bench`.
        weights: ensemble weight per expert name.
        fit_half: (S,) True for images in the half the point mixtures were fitted on.
        reports: what the readers skipped or filled in.
    """

    name: str
    truth: pd.DataFrame
    experts: list[Expert]
    weights: dict[str, float]
    fit_half: np.ndarray
    reports: list[str] = field(default_factory=list)
    _row: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        self._row = {str(i): k for k, i in enumerate(self.truth["id"].tolist())}

    def __len__(self) -> int:
        return len(self.truth)

    @property
    def ids(self) -> list[str]:
        """Image ids in file order."""
        return self.truth["id"].tolist()

    def row(self, image_id: str) -> int:
        """Position of an image in the truth table; KeyError with a readable message when absent."""
        try:
            return self._row[str(image_id).strip()]
        except KeyError:
            raise KeyError(f"no image {str(image_id)[:80]!r} in benchmark {self.name}") from None

    def truth_of(self, image_id: str) -> tuple[float, float]:
        """True (lat, lon) of an image, degrees."""
        k = self.row(image_id)
        return float(self.truth["lat"].iloc[k]), float(self.truth["lon"].iloc[k])

    def scene(self, image_id: str) -> dict[str, float]:
        """Scene class probabilities of the image (empty when the benchmark has none)."""
        k = self.row(image_id)
        for e in self.experts:
            if isinstance(e, AttributePredictions) and e.present[k]:
                return {c: float(p) for c, p in zip(e.layer.classes, e.probs[k])}
        return {}

    def ensemble(self, image_id: str, priors: list[Expert] | None = None) -> Ensemble:
        """The ensemble of one image (its record of every batch expert).

        ``priors`` replace the book's shared experts of the same name (e.g. process-wide warmed ones).
        """
        from ..locate import build_record

        by_name = {p.name: p for p in priors or []}
        experts = [by_name.get(e.name, e) if e.records is None else e for e in self.experts]
        return build_record(experts, self.row(image_id)).ensemble


def load_casebook(spec: BenchmarkSpec, weights: Mapping[str, float] | None = None, priors: list[str] | None = None, max_samples: int | None = None) -> CaseBook:
    """Read a benchmark and fit each point model's error mixture on the fit half, as ``python -m geolocate bench`` does.

    The halves are split by photographer.

    Args:
        spec: the benchmark's files.
        weights: ensemble weights by expert name; missing names get :func:`geolocate.presets.default_weight`.
        priors: prior names (default: all of :data:`geolocate.bench.PRIORS`).
        max_samples: keep the first N images.
    """
    from ..bench import fit_on, load_benchmark, split_halves
    from ..ensemble import DEFAULT_FLOOR
    from ..grid import DEFAULT_RESOLUTION
    from ..presets import default_weight

    data = load_benchmark(spec, priors=priors, on_error="skip", max_samples=max_samples)
    keys = data.groups if data.groups is not None else data.truth["id"].to_numpy()
    fit = split_halves(keys)
    if not _load_mixtures(spec, data.experts, fit):
        fit_on(data, np.flatnonzero(fit), False, DEFAULT_RESOLUTION, DEFAULT_FLOOR, f"{data.name} fit half")
        _store_mixtures(spec, data.experts, fit)
    w = {e.name: float((weights or {}).get(e.name, default_weight(e.name))) for e in data.experts}
    return CaseBook(data.name, data.truth, data.experts, w, fit, list(data.reports))


def _mixtures_path(spec: BenchmarkSpec, experts: list[Expert], fit: np.ndarray):
    """The disk-cache file of a casebook's fitted point mixtures (None when a file cannot be read).

    Keyed by the benchmark's files (path, size, modification time), the fit half and each point model's
    predictions and scale ladder.
    """
    from ..grid import cache_dir

    h = hashlib.sha1(b"casebook-mixtures-1")
    try:
        for f in [spec.ground_truth, *spec.predictions, *spec.attributes]:
            st = f.stat()
            h.update(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    except OSError:
        return None
    h.update(np.packbits(np.asarray(fit, dtype=bool)).tobytes())
    for e in experts:
        if isinstance(e, PointPredictions):
            h.update(e.name.encode())
            h.update(np.ascontiguousarray(e.scales_km).tobytes())
            h.update(np.ascontiguousarray(np.nan_to_num(e.latlon)).tobytes())
    return cache_dir() / f"casebook_{re.sub(r'[^A-Za-z0-9_.-]', '_', spec.name)[:40]}_{h.hexdigest()[:16]}.npz"


def _load_mixtures(spec: BenchmarkSpec, experts: list[Expert], fit: np.ndarray) -> bool:
    """Set each point model's mixture from the disk cache; False (nothing set) when it has none."""
    path = _mixtures_path(spec, experts, fit)
    points = [e for e in experts if isinstance(e, PointPredictions)]
    if path is None or not path.exists() or not points:
        return False
    try:
        with np.load(path, allow_pickle=False) as z:
            got = {e.name: np.asarray(z[e.name], dtype=np.float64) for e in points}
    except (OSError, KeyError, ValueError):
        return False
    if any(w.shape != e.scales_km.shape or not np.isfinite(w).all() for e, w in ((e, got[e.name]) for e in points)):
        return False
    for e in points:
        e.weights = got[e.name]
    return True


def _store_mixtures(spec: BenchmarkSpec, experts: list[Expert], fit: np.ndarray) -> None:
    from ..grid import write_cache

    path = _mixtures_path(spec, experts, fit)
    points = {e.name: e.weights for e in experts if isinstance(e, PointPredictions)}
    if path is not None and points:
        write_cache(path, lambda f: np.savez(f, **points))


@dataclass
class Case:
    """One benchmark image evaluated.

    Attributes:
        image_id: the benchmark's id.
        truth: (lat, lon) degrees.
        photo: Flickr addresses, or None when the id is not a Flickr file name.
        scene: scene class probabilities (may be empty).
        ensemble: the image's ensemble.
        weights: ensemble weights by expert name.
        table: one row per expert and the ensemble: expert, kind, weight, area_km2 (the converged area to
            truth, :data:`AreaMethod.CONVERGED`, as the benchmark reports it), rank (of the
            truth's cell in the drawn map), cells (in the map), distance_km (a point model's prediction,
            else the map's densest cell, to the truth), points (0-100, of area_km2).
            ``table.attrs["area_method"]`` names the method.
        refine_to: finest resolution of the maps and of the truth's cell.
    """

    image_id: str
    truth: tuple[float, float]
    photo: FlickrPhoto | None
    scene: dict[str, float]
    ensemble: Ensemble
    weights: dict[str, float]
    table: pd.DataFrame
    refine_to: int
    _dists: dict[str, CellDistribution] = field(default_factory=dict, repr=False)

    def distribution(self, name: str = "ensemble") -> CellDistribution:
        """The refined map of the ensemble or of one expert alone."""
        return self._dists[name]

    def model_areas(self) -> dict[str, float]:
        """Area to truth (km²) by expert name and "ensemble"."""
        return dict(zip(self.table["expert"], self.table["area_km2"].astype(float)))

    def summary(self, search_budget_km2: float | None = None) -> dict:
        """A JSON-ready record of the case (truth included: for server-side use, e.g. a classroom round).

        ``models`` and ``distances`` hold each model's area to truth (km²) and distance to the truth (km);
        with ``search_budget_km2``, ``search_area`` holds the ensemble's densest cells within it (H3 ids,
        :func:`geolocate.teach.reveal.search_area_cells`) for the reveal's outline.
        """
        out = {
            "image_id": self.image_id,
            "lat": self.truth[0],
            "lon": self.truth[1],
            "photo_url": self.photo.image_url if self.photo else None,
            "scene": self.scene,
            "models": {k: round(v, 3) for k, v in self.model_areas().items()},
            "distances": {str(k): round(float(v), 3) for k, v in zip(self.table["expert"], self.table["distance_km"])},
        }
        if search_budget_km2 is not None:
            from .reveal import search_area_cells

            out["search_area"] = search_area_cells(self.distribution("ensemble"), search_budget_km2)
            out["search_budget_km2"] = float(search_budget_km2)
        return out


def _truth_rank(dist: CellDistribution, lat: float, lon: float) -> int:
    i = dist.locate(lat, lon)
    return int(np.flatnonzero(dist.order() == i)[0]) + 1 if i >= 0 else -1


def evaluate_case(book: CaseBook, image_id: str, refine_to: int = CASE_REFINE_TO, priors: list[Expert] | None = None) -> Case:
    """Each expert's map and the ensemble's for one image, with areas to truth and ranks.

    Args:
        book: the benchmark.
        image_id: the image.
        refine_to: H3 resolution the densest cells are refined to, and of the truth's cell.
        priors: already-built prior experts to use instead of the book's, matched by name.
    """
    image_id = str(image_id).strip()
    lat, lon = book.truth_of(image_id)
    k = book.row(image_id)
    ens = book.ensemble(image_id, priors)
    weights = {n: book.weights.get(n, 1.0) for n in ens.names}
    configs = [("ensemble", ens.weight_vector(weights))] + [(n, np.eye(len(ens.names))[i]) for i, n in enumerate(ens.names)]
    kinds = {e.name: e.kind for e in ens.experts}
    by_name = {e.name: e for e in ens.experts}
    rows, dists = [], {}
    for name, w in configs:
        d = dists[name] = ens.distribution(w, refine_to=refine_to)
        area = area_to_truth(ens, lat, lon, w, AreaMethod.CONVERGED)
        e = by_name.get(name)
        if isinstance(e, PointPredictions) and e.present[k]:
            dist_km = float(haversine_km(e.latlon[k, 0], e.latlon[k, 1], lat, lon))
        else:
            dist_km = float(haversine_km(*d.mode(), lat, lon))
        rows.append({
            "expert": name, "kind": kinds.get(name, "ensemble"), "weight": weights.get(name, float("nan")),
            "area_km2": area, "rank": _truth_rank(d, lat, lon), "cells": len(d), "distance_km": dist_km, "points": float(points(area)),
        })
    table = pd.DataFrame(rows)
    table.attrs["area_method"] = str(AreaMethod.CONVERGED)
    return Case(image_id, (lat, lon), flickr_photo(image_id), book.scene(image_id), ens, weights, table, refine_to, dists)


# --------------------------------------------------------------------------------------------- all cases


def _table_key(book: CaseBook, res: int, method: AreaMethod = AreaMethod.BASE_GRID, finest: int | None = None) -> str:
    h = hashlib.sha1()
    key: list = [book.name, len(book), book.ids[:3], book.ids[-3:], sorted(book.weights.items()), res, 2]
    if method is not AreaMethod.BASE_GRID:  # base-grid tables keep the key they were stored under
        key += [str(method), finest]
    h.update(json.dumps(key).encode())
    for e in book.experts:
        h.update(e.name.encode())
        if isinstance(e, PointPredictions):
            h.update(np.round(e.weights, 6).tobytes())
            h.update(np.ascontiguousarray(e.latlon).tobytes())
    return h.hexdigest()[:16]


def case_table(
    book: CaseBook,
    progress: Progress | None = None,
    chunk: int = 128,
    res: int | None = None,
    cache: bool = True,
    only_cached: bool = False,
    method: AreaMethod = AreaMethod.BASE_GRID,
    finest: int | None = None,
) -> pd.DataFrame | None:
    """Area to truth (km²) of every image for each expert alone and for the ensemble, plus ``gain``.

    ``gain`` is log10 of the ensemble's area over the best single expert's (the expert with the highest
    RvA AUC over all images): negative where the ensemble helps.

    On the base grid (the default) the first call costs about 30 ms per image on two cores (every expert
    evaluated on every base cell); converged areas cost about 40 ms per image and configuration more.
    The table is then stored under the user cache directory, keyed by the book's contents, weights and method.

    Args:
        book: the benchmark.
        progress: called with (fraction done, message).
        chunk: images evaluated at a time.
        res: base grid resolution (default :data:`geolocate.grid.DEFAULT_RESOLUTION`).
        cache: read and write the disk cache.
        only_cached: return None instead of computing when the table is not on disk yet.
        method: :data:`AreaMethod.BASE_GRID` or :data:`AreaMethod.CONVERGED` (at ``finest``).
        finest: the finest refinement of converged areas (default: the benchmark's).

    Returns:
        DataFrame indexed by image id with one column per expert, "ensemble" and "gain"; ``attrs`` hold
        "best_single" (the expert ``gain`` compares with), "resolution" and "area_method".
    """
    from ..grid import DEFAULT_RESOLUTION, cache_dir, global_grid, write_cache
    from ..metrics import rva_auc

    method = AreaMethod(method)
    if method is AreaMethod.MAP:
        raise ValueError("case_table computes base-grid or converged areas; a map's area needs its drawing (evaluate_case)")
    res = DEFAULT_RESOLUTION if res is None else res
    report: Progress = progress or (lambda f, m: None)
    finest = AREA_FINEST if finest is None else finest
    path = cache_dir() / f"cases_{book.name}_{_table_key(book, res, method, finest)}.npz" if cache else None
    if path is not None and path.exists():
        z = np.load(path, allow_pickle=False)
        areas, names = z["areas"], [str(n) for n in z["names"]]
    elif only_cached:
        return None
    else:
        ens = Ensemble(book.experts, res=res)
        names = ens.names + ["ensemble"]
        configs = [np.eye(len(ens.names))[i] for i in range(len(ens.names))] + [ens.weight_vector(book.weights)]
        S = len(book)
        areas = np.empty((len(names), S))
        lat, lon = book.truth["lat"].to_numpy(), book.truth["lon"].to_numpy()
        for a in range(0, S, chunk):
            rows = np.arange(a, min(S, a + chunk))
            stack = ens.stack(rows, chunk=chunk)
            if method is AreaMethod.BASE_GRID:
                truth_cell = global_grid(res).locate(lat[rows], lon[rows])  # the ensemble's base grid
                for j, w in enumerate(configs):
                    areas[j, rows] = stack.base_areas(w, truth_cell)
            else:
                for k, row in enumerate(rows.tolist()):
                    view = stack.record(k)
                    areas[:, row] = [area_to_truth(view, lat[row], lon[row], w, method, finest=finest) for w in configs]
            del stack
            report(min(1.0, (a + chunk) / S), f"areas to truth: {min(S, a + chunk)} of {S} images")
        if path is not None:  # atomic, with a temporary file per writer: concurrent sessions never collide
            write_cache(path, lambda f: np.savez(f, areas=areas, names=np.array(names)))
    df = pd.DataFrame(areas.T, index=pd.Index(book.ids, name="image_id"), columns=names)
    singles = [n for n in names if n != "ensemble"]
    best = max(singles, key=lambda n: rva_auc(df[n].to_numpy()))
    df["gain"] = np.log10(df["ensemble"] / df[best])
    df.attrs["best_single"] = best
    df.attrs["resolution"] = res
    df.attrs["area_method"] = str(method)
    return df


def rva_curves(table: pd.DataFrame, experts: list[str] | None = None) -> pd.DataFrame:
    """Long table expert, area_km2, recall of the RvA curves of a :func:`case_table`.

    For :func:`geolocate.plots.rva_chart`.
    """
    from ..metrics import rva_curve

    cols = experts or [c for c in table.columns if c not in ("gain",)]
    parts = []
    for c in cols:
        a, r = rva_curve(table[c].to_numpy())
        parts.append(pd.DataFrame({"expert": c, "area_km2": a, "recall": r}))
    return pd.concat(parts, ignore_index=True)


def case_marks(table: pd.DataFrame, image_id: str, experts: list[str] | None = None, areas: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Where one case sits on each RvA curve of a :func:`case_table`.

    Args:
        table: the all-images table (its curves).
        image_id: the case.
        experts: columns to mark (default: every expert and the ensemble).
        areas: the case's own area to truth by expert (e.g. its converged areas, :attr:`Case.table`),
            instead of the table's row: the mark then shows that number on the table's curve.

    Returns:
        expert, area_km2 (the case's area to truth), recall (the curve's recall at that area, i.e. the
        share of images found within it).
    """
    from ..metrics import recall_at_area

    cols = experts or [c for c in table.columns if c not in ("gain",)]
    row = table.loc[image_id]
    area = [float(areas[c]) if areas is not None else float(row[c]) for c in cols]
    return pd.DataFrame({"expert": cols, "area_km2": area, "recall": [float(recall_at_area(table[c].to_numpy(), a)) for c, a in zip(cols, area)]})


def extremes(table: pd.DataFrame, k: int = 20) -> tuple[list[str], list[str]]:
    """Image ids where the ensemble helps most (most negative gain) and hurts most (most positive)."""
    g = table["gain"].sort_values(kind="stable")
    return g.index[:k].tolist(), g.index[::-1][:k].tolist()


def read_case_list(text: str, max_cases: int = 50) -> tuple[str | None, list[str]]:
    """Parse a list of cases.

    JSON ``{"title": ..., "cases": [id, ...]}`` or ``[id, ...]``, or ids separated by commas, spaces or new lines.

    Returns:
        (title or None, ids in order, duplicates removed).

    Raises:
        ValueError: with a message for the user.
    """
    text = (text or "").strip()
    if not text:
        raise ValueError("the case list is empty")
    title = None
    if text[0] in "[{":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}") from None
        if isinstance(doc, dict):
            title = doc.get("title")
            doc = doc.get("cases")
        if not isinstance(doc, list) or not all(isinstance(x, (str, int)) for x in doc):
            raise ValueError('expected {"title": "...", "cases": ["image id", ...]} or a list of image ids')
        ids = [str(x).strip() for x in doc]
        if title is not None and not isinstance(title, str):
            raise ValueError("the title must be text")
    else:
        ids = [p for p in re.split(r"[,\s]+", text) if p]
    ids = list(dict.fromkeys(i for i in ids if i))
    if not ids:
        raise ValueError("the case list is empty")
    if len(ids) > max_cases:
        raise ValueError(f"{len(ids)} cases: at most {max_cases} per round")
    return title, ids

