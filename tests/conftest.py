"""Shared fixtures. Tests never download: hubs are unreachable here and in CI.

Test data is generated, like torchgeo's: ``GEOLOCATE_GEOCLIP=tiny-random`` (set here for the whole
session, and inherited by the app servers the browser tests start) swaps the GeoCLIP head for a
generated one with a 2,000-point gallery whose features take milliseconds and never touch the disk,
so no app test builds the 290 MB feature cache. Tests of the real head ask for it by name
(``load_geoclip_head("wheel")``, the ``head`` fixture in tests/image) and carry the ``peer`` marker;
they run in CI like every other test (``-m "not peer"`` leaves them out locally).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

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


TOY_DIR = REPO / "tests" / "data" / "toy"


@dataclass(frozen=True)
class ToyBench:
    """The generated toy benchmark in a data folder of its own (see tests/data/toy/data.py).

    Attributes:
        root: the data folder (GEOLOCATE_DATA_DIR), holding the benchmark as ``toy/``.
        name: the benchmark's name ("toy").
        ids, lat, lon: the photos' ids and true positions (degrees), in file order.
        data: the generator module (its constants: SCENES, OFF_DEG, ...).
    """

    root: Path
    name: str
    ids: list[str]
    lat: list[float]
    lon: list[float]
    data: ModuleType

    def spec(self):
        """The benchmark's :class:`geolocate.data.BenchmarkSpec`."""
        from geolocate.data import discover_benchmarks

        return next(s for s in discover_benchmarks(self.root) if s.name == self.name)


def toy_module() -> ModuleType:
    """tests/data/toy/data.py, loaded by path (tests are not a package)."""
    spec = importlib.util.spec_from_file_location("toy_data", TOY_DIR / "data.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def toy_bench(tmp_path_factory) -> ToyBench:
    """The committed toy benchmark copied into a fresh data folder, shared by the session (read-only)."""
    root = tmp_path_factory.mktemp("toy_data")
    shutil.copytree(TOY_DIR, root / "toy", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    mod = toy_module()
    return ToyBench(root, mod.NAME, list(mod.IDS), list(mod.LAT), list(mod.LON), mod)
