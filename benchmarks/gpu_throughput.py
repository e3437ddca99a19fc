"""Whole-pipeline GPU throughput: JPEG files on disk -> decode -> resize/crop -> ViT-L/14 -> experts -> Parquet.

One short script for a CUDA machine (a few minutes; no GPU was lent to the session that wrote it, so
its GPU numbers are still to be measured). Prints images/s for each stage alone, then end to end through
``embed`` (nvJPEG decode on the device, and CPU decode workers), so the bottleneck is visible; then
checks that bf16 keeps GeoCLIP's top-5 of fp32. Target: >= 2,000 images/s end to end on one H100/H200.

    .venv/bin/python benchmarks/gpu_throughput.py                  # on the GPU machine, ~3-5 min
    .venv/bin/python benchmarks/gpu_throughput.py --device cpu --backbone tiny-random --n 128 --batch 16   # dry run of the code paths

Uses the real ViT-L-14/openai weights when the weights directory has them, else the architecture with
random weights (pretrained=None: same compute, so the same timings; the top-5 check is then weaker).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("GEOLOCATE_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch


def _make(args: tuple[str, int]) -> int:
    from PIL import Image

    path, seed = args
    rng = np.random.default_rng(seed)
    base = np.asarray(Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize((640, 480), Image.BICUBIC), np.int16)
    grain = rng.integers(-12, 13, (480, 640, 1), dtype=np.int16)
    Image.fromarray(np.clip(base + grain, 0, 255).astype(np.uint8)).save(path, quality=90)
    return os.path.getsize(path)


def _cpu_decode(path: str) -> int:
    from geolocate.embed.preprocess import decode_crop

    return int(decode_crop(Path(path).read_bytes()).shape[0])


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:9.1f} images/s"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4096, help="generated 640x480 JPEGs")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--workers", type=int, default=None, help="reader/decoder processes (default cores - 1)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--backbone", default="ViT-L-14/openai")
    ap.add_argument("--skip-e2e-cpu-decode", action="store_true")
    args = ap.parse_args()
    dev = args.device
    if dev.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device: this script is for a GPU machine (--device cpu --backbone tiny-random for a dry run)")
        return 2
    from geolocate.embed import EmbedConfig, embed_collection
    from geolocate.embed.inputs import Item
    from geolocate.embed.preprocess import decode_jpeg_batch
    from geolocate.embed.run import default_workers
    from geolocate.embed.scorer import Scorer
    from geolocate.embed.store import build_table, write_atomic
    from geolocate.image.backbone import build_backbone
    from geolocate.image.weights import TINY_RANDOM, WeightsMissing, resolve_checkpoint

    workers = default_workers() if args.workers is None else args.workers
    name = torch.cuda.get_device_name() if dev.startswith("cuda") else "CPU (dry run)"
    print(f"{name}; {os.cpu_count()} cores; torch {torch.__version__}; batch {args.batch}; {workers} workers")
    tmp = Path(tempfile.mkdtemp(prefix="gpu_tp_"))
    t = time.perf_counter()
    paths = [str(tmp / f"img{i:05d}.jpg") for i in range(args.n)]
    # One pool for the whole script, forked before torch starts its thread pools (a fork after that can hang).
    pool = ProcessPoolExecutor(max(1, workers))
    sizes = list(pool.map(_make, [(p, i) for i, p in enumerate(paths)], chunksize=32))
    print(f"generated {args.n} JPEGs 640x480 ({np.mean(sizes) / 1024:.0f} KiB each) in {time.perf_counter() - t:.1f} s")

    t = time.perf_counter()
    ckpt = None
    if args.backbone != TINY_RANDOM:
        try:
            ckpt = resolve_checkpoint(args.backbone, allow_download=False)
        except WeightsMissing:
            ckpt = None
    bb = build_backbone(args.backbone, ckpt, device=dev)
    scorer = Scorer(bb, device=dev)
    print(f"backbone {args.backbone}, weights: {ckpt or 'RANDOM (architecture only)'}; precision {scorer.precision}; "
          f"experts {[e.name for e in scorer.experts]}; loaded in {time.perf_counter() - t:.1f} s")

    # --- stages alone ---------------------------------------------------------------------------
    print("stage by stage (each alone, after a warm-up):")
    t = time.perf_counter()
    datas = [Path(p).read_bytes() for p in paths]
    print(f"  read files (page cache warm)   {rate(len(datas), time.perf_counter() - t)}")
    sub = paths[: min(len(paths), 1024)]
    list(pool.map(_cpu_decode, sub[:64]))
    t = time.perf_counter()
    list(pool.map(_cpu_decode, sub, chunksize=16))
    print(f"  CPU decode+resize+crop, {workers} procs {rate(len(sub), time.perf_counter() - t)}")
    pool.shutdown()
    decode_jpeg_batch(datas[: args.batch], dev)
    sync(dev)
    t = time.perf_counter()
    crops = []
    for i in range(0, len(datas), args.batch):
        px, ok = decode_jpeg_batch(datas[i : i + args.batch], dev)
        crops.append(px)
    sync(dev)
    print(f"  device decode+resize+crop       {rate(len(datas), time.perf_counter() - t)}  (torchvision.io.decode_jpeg on {dev})")
    pixels = torch.cat(crops)
    scorer.score(pixels[: args.batch])
    scorer.timing = {"model_s": 0.0, "experts_s": 0.0}
    results = []
    t = time.perf_counter()
    for i in range(0, len(pixels), args.batch):
        results.append(scorer.score(pixels[i : i + args.batch]))
    total = time.perf_counter() - t
    print(f"  backbone (normalise + ViT)      {rate(len(pixels), scorer.timing['model_s'])}")
    print(f"  experts (GeoCLIP 100K gallery + grid, zero-shot) {rate(len(pixels), scorer.timing['experts_s'])}")
    print(f"  backbone + experts              {rate(len(pixels), total)}")
    cols = scorer.columns()
    merged = {c: np.concatenate([r[c] for r in results]) for c in cols}
    items = [Item(Path(p).name, p) for p in paths]
    t = time.perf_counter()
    table = build_table(items, np.ones(len(items), bool), [""] * len(items), [""] * len(items), merged, cols)
    write_atomic(table, tmp / "stage.parquet")
    print(f"  Arrow table + Parquet (lz4)     {rate(len(items), time.perf_counter() - t)}  ({os.path.getsize(tmp / 'stage.parquet') / len(items) / 1024:.1f} KiB per photo)")

    # --- end to end -----------------------------------------------------------------------------
    print("end to end through embed (files on disk -> Parquet shards):")
    runs = [("gpu", "device decode (nvJPEG), readers in workers")] if dev.startswith("cuda") else [("gpu", "torchvision decoder on CPU (dry run)")]
    if not args.skip_e2e_cpu_decode:
        runs.append(("cpu", "CPU decode workers"))
    for decode, label in runs:
        cfg = EmbedConfig(backbone=args.backbone, device=dev, batch_size=args.batch, shard_size=args.batch * 32, workers=workers, decode=decode,
                          top_k=scorer.top_k)
        rep = embed_collection(items, tmp / f"e2e_{decode}", cfg, progress=None, scorer=scorer)
        print(f"  {label:45s} {rep.images_per_s:9.1f} images/s  ({rep.images_done} photos in {rep.seconds:.1f} s; model {rep.model_s:.1f} s, "
              f"experts {rep.experts_s:.1f} s, decode {rep.decode_s:.1f} worker-s, parquet {rep.write_s:.1f} s)")

    # --- bf16 vs fp32 ---------------------------------------------------------------------------
    if dev.startswith("cuda") and scorer.head is not None:
        x = pixels[:64]
        from geolocate.embed.preprocess import normalize

        with torch.no_grad():
            e32 = bb.model.encode_image(normalize(x)).float()
            with torch.autocast("cuda", dtype=torch.bfloat16):
                e16 = bb.model.encode_image(normalize(x)).float()
            gal = scorer._gal_t
            top = [torch.topk(torch.nn.functional.normalize(scorer._mlp(e), dim=1) @ gal, 5, dim=1).indices for e in (e32, e16)]
        agree = (top[0] == top[1]).all(dim=1).float().mean().item()
        print(f"bf16 vs fp32 GeoCLIP top-5 gallery indices identical for {agree:.0%} of 64 photos" + (" (random weights: weak check)" if ckpt is None else ""))
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
