"""embed end to end with the tiny random backbone: shards, bad rows, resume, kill, albums, stored = in-process."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h3
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import geolocate
from geolocate.cli import main
from geolocate.embed import EmbedConfig, InputError, album_experts, collect_items, embed_collection, experts_from_embeddings
from geolocate.embed.store import read_manifest, read_results, shard_path
from geolocate.ensemble import Ensemble
from geolocate.image import image_experts, load_photo

from .conftest import jpeg, photo, write_photos

REPO = Path(__file__).resolve().parents[2]
SMALL = ("geoclip", "scene")


def config(**kw) -> EmbedConfig:
    base = {"backbone": "tiny-random", "batch_size": 4, "shard_size": 8, "workers": 0, "top_k": 16}
    return EmbedConfig(**(base | kw))


@pytest.fixture(scope="module")
def small_scorer():
    from geolocate.embed.scorer import Scorer

    return Scorer("tiny-random", device="cpu", top_k=16, experts=SMALL)


def bad_manifest(tmp_path: Path) -> Path:
    """4 good photos, 1 missing file, 2 corrupt JPEGs, 2 non-images, 1 row without a path."""
    good = write_photos(tmp_path / "ok", 4)
    (tmp_path / "cut.jpg").write_bytes(jpeg(photo(9))[:400])
    buf = io.BytesIO()
    photo(10).save(buf, "PNG")
    (tmp_path / "junk.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])  # a torn PNG, misnamed
    (tmp_path / "notes.txt").write_text("a text file")
    (tmp_path / "table.jpg").write_bytes(b"id,lat,lon\n1,2,3\n")
    paths = [good[0], tmp_path / "missing.jpg", good[1], tmp_path / "cut.jpg", tmp_path / "notes.txt", good[2],
             tmp_path / "junk.jpg", tmp_path / "table.jpg", "", good[3]]
    pd.DataFrame({"id": [f"r{i}" for i in range(len(paths))], "path": [str(p) for p in paths]}).to_csv(tmp_path / "m.csv", index=False)
    return tmp_path / "m.csv"


def test_bad_photos_are_counted_listed_and_never_stop_the_run(tmp_path, scorer):
    items = collect_items(bad_manifest(tmp_path))
    rep = embed_collection(items, tmp_path / "out", config(), progress=None, scorer=scorer)
    assert (rep.total, rep.ok, rep.bad) == (10, 4, 6)
    assert rep.errors == {"missing": 2, "not an image": 2, "corrupt": 2}
    t = read_results(tmp_path / "out")
    assert t.column("id").to_pylist() == [f"r{i}" for i in range(10)]  # every row, in input order
    assert t.column("ok").to_pylist() == [True, False, True, False, False, True, False, False, False, True]
    assert t.column("embedding").null_count == 6 and t.column("zs_country").null_count == 6
    errors = pd.read_csv(tmp_path / "out" / "errors.csv", keep_default_na=False)
    assert errors["id"].tolist() == ["r1", "r3", "r4", "r6", "r7", "r8"]
    assert errors["error_kind"].tolist() == ["missing", "corrupt", "not an image", "corrupt", "not an image", "missing"]
    man = read_manifest(tmp_path / "out")
    assert man["status"] == "complete"
    assert man["row_counts"] == {"rows": 10, "ok": 4, "bad": 6, "errors": {"missing": 2, "not an image": 2, "corrupt": 2}}
    assert [s["rows"] for s in man["shards"]] == [8, 2] and [s["bad"] for s in man["shards"]] == [5, 1]
    # Rebuilding experts for a bad row gives none, for a good one the full set.
    ex = experts_from_embeddings(tmp_path / "out", ["r1", "r2"])
    assert ex[0] == [] and [e.name.split(" [")[0] for e in ex[1]] == ["GeoCLIP", "land cover (zero-shot)", "population (zero-shot)", "scene (zero-shot)", "country (zero-shot)"]


def test_cli_exit_codes_and_usage_errors(tmp_path, capsys):
    assert main(["embed", str(tmp_path / "nope"), "--out", str(tmp_path / "o"), "--backbone", "tiny-random"]) == 2
    assert "no such folder or manifest" in capsys.readouterr().err
    write_photos(tmp_path / "p", 1)
    assert main(["embed", str(tmp_path / "p"), "--out", str(tmp_path / "o"), "--batch-size", "4", "--shard-size", "6"]) == 2
    assert "multiple of --batch-size" in capsys.readouterr().err
    assert main(["embed", str(tmp_path / "p"), "--out", str(tmp_path / "o"), "--backbone", "tiny-random", "--experts", "geoclip,weather"]) == 2
    assert "unknown experts ['weather']" in capsys.readouterr().err


def test_schema_manifest_and_values(tmp_path, scorer, photo_items):
    from geolocate.embed.scorer import weights_sha256

    rep = embed_collection(photo_items, tmp_path, config(), progress=None, scorer=scorer)
    assert (rep.ok, rep.bad, rep.shards, rep.shards_written) == (12, 0, 2, 2)
    t = pq.read_table(shard_path(tmp_path, 0))
    assert t.schema.field("embedding").type == pa.list_(pa.float16(), 768)
    assert t.schema.field("geoclip_top_cells").type == pa.list_(pa.uint64(), 16)
    man = read_manifest(tmp_path)
    assert man["models"]["weights_sha256"] == weights_sha256(scorer.backbone) and len(man["models"]["weights_sha256"]) == 64
    assert man["models"]["random_weights"] is True and man["models"]["backbone"] == "tiny-random"
    assert man["code_version"].startswith(geolocate.__version__)
    cells = np.asarray(t.column("geoclip_top_cells")[0].values.to_pylist(), np.uint64)
    assert all(h3.get_resolution(h3.int_to_str(int(c))) == 3 for c in cells)
    logd = np.asarray(t.column("geoclip_top_log_density")[0].values.to_pylist())
    assert np.all(np.diff(logd) <= 0)  # densest first
    # The stored float16 embedding is the in-process embedding rounded to float16.
    emb = np.asarray(t.column("embedding")[0].values.to_pylist(), np.float32)
    ref = scorer.backbone.encode_images([load_photo(Path(photo_items[0].source).read_bytes()).image])[0]
    np.testing.assert_allclose(emb, ref, rtol=2e-3, atol=1e-3)
    probs = np.asarray(t.column("zs_scene")[0].values.to_pylist())
    assert probs.shape == (3,) and abs(probs.sum() - 1) < 1e-6


def _same_refined(ra, rb, name: str) -> None:
    """Two refinements of densities equal to ~1e-7 (float16 embeddings): the same probabilities on the cells
    both split, and only cells of near-tied density (at the edge of the refined set) split in one of them."""
    common, ia, ib = np.intersect1d(ra.cells.cells, rb.cells.cells, return_indices=True)
    assert np.abs(ra.prob[ia] - rb.prob[ib]).max() <= 1e-6, name
    assert 1.0 - ra.prob[ia].sum() <= 1e-4 and 1.0 - rb.prob[ib].sum() <= 1e-4, name
    assert len(common) >= 0.95 * max(len(ra.cells.cells), len(rb.cells.cells)), name


def test_stored_results_reproduce_predict_within_1e6(tmp_path, scorer, photo_items):
    """Experts rebuilt from Parquet give the distribution predict computes in process for the same photo."""
    embed_collection(photo_items, tmp_path, config(), progress=None, scorer=scorer)
    item = photo_items[5]
    stored = experts_from_embeddings(tmp_path, [item.id])[0]
    ref, _ = image_experts([load_photo(Path(item.source).read_bytes(), item.id)], backbone="tiny-random")
    assert [e.name for e in stored] == [e.name for e in ref] and len(ref) == 5
    for a, b in zip(stored, ref):
        da, db = Ensemble([a]).distribution(), Ensemble([b]).distribution()
        assert np.abs(da.prob - db.prob).max() <= 1e-6, a.name
        ra, rb = Ensemble([a]).distribution(refine_to=5), Ensemble([b]).distribution(refine_to=5)
        _same_refined(ra, rb, a.name)
    _same_refined(Ensemble(stored).distribution(refine_to=6), Ensemble(ref).distribution(refine_to=6), "ensemble")

    # The stored top-k cells are the rebuilt GeoCLIP expert's densest base cells.
    row = read_results(tmp_path, [item.id])
    top = np.asarray(row.column("geoclip_top_cells")[0].values.to_pylist(), np.uint64)
    g = stored[0]
    order = np.argsort(-g._base_log[0], kind="stable")[:16]
    from geolocate.grid import global_grid

    assert np.array_equal(global_grid(3).cells[order], top)
    np.testing.assert_allclose(row.column("geoclip_top_log_density")[0].values.to_pylist(), g._base_log[0, order], atol=1e-4)


def test_resume_skips_verified_shards_and_redoes_a_broken_one(tmp_path, small_scorer, photo_items):
    cfg = config(experts=SMALL)
    first = embed_collection(photo_items, tmp_path, cfg, progress=None, scorer=small_scorer)
    t1 = read_results(tmp_path)
    stamps = [shard_path(tmp_path, s).stat().st_mtime_ns for s in range(2)]
    again = embed_collection(photo_items, tmp_path, cfg, progress=None, scorer=small_scorer)
    assert (first.shards_written, again.shards_written, again.shards_skipped, again.images_done) == (2, 0, 2, 0)
    assert [shard_path(tmp_path, s).stat().st_mtime_ns for s in range(2)] == stamps
    data = shard_path(tmp_path, 1).read_bytes()
    shard_path(tmp_path, 1).write_bytes(data[: len(data) // 2])  # a torn file (e.g. copied half-way)
    fixed = embed_collection(photo_items, tmp_path, cfg, progress=None, scorer=small_scorer)
    assert (fixed.shards_written, fixed.shards_skipped, fixed.images_done) == (1, 1, 4)
    assert read_results(tmp_path).equals(t1)
    with pytest.raises(InputError, match="different job"):
        embed_collection(photo_items[:5], tmp_path, cfg, progress=None, scorer=small_scorer)
    rep = embed_collection(photo_items[:5], tmp_path, config(experts=SMALL, overwrite=True), progress=None, scorer=small_scorer)
    assert rep.total == 5 and sorted(p.name for p in tmp_path.glob("shard-*")) == ["shard-00000.parquet"]


def test_kill_mid_run_then_resume_has_no_duplicate_and_no_missing_row(tmp_path, small_scorer):
    folder = tmp_path / "photos"
    write_photos(folder, 24)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "geolocate", "embed", str(folder), "--out", str(out), "--backbone", "tiny-random", "--batch-size", "2",
           "--shard-size", "4", "--workers", "0", "--top-k", "16", "--experts", ",".join(SMALL), "--quiet"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600
    try:
        while not shard_path(out, 1).exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)  # polling a state (the second shard on disk), not waiting a fixed time
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    done = sorted(p.name for p in out.glob("shard-*.parquet"))
    assert 2 <= len(done) < 6, done  # killed mid-run
    stamps = {n: (out / n).stat().st_mtime_ns for n in done}
    items = collect_items(folder)
    rep = embed_collection(items, out, config(batch_size=2, shard_size=4, experts=SMALL), progress=None, scorer=small_scorer)
    assert rep.shards_skipped == len(done) and rep.shards_written == 6 - len(done)
    assert {n: (out / n).stat().st_mtime_ns for n in done} == stamps  # finished shards were not redone
    ids = read_results(out).column("id").to_pylist()
    assert ids == [it.id for it in items] and len(set(ids)) == 24
    assert not list(out.glob(".*.tmp"))


def test_album_mode_scores_each_group_like_predict_album(tmp_path, scorer):
    ph = write_photos(tmp_path / "p", 5)
    (tmp_path / "p" / "bad.jpg").write_bytes(b"nope")
    rows = [("a1", ph[0], "case-A"), ("b1", ph[3], "case-B"), ("a2", ph[1], "case-A"), ("bx", tmp_path / "p" / "bad.jpg", "case-B"),
            ("a3", ph[2], "case-A"), ("b2", ph[4], "case-B")]
    pd.DataFrame({"id": [r[0] for r in rows], "path": [str(r[1]) for r in rows], "case": [r[2] for r in rows],
                  "lat": [48.85, 10, 48.85, 11, 48.85, 12], "lon": [2.35, 0, 2.35, 0, 2.35, 0]}).to_csv(tmp_path / "m.csv", index=False)
    items = collect_items(tmp_path / "m.csv", group_by="case")
    rep = embed_collection(items, tmp_path / "out", config(group_by="case"), progress=None, scorer=scorer)
    assert rep.albums == 2 and rep.bad == 1
    al = pd.read_parquet(tmp_path / "out" / "albums.parquet").set_index("group")
    assert al.loc["case-A", "n_photos"] == 3 and al.loc["case-B", "n_photos"] == 3 and al.loc["case-B", "n_bad"] == 1
    assert list(al.loc["case-A", "ids"]) == ["a1", "a2", "a3"]
    ref, _ = image_experts([load_photo(p.read_bytes(), p.name) for p in ph[:3]], backbone="tiny-random")
    from geolocate.locate import build

    dist = build(priors=[], image=(ref, [])).distribution()  # what `predict --album --no-priors` shows
    top = dist.ranked(50)
    assert np.array_equal(np.asarray(al.loc["case-A", "top_cells"], np.uint64), top.cells)
    np.testing.assert_allclose(al.loc["case-A", "top_prob"], top.prob, atol=1e-6)
    assert al.loc["case-A", "area_to_truth_km2"] == pytest.approx(dist.area_to_contain(48.85, 2.35), rel=1e-6)
    assert np.isnan(al.loc["case-B", "area_to_truth_km2"])  # its photos disagree on the truth
    experts, messages = album_experts(tmp_path / "out", ["b1", "bx", "b2"])
    assert len(experts) == 5 and experts[0].n_photos == 2 and messages[0].startswith("left out of the album: bx: not an image")


def test_device_jpeg_decode_route_keeps_rows_and_reasons(tmp_path, small_scorer):
    """--decode gpu's batching and CPU fallback, run with torchvision's decoder on CPU: same rows, same reasons."""
    items = collect_items(bad_manifest(tmp_path))
    cpu = embed_collection(items, tmp_path / "cpu", config(experts=SMALL), progress=None, scorer=small_scorer)
    dev = embed_collection(items, tmp_path / "dev", config(experts=SMALL, decode="gpu"), progress=None, scorer=small_scorer)
    assert (dev.ok, dev.errors) == (cpu.ok, cpu.errors)
    a, b = read_results(tmp_path / "cpu"), read_results(tmp_path / "dev")
    for col in ("id", "ok", "error_kind", "error"):
        assert a.column(col).equals(b.column(col)), col
    ea = np.asarray(a.column("embedding").combine_chunks().values.to_numpy(zero_copy_only=False), np.float32)
    eb = np.asarray(b.column("embedding").combine_chunks().values.to_numpy(zero_copy_only=False), np.float32)
    np.testing.assert_allclose(ea, eb, atol=0.05)  # decoders may differ by one grey level


def test_a_second_run_into_one_out_folder_is_refused_and_resume_still_verifies(tmp_path, small_scorer, photo_items, capsys):
    from geolocate.embed.run import lock_out_folder

    out = tmp_path / "o"
    held = lock_out_folder(out)  # another run holds the folder
    try:
        with pytest.raises(InputError, match=r"another embed run \(pid \d+\) is writing to"):
            embed_collection(photo_items, out, config(experts=SMALL), progress=None, scorer=small_scorer)
        write_photos(tmp_path / "p", 2)
        assert main(["embed", str(tmp_path / "p"), "--out", str(out), "--backbone", "tiny-random"]) == 2
        assert "another embed run" in capsys.readouterr().err
        assert not list(out.glob("shard-*"))  # the refused run wrote nothing
    finally:
        held.close()
    first = embed_collection(photo_items, out, config(experts=SMALL), progress=None, scorer=small_scorer)
    again = embed_collection(photo_items, out, config(experts=SMALL), progress=None, scorer=small_scorer)  # the lock was released
    assert (first.shards_written, again.shards_skipped, again.shards_written) == (2, 2, 0)


def test_an_unwritable_out_folder_is_a_message(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    write_photos(tmp_path / "p", 2)
    assert main(["embed", str(tmp_path / "p"), "--out", str(tmp_path / "file" / "o"), "--backbone", "tiny-random"]) == 2
    err = capsys.readouterr().err
    assert "cannot write to the --out folder" in err and "Traceback" not in err
