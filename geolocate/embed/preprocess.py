"""Decode and crop on CPU workers, normalise next to the model.

:func:`decode_crop` stops at the uint8 224x224 crop of :func:`geolocate.image.backbone.clip_preprocess`
(4x smaller to ship between processes than float32) and :func:`normalize` finishes it with the same
arithmetic, so ``normalize(decode_crop(x))`` equals ``clip_preprocess(load_photo(x).image)`` bit for bit
(tests/embed/test_preprocess.py). :func:`decode_jpeg_batch` is the GPU route (``torchvision.io.decode_jpeg``
on the device) for throughput; it resizes on the device, so its pixels differ slightly from the CPU route.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..image.backbone import CLIP_MEAN, CLIP_STD, IMAGE_SIZE, resize_shortest_size
from ..image.photo import PhotoError, load_photo
from .inputs import Item, read_source

ERROR_KINDS = ("missing", "unreadable", "empty", "not an image", "corrupt", "too large", "failed")
"""Reasons a row has no result (``error_kind`` column), in report order."""


def classify_photo_error(message: str) -> str:
    """One of :data:`ERROR_KINDS` for a :class:`PhotoError` message."""
    m = message.lower()
    if "empty" in m:
        return "empty"
    if "not an image" in m or "heic/heif photos need" in m:
        return "not an image"
    if "bomb" in m or "megapixel" in m or "mib" in m:
        return "too large"
    if "corrupt" in m or "truncated" in m or "no pixels" in m:
        return "corrupt"
    return "failed"


def crop_uint8(x: torch.Tensor, size: int = IMAGE_SIZE) -> torch.Tensor:
    """Shortest side to ``size`` (antialiased bicubic, torchvision v2) and centre crop: uint8 (3, size, size)."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2 import functional as tvF

    h, w = resize_shortest_size(x.shape[-2], x.shape[-1], size)
    x = tvF.resize(x, [h, w], interpolation=InterpolationMode.BICUBIC, antialias=True)
    top, left = int((h - size) / 2.0), int((w - size) / 2.0)
    return x[..., top : top + size, left : left + size].contiguous()


def decode_crop(data: bytes, name: str = "photo", size: int = IMAGE_SIZE) -> torch.Tensor:
    """A photo's bytes to the uint8 crop (3, size, size) the backbone sees (EXIF orientation applied).

    Raises:
        PhotoError: the bytes are not a usable photo.
    """
    image = load_photo(data, name).image
    x = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()
    return crop_uint8(x, size)


def normalize(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 crops (B, 3, H, W) to CLIP-normalised float32, on the tensor's device."""
    from torchvision.transforms.v2 import functional as tvF

    # Same fused rescale as clip_preprocess (HF folds 1/255 into mean and std), so the values agree to the bit.
    scale = 1.0 / (1.0 / 255.0)
    mean, std = torch.tensor(CLIP_MEAN) * scale, torch.tensor(CLIP_STD) * scale
    return tvF.normalize(pixels.to(torch.float32), mean.tolist(), std.tolist())


@dataclass
class DecodedBatch:
    """One micro-batch after decoding.

    Attributes:
        shard: shard number; batch: batch number inside the shard.
        items: the batch's items (in order).
        pixels: uint8 (n_ok, 3, 224, 224) crops of the good rows, in order.
        ok: bool (n,) which rows decoded.
        error_kind, error: per row, "" when ok.
        decode_s: seconds spent reading and decoding (worker time).
    """

    shard: int
    batch: int
    items: list[Item]
    pixels: torch.Tensor
    ok: np.ndarray
    error_kind: list[str] = field(default_factory=list)
    error: list[str] = field(default_factory=list)
    decode_s: float = 0.0


def decode_items(shard: int, batch: int, items: list[Item], size: int = IMAGE_SIZE) -> DecodedBatch:
    """Read and decode a micro-batch; a bad photo becomes a reason, never an exception."""
    t = time.perf_counter()
    crops, ok, kinds, errors = [], np.zeros(len(items), bool), [], []
    for i, it in enumerate(items):
        kind = msg = ""
        try:
            crops.append(decode_crop(read_source(it.source), it.id, size))
            ok[i] = True
        except FileNotFoundError:
            kind, msg = "missing", f"{it.id}: no such file ({it.source or 'no path in the manifest'})"
        except PhotoError as err:
            kind, msg = classify_photo_error(str(err)), str(err)
        except OSError as err:
            kind, msg = "unreadable", f"{it.id}: cannot read ({err.strerror or err})"
        except Exception as err:  # noqa: BLE001 - one odd file must never stop a run of millions
            kind, msg = "failed", f"{it.id}: {type(err).__name__}: {err}"
        kinds.append(kind)
        errors.append(msg)
    pixels = torch.stack(crops) if crops else torch.zeros((0, 3, size, size), dtype=torch.uint8)
    return DecodedBatch(shard, batch, list(items), pixels, ok, kinds, errors, time.perf_counter() - t)


def decode_jpeg_batch(datas: list[bytes], device: str | torch.device, size: int = IMAGE_SIZE) -> tuple[torch.Tensor, np.ndarray]:
    """JPEG bytes to uint8 crops (n_ok, 3, size, size) on ``device`` with ``torchvision.io.decode_jpeg``.

    nvJPEG on CUDA and an on-device resize; rows that fail are False in the mask (decode them on CPU).
    EXIF orientation is applied; CMYK and grayscale JPEGs come out as RGB.
    """
    from torchvision.io import ImageReadMode, decode_jpeg

    ok = np.zeros(len(datas), bool)
    idx = [i for i, d in enumerate(datas) if d[:3] == b"\xff\xd8\xff"]
    out: list[torch.Tensor] = []
    if idx:
        tensors = [torch.frombuffer(bytearray(datas[i]), dtype=torch.uint8) for i in idx]
        try:
            imgs = decode_jpeg(tensors, mode=ImageReadMode.RGB, device=device, apply_exif_orientation=True)
        except RuntimeError:  # one bad file fails the whole batched call: retry one by one
            imgs = []
            for t in tensors:
                try:
                    imgs.append(decode_jpeg(t, mode=ImageReadMode.RGB, device=device, apply_exif_orientation=True))
                except RuntimeError:
                    imgs.append(None)
        for i, im in zip(idx, imgs):
            if im is not None and im.ndim == 3 and im.shape[1] > 0 and im.shape[2] > 0:
                out.append(crop_uint8(im, size))
                ok[i] = True
    pixels = torch.stack(out) if out else torch.zeros((0, 3, size, size), dtype=torch.uint8, device=device)
    return pixels, ok
