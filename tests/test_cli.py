import subprocess
import sys

import pytest

from geolocate.cli import _parse_weights, main

REPO = __import__("pathlib").Path(__file__).resolve().parent.parent


def test_accuracy_reproduces_the_footer(shared_data, capsys):
    path = shared_data / "im2gps3k" / "predictions" / "ISNs_M-fstar-S3.csv"
    assert main(["accuracy", str(path)]) == 0
    out = capsys.readouterr().out
    ours = next(line for line in out.splitlines() if "(ours" in line)
    assert "10.5%" in ours and "28.0%" in ours and "36.6%" in ours and "49.7%" in ours and "66.0%" in ours


def test_bench_reports_bad_file_clearly(tmp_path, capsys):
    gt = tmp_path / "gt.csv"
    gt.write_text("IMG_ID,LAT,LON\na,1,2\nb,100,2\n")
    assert main(["bench", "--truth", str(gt), "--priors", "uniform land"]) == 2
    err = capsys.readouterr().err
    assert "gt.csv: line 3: column 'LAT': 100.0 is out of range" in err


def test_bench_small_end_to_end(tmp_path, capsys):
    gt = tmp_path / "gt.csv"
    gt.write_text("IMG_ID,LAT,LON\n" + "\n".join(f"i{k},{10 + k},{20 + k}" for k in range(8)) + "\n")
    pred = tmp_path / "m.csv"
    pred.write_text("img_id,predicted_lat,predicted_long\n" + "\n".join(f"i{k},{10.1 + k},{20 + k}" for k in range(8)) + "\n")
    js, csv = tmp_path / "r.json", tmp_path / "c.csv"
    rc = main(["bench", "--truth", str(gt), "--predictions", str(pred), "--priors", "uniform land", "--bootstrap", "0",
               "--refine-to", "5", "--json", str(js), "--curves", str(csv), "--weights", "m=2"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "weights: uniform land=1, m=2" in out and "ensemble" in out
    assert js.exists() and csv.read_text().startswith("expert,area_km2,recall")


def test_weights_parsing():
    assert _parse_weights("a=1,b c=0.5") == {"a": 1.0, "b c": 0.5}
    with pytest.raises(SystemExit, match="not a number"):
        _parse_weights("a=x")


def test_module_entry_point_help():
    out = subprocess.run([sys.executable, "-m", "geolocate", "--help"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0 and "bench" in out.stdout and "accuracy" in out.stdout


def test_layers_command(capsys):
    assert main(["layers"]) == 0
    out = capsys.readouterr().out
    assert "landcover" in out and "water" in out and "41162 cells" in out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["predict", "x.jpg", "--budget", "0"], "the area must be a positive number of km²"),
        (["predict", "x.jpg", "--budget", "lots"], "is not a number of km²"),
        (["predict", "x.jpg", "--refine-to", "99"], "H3 resolution must be 3..10, got 99"),
        (["bench", "--truth", "gt.csv", "--res", "7"], "H3 resolution must be 1..4, got 7"),
    ],
)
def test_bad_arguments_are_usage_errors_not_tracebacks(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_ensemble_rejects_an_impossible_refinement():
    from geolocate.ensemble import Ensemble
    from geolocate.experts import PointExpert

    with pytest.raises(ValueError, match="refine_to must be an H3 resolution from 3 to 12"):
        Ensemble([PointExpert(0.0, 0.0, name="p")]).distribution(refine_to=99)


def test_bench_with_no_priors_as_documented(tmp_path, capsys):
    gt = tmp_path / "gt.csv"
    gt.write_text("IMG_ID,LAT,LON\n" + "\n".join(f"i{k},{10 + k},{20 + k}" for k in range(6)) + "\n")
    pred = tmp_path / "m.csv"
    pred.write_text("img_id,predicted_lat,predicted_long\n" + "\n".join(f"i{k},{10.1 + k},{20 + k}" for k in range(6)) + "\n")
    assert main(["bench", "--truth", str(gt), "--predictions", str(pred), "--priors", "", "--bootstrap", "0", "--refine-to", "4"]) == 0
    out = capsys.readouterr().out
    assert "weights: m=1" in out and "uniform land" not in out


def test_accuracy_skips_bad_truth_rows_when_asked(tmp_path, capsys):
    gt = tmp_path / "gt.csv"
    gt.write_text("IMG_ID,LAT,LON\na,48.8,2.3\nb,100,2\n")
    pred = tmp_path / "m.csv"
    pred.write_text("img_id,predicted_lat,predicted_long\na,48.9,2.4\n")
    assert main(["accuracy", str(pred), "--truth", str(gt)]) == 2
    assert "line 3" in capsys.readouterr().err
    assert main(["accuracy", str(pred), "--truth", str(gt), "--skip-bad-rows"]) == 0
    assert "(ours, n=1)" in capsys.readouterr().out
