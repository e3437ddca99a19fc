"""Cache files are written atomically (issue 7, item 6): concurrent writers never collide, a reader never
sees a half-written file, a failed write leaves nothing behind, an unusable cache folder is one message."""

from __future__ import annotations

import errno
import logging
import threading

import numpy as np
import pytest

from geolocate import grid


@pytest.fixture(autouse=True)
def _fresh(monkeypatch, tmp_path):
    monkeypatch.setenv("GEOLOCATE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(grid, "_CACHE_PROBLEMS", {})


def test_two_threads_writing_the_same_grid_cache_at_once(monkeypatch, tmp_path):
    both_writing = threading.Barrier(2, timeout=30)
    real_savez = np.savez

    def savez_together(file, *args, **kwargs):
        both_writing.wait()  # both writers are inside savez at the same moment
        return real_savez(file, *args, **kwargs)

    monkeypatch.setattr(np, "savez", savez_together)
    results, errors = [], []

    def build():
        try:
            results.append(grid.global_grid.__wrapped__(1))
        except Exception as err:  # noqa: BLE001 - collected for the assertion
            errors.append(err)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and [len(g) for g in results] == [842, 842]
    files = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert files == [f"grid_res1_h3_{grid.h3.__version__}.npz"]  # no temporary file left behind
    with np.load(tmp_path / "cache" / files[0]) as z:
        np.testing.assert_array_equal(z["cells"], results[0].cells)


def test_reader_never_sees_a_half_written_file(tmp_path):
    path = grid.cache_dir() / "x.npy"
    half_written, checked = threading.Event(), threading.Event()
    seen = []

    def slow_writer(f):
        f.write(b"\x93NUMPY" + b"\0" * 1000)
        half_written.set()
        assert checked.wait(30)
        f.write(b"\0" * 1000)

    def reader():
        assert half_written.wait(30)
        seen.append(path.exists())
        checked.set()

    t = threading.Thread(target=reader)
    t.start()
    assert grid.write_cache(path, slow_writer) is True
    t.join()
    assert seen == [False] and path.stat().st_size == 2006
    assert [p.name for p in path.parent.iterdir()] == ["x.npy"]


def test_failed_write_leaves_nothing_and_says_so_once(tmp_path, caplog):
    path = grid.cache_dir() / "y.npy"

    def disk_full(f):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    with caplog.at_level(logging.WARNING, logger="geolocate.grid"):
        assert grid.write_cache(path, disk_full) is False
        assert grid.write_cache(path, disk_full) is False
    assert list(path.parent.iterdir()) == []
    msg = grid.cache_problem()
    assert msg == (
        f"cache directory {path.parent} is not usable (No space left on device); derived grids and features are "
        "computed again in each process and kept in memory only. Fix: set GEOLOCATE_CACHE_DIR to a writable folder."
    )
    assert caplog.text.count("is not usable") == 1

    def bug(f):
        f.write(b"partial")
        raise KeyError("a bug, not a disk problem")

    with pytest.raises(KeyError):
        grid.write_cache(path, bug)
    assert list(path.parent.iterdir()) == []  # the temporary file is removed either way


def test_cache_dir_that_is_a_file_degrades_to_memory(monkeypatch, tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("GEOLOCATE_CACHE_DIR", str(blocker))
    with caplog.at_level(logging.WARNING, logger="geolocate.grid"):
        g = grid.global_grid.__wrapped__(0)
    assert len(g) == 122 and blocker.read_text() == "x"
    assert grid.cache_problem().startswith(f"cache directory {blocker} is not usable (a file is in the way); ")
    assert "Fix: set GEOLOCATE_CACHE_DIR to a writable folder" in caplog.text and "Traceback" not in caplog.text
