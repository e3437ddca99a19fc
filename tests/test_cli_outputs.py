"""bench's output paths: an unwritable --json/--curves/--plot is a message and exit 2, checked before the run."""

from __future__ import annotations

import pytest

from geolocate.cli import main


@pytest.fixture
def bench_files(tmp_path):
    gt = tmp_path / "gt.csv"
    gt.write_text("IMG_ID,LAT,LON\n" + "\n".join(f"i{k},{10 + k},{20 + k}" for k in range(8)) + "\n")
    return ["bench", "--truth", str(gt), "--priors", "uniform land", "--bootstrap", "0", "--refine-to", "4"]


@pytest.mark.parametrize("flag", ["--json", "--curves", "--plot"])
@pytest.mark.parametrize("where", ["missing_folder", "under_a_file", "a_folder"])
def test_unwritable_bench_outputs_exit_2_with_a_message(bench_files, tmp_path, capsys, flag, where):
    (tmp_path / "f").write_text("x")
    (tmp_path / "d").mkdir()
    target = {"missing_folder": "/proc/nope/x.out", "under_a_file": str(tmp_path / "f" / "x.out"), "a_folder": str(tmp_path / "d")}[where]
    assert main([*bench_files, flag, target]) == 2
    out = capsys.readouterr()
    assert f"error: {flag}: cannot write {target}" in out.err and "Traceback" not in out.err + out.out
    assert "benchmark gt" not in out.out  # refused before the run
