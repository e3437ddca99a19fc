"""GPU throughput of backbone + heads (fp32 vs bf16) and whether bf16 keeps GeoCLIP's top-5 unchanged.

One short prepared script for a CUDA machine (NOT run for this task: no GPU was lent). It uses the real
ViT-L-14/openai weights when the weights directory has them, else the architecture with random weights
(timings are the same; top-5 agreement is then checked on random features, a weaker test).

    .venv/bin/python benchmarks/gpu_throughput.py [--batches 32,128] [--iters 10]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch

from geolocate.image.backbone import build_backbone, clip_preprocess
from geolocate.image.geoclip_expert import load_geoclip_head
from geolocate.image.photo import load_photo
from geolocate.image.weights import WeightsMissing, resolve_checkpoint

KAUAI = Path(__import__("geoclip").__file__).resolve().parent / "images" / "Kauai.png"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", default="32,128")
    ap.add_argument("--iters", type=int, default=10)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: this script is for a GPU machine")
        return 2
    dev = torch.device("cuda")
    try:
        ckpt = resolve_checkpoint("ViT-L-14/openai", allow_download=False)
    except WeightsMissing:
        ckpt = None
    bb = build_backbone("ViT-L-14/openai", ckpt, device="cuda")
    print(f"{torch.cuda.get_device_name()}; weights: {ckpt or 'RANDOM (architecture only)'}")
    head = load_geoclip_head()
    head.mlp.to(dev)
    gal = head.gallery_features().to(dev)
    photo = load_photo(KAUAI.read_bytes()).image
    x1 = clip_preprocess(photo)[None].to(dev)

    def top5(dtype):
        with torch.no_grad(), torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32):
            e = bb.model.encode_image(x1).float()
            f = torch.nn.functional.normalize(head.mlp(e).float(), dim=1)
            p = (head.logit_scale * f @ gal.t()).softmax(-1)
        v, i = p.topk(5)
        return i.cpu().numpy(), v.cpu().numpy()

    i32, p32 = top5(torch.float32)
    i16, p16 = top5(torch.bfloat16)
    print(f"bf16 top-5 indices equal fp32: {np.array_equal(i32, i16)}; max |dp| {np.abs(p32 - p16).max():.2e}")
    for b in [int(s) for s in args.batches.split(",")]:
        x = x1.repeat(b, 1, 1, 1)
        for dtype in (torch.float32, torch.bfloat16):
            with torch.no_grad(), torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32):
                for _ in range(2):
                    head.mlp(bb.model.encode_image(x).float())
                torch.cuda.synchronize()
                t = time.perf_counter()
                for _ in range(args.iters):
                    f = torch.nn.functional.normalize(head.mlp(bb.model.encode_image(x).float()).float(), dim=1)
                    (head.logit_scale * f @ gal.t()).softmax(-1)
                torch.cuda.synchronize()
            dt = time.perf_counter() - t
            print(f"batch {b:4d} {str(dtype).split('.')[-1]:9s}: {b * args.iters / dt:8.1f} images/s (backbone + GeoCLIP head + 100K gallery softmax)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
