"""Shared fixtures. Tests never download: hubs are unreachable here and in CI.

Test data is generated, like torchgeo's: ``GEOLOCATE_GEOCLIP=tiny-random`` (set here for the whole
session, and inherited by the app servers the browser tests start) swaps the GeoCLIP head for a
generated one with a 2,000-point gallery whose features take milliseconds and never touch the disk,
so no app test builds the 290 MB feature cache. Tests of the real head ask for it by name
(``load_geoclip_head("wheel")``, the ``head`` fixture in tests/image) and carry the ``peer`` marker;
they run in CI like every other test (``-m "not peer"`` leaves them out locally).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GEOLOCATE_OFFLINE", "1")
os.environ.setdefault("GEOLOCATE_GEOCLIP", "tiny-random")

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


def pytest_configure(config):
    config.addinivalue_line("markers", "peer: runs the real GeoCLIP head on its 100K gallery (builds the 290 MB feature cache once per machine)")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the checkout; tests using it skip when it is absent."""
    if not (SHARED_DATA / "im2gps3k" / "places365.csv").exists():
        pytest.skip(f"benchmark data not found at {SHARED_DATA} (it lies beside the checkout in CI)")
    return SHARED_DATA


@pytest.fixture
def tiny_geoclip(monkeypatch):
    """The generated GeoCLIP head for this test (and any app it runs in-process); returns the head."""
    from geolocate.image.geoclip_expert import TINY_RANDOM_HEAD, load_geoclip_head

    monkeypatch.setenv("GEOLOCATE_GEOCLIP", TINY_RANDOM_HEAD)
    return load_geoclip_head(TINY_RANDOM_HEAD)


@pytest.fixture
def offline_weights(monkeypatch, tmp_path_factory):
    """Offline with an empty weights directory; any download attempt fails the test."""
    monkeypatch.setenv("GEOLOCATE_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("GEOLOCATE_WEIGHTS_DIR", str(tmp_path_factory.mktemp("weights")))
    monkeypatch.delenv("GEOLOCATE_BACKBONE", raising=False)
    import open_clip.pretrained

    def no_download(*a, **k):
        raise AssertionError("tests must never download")

    monkeypatch.setattr(open_clip.pretrained, "download_pretrained", no_download)
