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


@pytest.fixture
def served_media(monkeypatch):
    """The bytes of every st.image / media file a run sends, by the file id in its URL (AppTest keeps no runtime after a run)."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    sent: dict[str, bytes] = {}
    orig = MemoryMediaFileStorage.load_and_get_id

    def keep(self, path_or_data, mimetype, kind, filename=None):
        file_id = orig(self, path_or_data, mimetype, kind, filename)
        sent[file_id] = path_or_data if isinstance(path_or_data, bytes) else open(path_or_data, "rb").read()
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)
    return sent
