"""AppTest fixtures: pages run in-process from the repository root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _repo_cwd(monkeypatch):
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("GEOLOCATE_BACKBONE", os.environ.get("GEOLOCATE_BACKBONE", "tiny-random"))
