"""Server settings: allowed data folders, workshop mode, the one-heavy-run slot."""

from __future__ import annotations

import os
import threading

from geolocate import settings


def test_data_dirs_from_env_and_default_folder(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    monkeypatch.setenv("GEOLOCATE_DATA_DIRS", f"{a}{os.pathsep}{b}{os.pathsep}")
    monkeypatch.delenv("GEOLOCATE_DATA_DIR", raising=False)
    assert settings.data_dirs() == [a.resolve(), b.resolve()]
    assert settings.default_data_dir() == a
    monkeypatch.setenv("GEOLOCATE_DATA_DIR", str(tmp_path / "c"))  # the operator's default is allowed too
    assert settings.data_dirs() == [a.resolve(), b.resolve(), (tmp_path / "c").resolve()]
    assert settings.default_data_dir() == tmp_path / "c"


def test_default_data_dirs_are_shared_data_and_the_user_folder(monkeypatch):
    monkeypatch.delenv("GEOLOCATE_DATA_DIRS", raising=False)
    monkeypatch.delenv("GEOLOCATE_DATA_DIR", raising=False)
    assert settings.data_dirs() == [(settings.ROOT.parent / "shared" / "data").resolve(), settings.user_data_dir().resolve()]
    assert settings.default_data_dir() == settings.ROOT.parent / "shared" / "data"


def test_allowed_data_path_follows_dots_and_symlinks(tmp_path, monkeypatch):
    root, outside = tmp_path / "data", tmp_path / "outside"
    (root / "bench").mkdir(parents=True)
    outside.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    monkeypatch.setenv("GEOLOCATE_DATA_DIRS", str(root))
    monkeypatch.delenv("GEOLOCATE_DATA_DIR", raising=False)
    assert settings.allowed_data_path(root) == root.resolve()
    assert settings.allowed_data_path(f" {root}/bench ") == (root / "bench").resolve()
    assert settings.allowed_data_path(f"{root}/bench/../bench") == (root / "bench").resolve()
    for bad in (outside, f"{root}/../outside", root / "link", f"{root}x", "/", "", "a\x00b", tmp_path):
        assert settings.allowed_data_path(bad) is None, bad


def test_workshop_mode_and_cap(monkeypatch):
    monkeypatch.delenv("GEOLOCATE_WORKSHOP", raising=False)
    assert not settings.workshop_mode()
    for on in ("1", "true", "YES", " on "):
        monkeypatch.setenv("GEOLOCATE_WORKSHOP", on)
        assert settings.workshop_mode()
    monkeypatch.setenv("GEOLOCATE_WORKSHOP", "0")
    assert not settings.workshop_mode()
    monkeypatch.delenv("GEOLOCATE_WORKSHOP_MAX_SAMPLES", raising=False)
    assert settings.workshop_max_samples() == 300
    monkeypatch.setenv("GEOLOCATE_WORKSHOP_MAX_SAMPLES", "50")
    assert settings.workshop_max_samples() == 50
    monkeypatch.setenv("GEOLOCATE_WORKSHOP_MAX_SAMPLES", "lots")
    assert settings.workshop_max_samples() == 300
    monkeypatch.setenv("GEOLOCATE_WORKSHOP_MAX_SAMPLES", "-5")
    assert settings.workshop_max_samples() == 1


def test_run_slot_admits_one_job_across_threads():
    slot = settings.RunSlot()
    inside, release = threading.Event(), threading.Event()
    got = []

    def first():
        with slot.take() as ok:
            got.append(ok)
            inside.set()
            release.wait(10)

    t = threading.Thread(target=first)
    t.start()
    assert inside.wait(10)
    with slot.take() as second:
        assert second is False and slot.busy()
    release.set()
    t.join(10)
    assert got == [True] and not slot.busy()
    with slot.take() as third:
        assert third is True
    assert not slot.busy()
