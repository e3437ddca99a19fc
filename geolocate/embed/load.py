"""Experts from stored ``embed`` results, without running the backbone again.

:func:`experts_from_embeddings` rebuilds, per photo, the same experts ``predict`` builds in process:
GeoCLIP from the stored head features (refinable, exact) and the zero-shot attribute experts from the
stored class probabilities with the shipped layers. :func:`album_experts` combines several photos of
one place (product of densities), as ``predict --album`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..experts.base import Expert, ExpertKind
from .store import read_manifest, read_results


@dataclass
class StoredRows:
    """Stored results of some photos, as arrays aligned with ``ids``.

    Attributes:
        ids: photo ids (n).
        ok: bool (n,) whether the photo had a result.
        error: reasons for bad rows ("" when ok).
        lat, lon: ground truth in degrees (NaN when unknown), (n,).
        geoclip_features: float32 (n, 512) or None when GeoCLIP was unavailable.
        probs: zero-shot task column -> float32 (n, K).
        manifest: the output folder's manifest.
    """

    ids: list[str]
    ok: np.ndarray
    error: list[str]
    lat: np.ndarray
    lon: np.ndarray
    geoclip_features: np.ndarray | None
    probs: dict[str, np.ndarray]
    manifest: dict


def _fixed(table, name: str, dtype) -> np.ndarray:
    col = table.column(name).combine_chunks()
    width = col.type.list_size
    # .values keeps the zero placeholders of null (bad) rows, which .flatten() would drop.
    values = col.values.slice(col.offset * width, len(col) * width)
    return np.array(values.to_numpy(zero_copy_only=False), dtype=dtype).reshape(len(col), width)


def load_rows(out: str | Path, ids: list[str] | None = None) -> StoredRows:
    """Read stored rows (all, or ``ids`` in that order).

    Raises:
        FileNotFoundError: ``out`` is not an embed output folder.
        KeyError: some ids are not stored.
    """
    man = read_manifest(Path(out))
    cols = man["columns"]
    zs = [c for c in cols if c.startswith("zs_")]
    names = ["id", "ok", "error", "lat", "lon"] + (["geoclip_features"] if "geoclip_features" in cols else []) + zs
    t = read_results(Path(out), ids, names)
    return StoredRows(
        t.column("id").to_pylist(),
        np.asarray(t.column("ok").to_numpy(zero_copy_only=False), bool),
        t.column("error").to_pylist(),
        np.asarray(t.column("lat").to_numpy(zero_copy_only=False), float),
        np.asarray(t.column("lon").to_numpy(zero_copy_only=False), float),
        _fixed(t, "geoclip_features", np.float32) if "geoclip_features" in cols else None,
        {c: _fixed(t, c, np.float32) for c in zs},
        man,
    )


def _builders(manifest: dict):
    """(GeoCLIP head or None, [(task, column, layer, class prior, expert name)]) checked against the manifest."""
    from ..image.zeroshot import TASKS, photo_class_prior
    from .scorer import task_column

    models = manifest["models"]
    by_col = {e["columns"][0]: e for e in models["experts"] if e["kind"] == "zero-shot"}
    head = None
    if any(e["kind"] == "geoclip" for e in models["experts"]):
        from ..image.geoclip_expert import load_geoclip_head

        head = load_geoclip_head()
        if models.get("geoclip_head_key") and head.key != models["geoclip_head_key"]:
            raise ValueError(f"the stored GeoCLIP features were made with location encoder {models['geoclip_head_key']}; this machine has {head.key}")
    tasks = []
    for task in TASKS:
        col = task_column(task.name)
        if col not in by_col:
            continue
        layer = task.layer_fn()
        if list(layer.classes) != by_col[col]["classes"]:
            raise ValueError(f"{task.name}: the stored probabilities are over other classes than this machine's layer")
        tasks.append((task, col, layer, photo_class_prior(layer), by_col[col]["name"]))
    geoclip_name = next((e["name"] for e in models["experts"] if e["kind"] == "geoclip"), "GeoCLIP")
    return head, geoclip_name, tasks


def experts_from_embeddings(out: str | Path, ids: list[str] | None = None) -> list[list[Expert]]:
    """Image experts per photo from stored results, as ``predict`` would build them for that photo alone.

    Args:
        out: an ``embed`` output folder.
        ids: photos to rebuild (default all, in stored order).

    Returns:
        One list per id: GeoCLIP then the zero-shot attribute experts; an empty list for a bad photo.
    """
    from ..experts.attribute import AttributeExpert
    from ..image.geoclip_expert import GeoCLIPExpert

    rows = load_rows(out, ids)
    head, gname, tasks = _builders(rows.manifest)
    res = int(rows.manifest["models"]["res"])
    result: list[list[Expert]] = []
    feats = rows.geoclip_features if rows.geoclip_features is not None else np.zeros((len(rows.ids), 0), np.float32)
    for i in range(len(rows.ids)):
        if not rows.ok[i]:
            result.append([])
            continue
        ex: list[Expert] = []
        if head is not None:
            ex.append(GeoCLIPExpert(head, None, name=gname, res=res, features=feats[i : i + 1]))
        for task, col, layer, prior, name in tasks:
            ex.append(AttributeExpert(layer, rows.probs[col][i], prior, task.temperature, name=name, kind=ExpertKind.ATTRIBUTE))
        result.append(ex)
    return result


def album_experts(out: str | Path, ids: list[str]) -> tuple[list[Expert], list[str]]:
    """Image experts of an album (photos of one place): one expert per kind, the product over its good photos.

    Returns:
        (experts, messages): messages name the photos left out (bad rows) and why.
    """
    from ..image.geoclip_expert import GeoCLIPExpert
    from ..image.zeroshot import AlbumAttributeExpert

    rows = load_rows(out, ids)
    messages = [f"left out of the album: {e}" for ok, e in zip(rows.ok, rows.error) if not ok]
    keep = np.flatnonzero(rows.ok)
    if not len(keep):
        return [], messages + ["no usable photo in the album"]
    head, gname, tasks = _builders(rows.manifest)
    res = int(rows.manifest["models"]["res"])
    ex: list[Expert] = []
    if head is not None and rows.geoclip_features is not None:
        ex.append(GeoCLIPExpert(head, None, name=gname, res=res, features=rows.geoclip_features[keep]))
    for task, col, layer, prior, name in tasks:
        ex.append(AlbumAttributeExpert(layer, rows.probs[col][keep], prior, task.temperature, name=name))
    return ex, messages
