"""Per-photo latency of our GeoCLIP expert against the reference ``geoclip.GeoCLIP.predict``, and CPU throughput.

Same photo (the wheel's Kauai.png), same weights: the reference is ``GeoCLIP(from_pretrained=True,
clip_pretrained=False)`` (the wheel's head, location encoder and logit scale; a random HF CLIP ViT-L/14,
since model hubs are unreachable here) and its CLIP vision weights are converted into our open_clip
ViT-L-14 backbone. Prints both latencies, their ratio, whether the top-5 agree, and the batch
throughput (images/s) of backbone + GeoCLIP head + zero-shot heads.

    .venv/bin/python benchmarks/bench_geoclip.py [--runs 3] [--batch 16]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.setdefault("GEOLOCATE_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch

from geolocate.image.backbone import build_backbone, hf_clip_vision_to_open_clip
from geolocate.image.geoclip_expert import GeoCLIPExpert, load_geoclip_head
from geolocate.image.photo import load_photo
from geolocate.image.zeroshot import TASKS, class_embeddings, zero_shot_probs

KAUAI = Path(__import__("geoclip").__file__).resolve().parent / "images" / "Kauai.png"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args()
    from geoclip import GeoCLIP

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    torch.manual_seed(0)
    ref = GeoCLIP(from_pretrained=True, clip_pretrained=False).eval()
    bb = build_backbone("ViT-L-14/openai")
    bb.model.visual.load_state_dict(hf_clip_vision_to_open_clip(ref.image_encoder.CLIP.state_dict(), 24))
    head = load_geoclip_head()
    t = time.perf_counter()
    head.gallery_features()
    head.grid_features()
    print(f"one-off: gallery + grid location features ready in {time.perf_counter() - t:.1f} s (cached on disk after the first run)")

    def ours():
        photo = load_photo(KAUAI.read_bytes(), "Kauai.png")
        return GeoCLIPExpert(head, bb.encode_images([photo.image])).top_gallery(5)

    ours()  # warm-up
    ref_times, our_times = [], []
    for _ in range(args.runs):
        t = time.perf_counter()
        ref_gps, ref_p = ref.predict(str(KAUAI), 5)
        ref_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        gps, p = ours()
        our_times.append(time.perf_counter() - t)
    same = np.array_equal(gps, ref_gps.numpy().astype(np.float64)) and np.allclose(p, ref_p.numpy(), atol=1e-4)
    r, o = statistics.median(ref_times), statistics.median(our_times)
    print(f"GeoCLIP.predict (reference): {r:.2f} s/photo (median of {args.runs})")
    print(f"our GeoCLIP expert (photo decode + backbone + head + grid density): {o:.2f} s/photo")
    print(f"speed-up: {r / o:.1f}x; top-5 identical: {same} (max |dp| = {np.abs(p - ref_p.numpy()).max():.2e})")

    from PIL import Image

    base = load_photo(KAUAI.read_bytes()).image
    imgs = [base.resize((400 + 7 * i, 380 + 5 * i), Image.BICUBIC) for i in range(args.batch)]
    layers = [(t_, t_.layer_fn()) for t_ in TASKS if t_.name != "scene"]
    text = [class_embeddings(bb, t_.prompts(layer)) for t_, layer in layers]
    t = time.perf_counter()
    emb = bb.encode_images(imgs, batch_size=8)
    head.gallery_log_probs(emb)
    for c in text:
        zero_shot_probs(emb, c, 100.0)
    dt = time.perf_counter() - t
    print(f"throughput, ViT-L-14 + GeoCLIP head + zero-shot heads, batches of 8 on CPU: {len(imgs) / dt:.2f} images/s ({len(imgs)} images in {dt:.1f} s)")


if __name__ == "__main__":
    main()
