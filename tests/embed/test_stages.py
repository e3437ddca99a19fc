"""embed's post-pass stages (geolocate/embed/stages.py): text read in each photo, a model's answers, resume, bench."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from geolocate.cli import main
from geolocate.embed import EmbedConfig, InputError, collect_items, embed_collection, stages
from geolocate.embed.bench_experts import TextPredictions, stage_experts
from geolocate.experts.vlm import SampledPointPredictions, VLMClient, VLMConfig
from geolocate.grid import global_grid
from tests.experts.vlm_server import Reply, ScriptedServer
from tests.text.signs import SIGNS, font_missing, render

from .conftest import jpeg, photo

KEY = "sk-test-9Zs4STAGEkey1"
MARSEILLE = (43.2965, 5.3698)
FRENCH = next(s for s in SIGNS if s.name == "french")
ANSWER = json.dumps({
    "clues": ["French shop sign"], "reasoning": "The sign is French.", "countries": [{"code": "FRA", "probability": 0.9}],
    "candidates": [{"latitude": MARSEILLE[0], "longitude": MARSEILLE[1], "confidence": 0.8, "radius_km": 40.0, "place": "Marseille"},
                   {"latitude": 48.8566, "longitude": 2.3522, "confidence": 0.2, "radius_km": 80.0, "place": "Paris"}],
})


def _folder(root: Path) -> Path:
    """A rendered French sign, three plain photos and one broken file."""
    d = root / "photos"
    d.mkdir()
    if not font_missing(FRENCH):
        (d / "a_sign.jpg").write_bytes(jpeg(render(FRENCH, (896, 560))))
    for i in range(3):
        (d / f"p{i}.jpg").write_bytes(jpeg(photo(i)))
    (d / "p1x_broken.jpg").write_bytes(jpeg(photo(9))[:300])
    return d


@pytest.fixture(scope="module")
def embedded(tmp_path_factory, scorer):
    """An embed output folder (image stage only) of :func:`_folder`."""
    root = tmp_path_factory.mktemp("stages")
    items = collect_items(_folder(root))
    out = root / "out"
    embed_collection(items, out, EmbedConfig(backbone="tiny-random", batch_size=2, shard_size=2, workers=0, top_k=16), progress=None, scorer=scorer)
    return out


@pytest.fixture
def fresh(embedded, tmp_path):
    """A copy of the image-stage folder, for a test that writes stages."""
    out = tmp_path / "out"
    shutil.copytree(embedded, out)
    return out


def _ok_ids(out: Path) -> list[str]:
    from geolocate.embed.store import read_results

    t = read_results(out, columns=["id", "ok"])
    return [i for i, ok in zip(t.column("id").to_pylist(), t.column("ok").to_pylist()) if ok]


def _fake_reader(calls: list):
    def read(photo):
        calls.append(photo.name)
        return {"ok": True, "error": "", "lines": [{"text": "Tel. +33 4 91 54 12 30", "box": [0.0] * 8, "confidence": 0.9, "script": "Latin", "reader": "fake"}],
                "clues": [], "messages": [], "seconds": 0.0, "width": 1, "height": 1}
    return read


def test_text_stage_stores_lines_boxes_and_clue_countries(fresh):
    pytest.importorskip("rapidocr_onnxruntime", reason="the text reader is not installed")
    if font_missing(FRENCH):
        pytest.skip(f"font {font_missing(FRENCH)} is not installed")
    rep = stages.run_text_stage(fresh, chunk_rows=2)
    ok = _ok_ids(fresh)
    assert "p1x_broken.jpg" not in ok and len(ok) == 4
    assert (rep.eligible, rep.done, rep.skipped, rep.failed, rep.stored) == (4, 4, 0, 0, 4)
    assert rep.found == 1 and rep.photos_per_s > 0
    assert "photos/s" in rep.summary()[0]
    assert not (fresh / "text.parts").exists()
    rows = {r["id"]: r for r in pq.read_table(fresh / "text.parquet").to_pylist()}
    assert list(rows) == ok  # input order
    sign = rows["a_sign.jpg"]
    read = " ".join(ln["text"] for ln in sign["lines"]).lower().replace(" ", "")
    assert "marseille" in read and "boulangerie" in read
    assert all(len(ln["box"]) == 8 and 0 < ln["confidence"] <= 1 and ln["reader"] in ("pp-ocr", "tesseract") for ln in sign["lines"])
    kinds = {c["kind"]: c for c in sign["clues"]}
    assert kinds["phone"]["countries"][0] == "FRA" and kinds["web"]["countries"] == ["FRA"]
    assert "Marseille" in kinds["phone"]["implication"]
    assert all(not rows[f"p{i}.jpg"]["clues"] for i in range(3))
    # the stored clues rebuild the experts without reading again: the mass is in France
    experts, lines = stage_experts(fresh, ["absent.jpg", *reversed(ok)])
    text = next(e for e in experts if isinstance(e, TextPredictions))
    assert text.records == 5 and text.present.tolist() == [False, False, False, False, True]
    assert lines[0] == "text: 1 of 5 images have text clues (4 read; uniform for the others)"
    grid = global_grid(2)
    d = text.batch_log_density(grid, np.array([4, 0]))
    assert np.all(d[1] == 0.0)
    top = int(np.argmax(d[0]))
    assert abs(grid.lat[top] - MARSEILLE[0]) < 3 and abs(grid.lon[top] - MARSEILLE[1]) < 3


def test_text_stage_resumes_after_a_kill_and_skips_done_photos(fresh, monkeypatch):
    calls: list[str] = []
    fake = _fake_reader(calls)
    monkeypatch.setattr(stages, "text_reader_installed", lambda: True)

    def dies_on_third(photo):
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed mid-run
        return fake(photo)

    monkeypatch.setattr(stages, "read_text_row", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        stages.run_text_stage(fresh, chunk_rows=1)
    assert len(list((fresh / "text.parts").glob("part-*.parquet"))) == 2 and not (fresh / "text.parquet").exists()
    first = list(calls)
    monkeypatch.setattr(stages, "read_text_row", fake)
    rep = stages.run_text_stage(fresh, chunk_rows=1)
    assert (rep.skipped, rep.done) == (2, 2)
    assert len(calls) == 4 and not set(calls[2:]) & set(first)
    assert pq.read_table(fresh / "text.parquet").column("id").to_pylist() == _ok_ids(fresh)
    again = stages.run_text_stage(fresh)
    assert (again.skipped, again.done, again.stored) == (4, 0, 4) and len(calls) == 4


def test_text_stage_lists_a_photo_the_reader_fails_on_and_retries_it(fresh, monkeypatch):
    calls: list[str] = []
    fake = _fake_reader(calls)
    monkeypatch.setattr(stages, "text_reader_installed", lambda: True)

    def fails_on_p1(photo):
        if photo.name == "p1.jpg":
            raise RuntimeError("onnx exploded")
        return fake(photo)

    monkeypatch.setattr(stages, "read_text_row", fails_on_p1)
    rep = stages.run_text_stage(fresh)
    assert (rep.done, rep.failed) == (4, 1) and rep.failures[0][0] == "p1.jpg" and "onnx exploded" in rep.failures[0][1]
    assert any("text failed: p1.jpg" in line for line in rep.summary())
    monkeypatch.setattr(stages, "read_text_row", fake)
    rep = stages.run_text_stage(fresh)
    assert (rep.skipped, rep.done, rep.failed) == (3, 1, 0)
    assert all(pq.read_table(fresh / "text.parquet").column("ok").to_pylist())


def _client(srv: ScriptedServer, samples: int = 2, model: str = "geo-model") -> VLMClient:
    return VLMClient(VLMConfig(srv.url, model, samples=samples, timeout_s=5, retries=0, requests_per_minute=10_000), api_key=KEY)


def _no_key_anywhere(out: Path) -> None:
    for f in out.rglob("*"):
        if f.is_file():
            assert KEY.encode() not in f.read_bytes(), f


def test_vlm_stage_stores_answers_within_the_concurrency_cap_and_resumes(fresh):
    with ScriptedServer(ANSWER, gather=3) as srv:
        rep = stages.run_vlm_stage(fresh, VLMConfig(srv.url, "geo-model", samples=2), client=_client(srv), concurrency=2, limit=3, chunk_rows=1)
        assert (rep.done, rep.failed, rep.skipped) == (3, 0, 0)
        assert srv.max_inflight == 2  # the server held requests until a third arrived: it never did
        assert all(h["authorization"] == f"Bearer {KEY}" for h in srv.headers)
        n_first = len(srv.requests)
        assert n_first == 3  # n=2 in one request per photo
        rep = stages.run_vlm_stage(fresh, VLMConfig(srv.url, "geo-model", samples=2), client=_client(srv), concurrency=2)
        assert (rep.skipped, rep.done, rep.stored, rep.found) == (3, 1, 4, 4)
        assert len(srv.requests) == n_first + 1
    rows = pq.read_table(fresh / "vlm.parquet").to_pylist()
    assert [r["id"] for r in rows] == _ok_ids(fresh)
    for r in rows:
        assert r["ok"] and r["model"] == "geo-model" and r["host"].startswith("127.0.0.1:") and r["samples"] == 2
        assert r["raw"] == [ANSWER, ANSWER]
        assert [(c["sample"], round(c["lat"], 4), c["confidence"]) for c in r["rows"]] == [(0, MARSEILLE[0], 0.8), (0, 48.8566, 0.2), (1, MARSEILLE[0], 0.8), (1, 48.8566, 0.2)]
    _no_key_anywhere(fresh)
    experts, lines = stage_experts(fresh, list(reversed(_ok_ids(fresh))) + ["absent.jpg"])
    (model,) = experts
    assert isinstance(model, SampledPointPredictions) and model.name == "model: geo-model" and model.records == 5
    assert lines == ["model: geo-model: 1 of 5 images have no answer (uniform for those)"]
    assert np.allclose(model.samples[0, 0], MARSEILLE)


def test_vlm_stage_retries_unusable_answers_and_refuses_another_model(fresh):
    with ScriptedServer(ANSWER) as srv:
        srv.push(Reply(contents=["I cannot tell where this is."]))
        rep = stages.run_vlm_stage(fresh, VLMConfig(srv.url, "geo-model", samples=1), client=_client(srv, 1), concurrency=1)
        assert (rep.done, rep.failed, rep.found) == (4, 1, 3)
        bad = rep.failures[0][0]
        rep = stages.run_vlm_stage(fresh, VLMConfig(srv.url, "geo-model", samples=1), client=_client(srv, 1), concurrency=1)
        assert (rep.skipped, rep.done, rep.failed, rep.found) == (3, 1, 0, 4)
        assert srv.requests[-1] and len(srv.requests) == 5
        with pytest.raises(InputError, match="other settings"):
            stages.run_vlm_stage(fresh, VLMConfig(srv.url, "other-model", samples=1), client=_client(srv, 1, "other-model"))
        rep = stages.run_vlm_stage(fresh, VLMConfig(srv.url, "other-model", samples=1), client=_client(srv, 1, "other-model"), overwrite=True)
        assert (rep.skipped, rep.done) == (0, 4)
    rows = {r["id"]: r for r in pq.read_table(fresh / "vlm.parquet").to_pylist()}
    assert {r["model"] for r in rows.values()} == {"other-model"} and rows[bad]["ok"]


def test_embed_and_bench_cli_with_both_stages(embedded, tmp_path, monkeypatch, capsys):
    pytest.importorskip("rapidocr_onnxruntime", reason="the text reader is not installed")
    if font_missing(FRENCH):
        pytest.skip(f"font {font_missing(FRENCH)} is not installed")
    monkeypatch.setenv("GEOLOCATE_VLM_API_KEY", KEY)
    photos = embedded.parent / "photos"
    out = tmp_path / "out"
    with ScriptedServer(ANSWER) as srv:
        args = ["embed", str(photos), "--out", str(out), "--backbone", "tiny-random", "--batch-size", "2", "--shard-size", "2", "--workers", "0",
                "--top-k", "16", "--quiet", "--text", "--vlm-endpoint", srv.url, "--vlm-model", "geo-model", "--vlm-samples", "2", "--vlm-concurrency", "2"]
        code = main(args)
        text = capsys.readouterr().out
        assert code == 1, text  # the broken photo
        assert "text stage: 4 photos in" in text and "vlm stage: 4 photos in" in text and "photos/s" in text
        assert all(h["authorization"] == f"Bearer {KEY}" for h in srv.headers)
        n = len(srv.requests)
        assert main(args) == 1
        text = capsys.readouterr().out
        assert "text stage: 0 photos" in text and "4 already done" in text and len(srv.requests) == n
    _no_key_anywhere(out)
    ok = _ok_ids(out)
    pd.DataFrame({"IMG_ID": ok, "LAT": [MARSEILLE[0]] * len(ok), "LON": [MARSEILLE[1]] * len(ok)}).to_csv(tmp_path / "gt.csv", index=False)
    # only the stage experts: the random GeoCLIP's refinement around the model's sharp answers takes minutes on 2 cores
    code = main(["bench", "--truth", str(tmp_path / "gt.csv"), "--embeddings", str(out), "--priors", "", "--bootstrap", "20",
                 "--refine-to", "4", "--experts", "text,model: geo-model", "--json", str(tmp_path / "r.json")])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "text: 1 of 4 images have text clues" in text
    rep = json.loads((tmp_path / "r.json").read_text())
    for name in ("text", "model: geo-model"):
        assert name in rep["experts"], sorted(rep["experts"])
        assert 0.0 < rep["experts"][name]["rva"]["auc"]["value"] <= 1.0
    assert rep["experts"]["model: geo-model"]["rva"]["auc"]["value"] > 0.9  # every scripted answer is at the truth


def test_stage_flags_are_checked():
    with pytest.raises(InputError, match="--vlm-model"):
        stages.run_requested(type("A", (), {"vlm_endpoint": "http://127.0.0.1:1/v1", "vlm_model": None, "text": False})(), None)


def test_a_stage_refuses_a_folder_another_run_holds(fresh, monkeypatch):
    from geolocate.embed.run import lock_out_folder

    monkeypatch.setattr(stages, "text_reader_installed", lambda: True)
    held = lock_out_folder(fresh)
    try:
        with pytest.raises(InputError, match="another embed run"):
            stages.run_text_stage(fresh)
    finally:
        held.close()
    assert not (fresh / "text.parquet").exists()


def test_flag_defaults_are_the_clients_and_help_stays_light():
    import subprocess
    import sys

    from geolocate.experts import vlm

    code = "import sys, geolocate.embed.stages as s, argparse; p = argparse.ArgumentParser(); s.add_stage_arguments(p); a = p.parse_args([]); " \
           "print(a.vlm_samples, a.vlm_requests_per_minute, 'torch' in sys.modules, 'pyarrow' in sys.modules)"
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert got == [str(vlm.DEFAULT_SAMPLES), str(vlm.DEFAULT_REQUESTS_PER_MINUTE), "False", "False"]
    with pytest.raises(SystemExit):
        import argparse

        p = argparse.ArgumentParser()
        stages.add_stage_arguments(p)
        p.parse_args(["--vlm-samples", str(vlm.MAX_SAMPLES + 1)])


def test_vlm_stage_stops_when_the_server_is_down_and_resumes_later(fresh):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    s.close()  # nothing listens there now
    rep = stages.run_vlm_stage(fresh, VLMConfig(dead, "geo-model", samples=1), client=VLMClient(VLMConfig(dead, "geo-model", samples=1, retries=0), api_key=KEY),
                               concurrency=1, give_up_after=2)
    assert rep.stopped and "server looks down" in rep.summary()[-1] and rep.failed == rep.done and rep.done < 4
    assert "Could not reach" in rep.failures[0][1]
    with ScriptedServer(ANSWER) as srv:
        rep = stages.run_vlm_stage(fresh, VLMConfig(srv.url, "geo-model", samples=1), client=_client(srv, 1))
        assert (rep.skipped, rep.done, rep.failed, rep.found, rep.stopped) == (0, 4, 0, 4, "")
    _no_key_anywhere(fresh)
