"""Shared fixtures. Tests never download: hubs are unreachable here and in CI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GEOLOCATE_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the checkout; tests using it skip when it is absent."""
    if not (SHARED_DATA / "im2gps3k" / "places365.csv").exists():
        pytest.skip(f"benchmark data not found at {SHARED_DATA} (it lies beside the checkout in CI)")
    return SHARED_DATA
