"""CPU throughput of ``python -m geolocate embed`` on generated 640x480 JPEGs (prints numbers; not a test).

    .venv/bin/python benchmarks/bench_embed.py [--n 2000] [--vit-n 200] [--predict-n 20] [--no-ray] [--no-vit]

1. tiny random backbone, local engine, on ``--n`` photos: images/s end to end, decode vs model share;
   then the same input on the Ray engine (local Ray): overhead in %.
2. ViT-L/14 architecture with random weights (``pretrained=None``: same compute as the real weights)
   on ``--vit-n`` photos through ``embed``, against the in-process predict loop
   (``load_photo`` + ``image_experts`` one photo at a time) on ``--predict-n`` of them, per image.
Photos are generated into a temporary folder (smooth colour fields with grain, JPEG quality 90).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from _common import REPO  # noqa: F401  (puts the checkout on sys.path)

os.environ.setdefault("GEOLOCATE_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
from PIL import Image


def make_photos(folder: Path, n: int, w: int = 640, h: int = 480) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        base = np.asarray(Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize((w, h), Image.BICUBIC), np.int16)
        grain = rng.integers(-12, 13, (h, w, 1), dtype=np.int16)
        p = folder / f"img{i:05d}.jpg"
        Image.fromarray(np.clip(base + grain, 0, 255).astype(np.uint8)).save(p, quality=90)
        out.append(p)
    return out


def run(items, out: Path, scorer, **kw):
    from geolocate.embed import EmbedConfig, embed_collection

    cfg = EmbedConfig(backbone=scorer.backbone.spec, top_k=scorer.top_k, **kw)
    t = time.perf_counter()
    rep = embed_collection(items, out, cfg, progress=None, scorer=scorer)
    return rep, time.perf_counter() - t


def line(name: str, rep, wall: float) -> str:
    busy = rep.decode_s + rep.model_s + rep.experts_s
    return (f"{name}: {rep.images_done} photos, {rep.images_per_s:.1f} images/s end to end ({wall:.1f} s with setup); "
            f"decode {rep.decode_s:.1f} worker-s ({100 * rep.decode_s / busy:.0f}%), model {rep.model_s:.1f} s ({100 * rep.model_s / busy:.0f}%), "
            f"experts {rep.experts_s:.1f} s ({100 * rep.experts_s / busy:.0f}%), parquet {rep.write_s:.2f} s")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--vit-n", type=int, default=200)
    ap.add_argument("--predict-n", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--no-vit", action="store_true")
    args = ap.parse_args()
    from geolocate.embed.inputs import Item
    from geolocate.embed.run import default_workers
    from geolocate.embed.scorer import Scorer

    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} cores, torch {torch.__version__} with {torch.get_num_threads()} threads, load average {load:.1f} at start"
          + (" (machine shared: numbers are pessimistic)" if load > (os.cpu_count() or 1) else ""))
    tmp = Path(tempfile.mkdtemp(prefix="bench_embed_"))
    t = time.perf_counter()
    photos = make_photos(tmp / "photos", max(args.n, args.vit_n))
    print(f"generated {len(photos)} 640x480 JPEGs in {time.perf_counter() - t:.1f} s ({sum(p.stat().st_size for p in photos) / len(photos) / 1024:.0f} KiB each)")
    items = [Item(p.name, str(p)) for p in photos]
    workers = default_workers() if args.workers is None else args.workers
    common = {"batch_size": args.batch_size, "shard_size": args.batch_size * 16, "workers": workers}

    t = time.perf_counter()
    tiny = Scorer("tiny-random", device="cpu")
    print(f"tiny scorer loaded in {time.perf_counter() - t:.1f} s")
    rep, wall = run(items[: args.n], tmp / "tiny_local", tiny, **common)
    print(line(f"tiny, local engine, {workers} decode workers", rep, wall))
    local_rate = rep.images_per_s
    if not args.no_ray:
        try:
            import ray  # noqa: F401
        except ImportError:
            print("ray not installed: pip install -r requirements-ray.txt")
        else:
            rep, wall = run(items[: args.n], tmp / "tiny_ray", tiny, engine="ray", **common)
            import pyarrow.parquet as pq

            same = all(pq.read_table(tmp / "tiny_ray" / f.name).equals(pq.read_table(f)) for f in sorted((tmp / "tiny_local").glob("shard-*.parquet")))
            print(line("tiny, ray engine (local Ray)", rep, wall))
            steady = rep.images_done / max(rep.seconds - rep.engine_setup_s, 1e-9)
            print(f"ray overhead vs local: {100 * (local_rate / rep.images_per_s - 1):+.0f}% time per image including the actor's model "
                  f"loading ({rep.engine_setup_s:.1f} s), {100 * (local_rate / steady - 1):+.0f}% without it; "
                  f"wall with Ray start-up {wall:.1f} s; shards identical to local: {same}")
    if not args.no_vit:
        from geolocate.image import backbone as B
        from geolocate.image import image_experts, load_photo

        t = time.perf_counter()
        vit = B.build_backbone("ViT-L-14/openai", None)  # pretrained=None: random weights, the real compute
        B._CACHE["ViT-L-14/openai"] = vit  # the predict loop below reuses it instead of looking for weights
        scorer = Scorer(vit, device="cpu")
        print(f"ViT-L/14 (random weights) scorer loaded in {time.perf_counter() - t:.1f} s")
        rep, wall = run(items[: args.vit_n], tmp / "vit", scorer, **(common | {"batch_size": 16, "shard_size": 256}))
        print(line("ViT-L/14, local engine", rep, wall))
        t = time.perf_counter()
        for p in photos[: args.predict_n]:
            image_experts([load_photo(p.read_bytes(), p.name)], backbone="ViT-L-14/openai")
        per = (time.perf_counter() - t) / args.predict_n
        print(f"ViT-L/14, in-process predict loop (load_photo + image_experts per photo, {args.predict_n} photos): {1 / per:.2f} images/s "
              f"= {per:.2f} s per image; embed: {1 / rep.images_per_s:.2f} s per image ({per * rep.images_per_s:.2f}x faster)")
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
