"""Fixtures for the image-expert tests: offline, tiny random backbones, the geoclip wheel's real head."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

KAUAI = Path(__import__("geoclip").__file__).resolve().parent / "images" / "Kauai.png"


@pytest.fixture(autouse=True)
def _offline(offline_weights):
    """Every test is offline with an empty weights directory; downloading is a failure."""


def jpeg_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", **kw)
    return buf.getvalue()


def png_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", **kw)
    return buf.getvalue()


def gradient(w: int = 64, h: int = 48) -> Image.Image:
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), np.full_like(x, 90)], -1).astype(np.uint8)
    return Image.fromarray(a, "RGB")


@pytest.fixture(scope="session")
def kauai_bytes() -> bytes:
    return KAUAI.read_bytes()


@pytest.fixture(scope="session")
def tiny():
    from geolocate.image.backbone import load_backbone

    return load_backbone("tiny-random")


@pytest.fixture(scope="session")
def head():
    """The real GeoCLIP head from the wheel; gallery/grid features use the user cache (computed once per
    machine, ~1 min on 2 cores). Tests using it are marked ``peer``."""
    from geolocate.image.geoclip_expert import load_geoclip_head

    h = load_geoclip_head("wheel")
    h.gallery_features()
    h.grid_features()
    return h
