"""``predict PHOTO --vlm-endpoint URL --vlm-model NAME``: the CLI asks the scripted server and pools the answers."""

from __future__ import annotations

import csv
import io

from geolocate.cli import main

from .test_vlm import GOOD, KEY, PARIS, photo
from .vlm_server import ScriptedServer


def test_predict_asks_the_model_and_its_answers_lead_the_ranking(tmp_path, capsys, monkeypatch):
    import geolocate.image.suite as suite

    monkeypatch.setattr(suite, "image_experts", lambda photos, **kw: ([], []))  # not what this test is about
    monkeypatch.setenv("GEOLOCATE_VLM_API_KEY", KEY)
    photo(3).save(tmp_path / "p.jpg")
    out = tmp_path / "r.csv"
    with ScriptedServer(GOOD) as srv:
        rc = main(["predict", str(tmp_path / "p.jpg"), "--vlm-endpoint", srv.url, "--vlm-model", "scripted-vlm", "--vlm-samples", "3", "--quiet", "--csv", str(out)])
        sent = list(srv.requests)
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert len(sent) == 1 and sent[0]["n"] == 3 and sent[0]["model"] == "scripted-vlm"
    assert "asking scripted-vlm at 127.0.0.1:" in cap.out and "French street signs" in cap.out  # clues as plain text
    assert KEY not in cap.out + cap.err
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    lat, lon = float(rows[0]["lat"]), float(rows[0]["lon"])
    assert abs(lat - PARIS[0]) < 1 and abs(lon - PARIS[1]) < 1.5  # the 0.7 candidate wins


def test_vlm_endpoint_without_a_model_is_a_usage_error(tmp_path, capsys):
    assert main(["predict", "--guess", "1,1", "--vlm-endpoint", "http://127.0.0.1:9/v1", "--quiet"]) == 2
    assert "needs --vlm-model" in capsys.readouterr().err


def test_bench_takes_a_models_answers_csv_as_an_expert(tmp_path, capsys):
    import json

    import numpy as np

    from .test_vlm import CITIES

    rng = np.random.default_rng(5)
    rows = ["id,sample,lat,lon,confidence,radius_km"]
    for k, (la, lo) in enumerate(CITIES):
        for s in range(2):
            d = rng.normal(0, 0.3, 2)
            rows.append(f"img{k},{s},{la + d[0]:.4f},{lo + d[1]:.4f},0.9,100")
    (tmp_path / "answers.csv").write_text("\n".join(rows) + "\n")
    gt = tmp_path / "gt.csv"
    gt.write_text("IMG_ID,AUTHOR,LAT,LON\n" + "\n".join(f"img{k},a{k % 6},{la},{lo}" for k, (la, lo) in enumerate(CITIES)) + "\n")
    rc = main(["bench", "--truth", str(gt), "--vlm-answers", str(tmp_path / "answers.csv"), "--priors", "uniform land", "--bootstrap", "0",
               "--refine-to", "4", "--json", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    assert rc == 0 and "vlm: answers" in out
    rep = json.loads((tmp_path / "r.json").read_text())
    auc = {n: e["rva"]["auc"]["value"] for n, e in rep["experts"].items()}
    assert auc["vlm: answers (stated radii)"] > auc["uniform land"] + 0.2
