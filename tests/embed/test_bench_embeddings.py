"""bench --embeddings: stored results as batch experts reproduce the in-process experts of predict."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from geolocate.cli import main
from geolocate.distribution import CellDistribution
from geolocate.embed import EmbedConfig, embed_collection
from geolocate.embed.bench_experts import GeoCLIPPredictions, bench_experts
from geolocate.grid import children, global_grid
from geolocate.image import image_experts, load_photo

from .conftest import photo_items  # noqa: F401  (fixture)


@pytest.fixture(scope="module")
def stored(tmp_path_factory, scorer, photo_items):  # noqa: F811
    out = tmp_path_factory.mktemp("emb")
    cfg = EmbedConfig(backbone="tiny-random", batch_size=4, shard_size=8, workers=0, top_k=16)
    embed_collection(photo_items, out, cfg, progress=None, scorer=scorer)
    return out


def test_batch_experts_reproduce_predict_within_1e6(stored, photo_items):  # noqa: F811
    ids = ["absent.jpg"] + [it.id for it in photo_items[2:5]]
    experts, lines = bench_experts(stored, ids)
    assert lines == [f"{stored.name}: 3 of 4 images have stored results; 1 have none (absent or bad photo: uniform for those)"]
    item = photo_items[3]  # record 2
    ref, _ = image_experts([load_photo(open(item.source, "rb").read(), item.id)], backbone="tiny-random")
    assert [e.name for e in experts] == [e.name for e in ref]
    assert isinstance(experts[0], GeoCLIPPredictions) and all(e.records == 4 for e in experts)
    grid = global_grid(3)
    top = np.argsort(-ref[0].log_density(grid))[:3]
    fine, _ = children(grid.cells[top], 5)  # refined cells, as the benchmark's adaptive refinement asks for
    for cells in (grid, fine):
        for a, b in zip(experts, ref):
            got = a.batch_log_density(cells, np.array([0, 2]))
            assert np.all(got[0] == 0.0)  # no stored result: uniform
            want = b.log_density(cells)
            if cells is grid:
                pa, pb = CellDistribution.from_log_density(grid, got[1]).prob, CellDistribution.from_log_density(grid, want).prob
                assert np.abs(pa - pb).max() <= 1e-6, a.name
            np.testing.assert_allclose(got[1] - got[1].max(), want - want.max(), atol=1e-5, err_msg=a.name)


def test_bench_command_runs_on_embeddings(stored, photo_items, tmp_path, capsys):  # noqa: F811
    import h3

    from geolocate.embed.store import read_results

    # Truth at each photo's stored GeoCLIP mode: small areas, little refinement (a random truth under a
    # random backbone would split half the globe), and GeoCLIP must then beat the zero-shot experts.
    top = read_results(stored, [it.id for it in photo_items]).column("geoclip_top_cells").to_pylist()
    lat, lon = zip(*(h3.cell_to_latlng(h3.int_to_str(int(c[0]))) for c in top))
    pd.DataFrame({"IMG_ID": [it.id for it in photo_items], "LAT": lat, "LON": lon}).to_csv(tmp_path / "gt.csv", index=False)
    code = main(["bench", "--truth", str(tmp_path / "gt.csv"), "--embeddings", str(stored), "--priors", "", "--bootstrap", "20",
                 "--refine-to", "4", "--json", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "12 of 12 images have stored results" in out
    rep = json.loads((tmp_path / "r.json").read_text())
    assert set(rep["experts"]) == {"GeoCLIP [RANDOM backbone]", "land cover (zero-shot) [RANDOM backbone]", "population (zero-shot) [RANDOM backbone]",
                                   "scene (zero-shot) [RANDOM backbone]", "country (zero-shot) [RANDOM backbone]"}
    assert rep["split"]["fit"] + rep["split"]["eval"] == 12
    auc = {k.split(" ")[0]: v["rva"]["auc"]["value"] for k, v in rep["experts"].items()}
    assert auc["GeoCLIP"] > max(v for k, v in auc.items() if k != "GeoCLIP")


def test_bench_embeddings_folder_must_be_an_embed_output(tmp_path, capsys):
    pd.DataFrame({"id": ["a"], "lat": [1.0], "lon": [2.0]}).to_csv(tmp_path / "gt.csv", index=False)
    assert main(["bench", "--truth", str(tmp_path / "gt.csv"), "--embeddings", str(tmp_path), "--priors", ""]) == 2
    assert "no manifest.json" in capsys.readouterr().err
