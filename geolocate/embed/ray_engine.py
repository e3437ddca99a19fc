"""``--engine ray``: the same stages on Ray Data (pinned in requirements-ray.txt; Ray is optional).

    from_items(micro-batches) -> map(decode, CPU tasks) -> map_batches(Scorer actor pool, GPUs) -> driver

Rows are the planner's micro-batches rather than single photos so that the model sees exactly the
batches of the local engine (the same bytes on CPU) and a shard is assembled from known pieces. Ray's
ordered execution (``preserve_order``) hands results back in plan order, so, as locally, at most one
shard is in flight when a run dies. The driver writes the shards (atomic rename, resume check): at
2,000 images/s that is ~10 MB/s of Parquet, far below what one process writes.

``--ray-address`` joins an existing cluster (``ray.init(address=...)``); without it a local Ray
starts with this machine's cores (and GPUs) and stops at the end.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from typing import Any

import numpy as np

from .preprocess import DecodedBatch, decode_items

LAST_TIMING: dict[str, float] = {}
"""Model, expert and actor set-up (model loading) seconds summed over the actors of the last run (for the report)."""


def _decode_row(row: dict) -> dict:
    items = pickle.loads(row["items"])
    db = decode_items(int(row["shard"]), int(row["batch"]), items)
    return {"shard": row["shard"], "batch": row["batch"], "payload": pickle.dumps(db, protocol=5)}


class _ScorerActor:
    """A Ray Data callable class: builds the :class:`~geolocate.embed.scorer.Scorer` once per actor."""

    def __init__(self, backbone: str, device: str, top_k: int, res: int, threads: int | None, sha256: str, experts):
        import time

        from .scorer import Scorer

        t = time.perf_counter()
        self.scorer = Scorer(backbone, device, top_k, res, threads, sha256=sha256, experts=experts)
        self.setup_s = time.perf_counter() - t  # reported once, with the first batch

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = []
        for payload in batch["payload"]:
            db: DecodedBatch = pickle.loads(payload)
            before = dict(self.scorer.timing)
            res = self.scorer.score(db.pixels)
            db.pixels = db.pixels[:0]  # the crops stay here; only results travel back
            timing = {k: self.scorer.timing[k] - before[k] for k in before}
            timing["setup_s"], self.setup_s = self.setup_s, 0.0
            out.append(pickle.dumps((db, res, timing), protocol=5))
        return {"shard": batch["shard"], "batch": batch["batch"], "payload": np.array(out, dtype=object)}


def run_ray(batches: list[tuple[int, int, list]], config, sha256: str) -> Iterator[tuple[DecodedBatch, dict]]:
    """Run the decode and model stages on Ray Data; yields (decoded batch, results) in plan order.

    Raises:
        ImportError: Ray is not installed (``pip install -r requirements-ray.txt``).
    """
    try:
        import ray
        import ray.data
    except ImportError as err:
        raise ImportError(f"--engine ray needs Ray Data ({err}). Fix: pip install -r requirements-ray.txt") from None
    LAST_TIMING.clear()
    LAST_TIMING.update({"model_s": 0.0, "experts_s": 0.0, "setup_s": 0.0})
    if not batches:
        return
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=config.ray_address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    import torch

    # Ray gives a 1-CPU actor one OpenMP thread; the local engine's thread count keeps CPU bytes equal.
    threads = config.threads or torch.get_num_threads()
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = False
        gpus = int(ray.cluster_resources().get("GPU", 0))
        use_gpu = config.device != "cpu" and gpus > 0
        rows = [{"shard": s, "batch": b, "items": pickle.dumps(items, protocol=5)} for s, b, items in batches]
        ds: Any = ray.data.from_items(rows, override_num_blocks=len(rows))
        # 0.5 CPU, unlike the actor's 1: equal resources would make Ray Data fuse decoding into the model
        # actor (one process doing both in turn); apart, decode tasks run beside it (two per core hide file I/O).
        ds = ds.map(_decode_row, num_cpus=0.5)
        ds = ds.map_batches(
            _ScorerActor,
            fn_constructor_kwargs={"backbone": config.backbone, "device": "cuda" if use_gpu else "cpu", "top_k": config.top_k,
                                   "res": config.res, "threads": threads, "sha256": sha256,
                                   "experts": config.experts},
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=gpus if use_gpu else 1),
            num_gpus=1 if use_gpu else 0,
            num_cpus=1,
        )
        for row in ds.iter_rows():
            db, res, timing = pickle.loads(row["payload"])
            for k, v in timing.items():
                LAST_TIMING[k] = LAST_TIMING.get(k, 0.0) + v
            yield db, res
    finally:
        if started_here:
            ray.shutdown()
