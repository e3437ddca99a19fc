"""Fixtures for ``embed``: offline, the tiny random backbone, generated photos and broken files."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from geolocate.embed.inputs import Item


@pytest.fixture(autouse=True)
def _offline(offline_weights):
    """Offline with an empty weights directory; any download attempt fails the test."""


def photo(seed: int, w: int = 160, h: int = 120) -> Image.Image:
    """A smooth random colour field (JPEG-friendly, different per seed)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((w, h), Image.BICUBIC)


def jpeg(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, **kw)
    return buf.getvalue()


def write_photos(folder: Path, n: int, start: int = 0, w: int = 160, h: int = 120) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(start, start + n):
        p = folder / f"p{i:04d}.jpg"
        p.write_bytes(jpeg(photo(i, w + (i % 3) * 8, h)))  # a few sizes: the crop offsets differ
        out.append(p)
    return out


@pytest.fixture(scope="session")
def scorer():
    """One tiny-random Scorer for the session (loading layers and prompts takes seconds)."""
    from geolocate.embed.scorer import Scorer

    return Scorer("tiny-random", device="cpu", top_k=16)


@pytest.fixture(scope="session")
def photo_items(tmp_path_factory) -> list[Item]:
    """12 good generated JPEGs as items."""
    d = tmp_path_factory.mktemp("photos")
    return [Item(p.name, str(p)) for p in write_photos(d, 12)]
