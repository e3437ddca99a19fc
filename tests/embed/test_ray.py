"""The Ray Data engine (local Ray) writes the same Parquet as the local engine; skips without Ray."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from geolocate.embed import EmbedConfig, collect_items, embed_collection
from geolocate.embed.store import read_manifest, shard_path

from .conftest import write_photos

pytest.importorskip("ray.data", reason="Ray is optional: pip install -r requirements-ray.txt")

SMALL = ("geoclip", "scene")


@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_ray_and_local_engines_write_identical_parquet(tmp_path, local_ray):
    from geolocate.embed.scorer import Scorer

    write_photos(tmp_path / "p", 10)
    (tmp_path / "p" / "broken.jpg").write_bytes(b"\xff\xd8\xff")
    items = collect_items(tmp_path / "p")
    scorer = Scorer("tiny-random", device="cpu", top_k=16, experts=SMALL)
    base = {"backbone": "tiny-random", "batch_size": 2, "shard_size": 6, "workers": 1, "top_k": 16, "experts": SMALL}
    loc = embed_collection(items, tmp_path / "local", EmbedConfig(**base), progress=None, scorer=scorer)
    ray_rep = embed_collection(items, tmp_path / "ray", EmbedConfig(engine="ray", **base), progress=None, scorer=scorer)
    assert (loc.ok, loc.bad, ray_rep.ok, ray_rep.bad) == (10, 1, 10, 1)
    assert ray_rep.shards_written == 2 and ray_rep.model_s > 0  # the model ran in the Ray actor
    for s in range(2):
        a, b = pq.read_table(shard_path(tmp_path / "local", s)), pq.read_table(shard_path(tmp_path / "ray", s))
        assert a.num_rows == b.num_rows > 0
        assert a.equals(b)  # every column, the float16 embeddings byte for byte
    assert read_manifest(tmp_path / "ray")["fingerprint"] == read_manifest(tmp_path / "local")["fingerprint"]
    # Resume through Ray: nothing left to do.
    again = embed_collection(items, tmp_path / "ray", EmbedConfig(engine="ray", **base), progress=None, scorer=scorer)
    assert (again.shards_written, again.shards_skipped) == (0, 2)
