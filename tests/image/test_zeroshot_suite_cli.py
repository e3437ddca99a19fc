"""Zero-shot attribute experts, the suite API and the predict/weights commands (tiny random backbone, offline)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from geolocate.experts import AttributeExpert
from geolocate.grid import global_grid
from geolocate.image import image_experts, load_photo, weights_status
from geolocate.image.zeroshot import TASKS, AlbumAttributeExpert, Task, attribute_experts, class_embeddings, photo_class_prior, zero_shot_probs
from geolocate.layers import LayerError, landcover_layer

from .conftest import gradient, jpeg_bytes


def test_prompts_cover_every_class():
    for task in TASKS:
        try:
            layer = task.layer_fn()
        except LayerError:
            continue
        prompts = task.prompts(layer)
        assert len(prompts) == len(layer.classes) and all(len(p) >= 1 for p in prompts)
    country = [t for t in TASKS if t.name == "country"][0]
    from geolocate.layers import country_layer

    cp = country.prompts(country_layer())
    assert "open ocean" in cp[0][0]
    assert any("the Democratic Republic of the Congo" in p for ps in cp for p in ps)


def test_probs_temperature_and_attribute_expert(tiny):
    layer = landcover_layer()
    task = TASKS[0]
    emb = tiny.encode_images([gradient()])
    cls = class_embeddings(tiny, task.prompts(layer))
    np.testing.assert_allclose(np.linalg.norm(cls, axis=1), 1.0, rtol=1e-5)
    p = zero_shot_probs(emb, cls, tiny.logit_scale)
    assert p.shape == (1, 17) and p.sum() == pytest.approx(1.0)
    v = emb[0] / np.linalg.norm(emb[0])
    for T in (0.5, 2.0):
        direct = np.exp(tiny.logit_scale * (cls @ v) / T)
        direct /= direct.sum()
        expert = AttributeExpert(layer, p[0], photo_class_prior(layer), T)
        np.testing.assert_allclose(expert.probs, direct, rtol=1e-5)  # softmax(scale * cos / T)


def test_class_prior_from_photo_locations():
    pi = photo_class_prior(landcover_layer())
    assert pi.shape == (17,) and pi.sum() == pytest.approx(1.0) and (pi > 0).all()
    assert pi[13] > 0.1  # urban and built-up: photos are taken in cities far above its ~0.5 % land share


def test_missing_layer_is_skipped_with_message(tiny):
    def broken():
        raise LayerError("assets/scene_rates.json is missing: run scripts/fit_scene_layer.py")

    tasks = [TASKS[0], Task("scene", broken)]
    experts, msgs = attribute_experts(tiny, tiny.encode_images([gradient()]), tasks=tasks)
    assert [e.name for e in experts] == ["land cover (zero-shot)"]
    assert [(m.level, m.text, m.detail) for m in msgs] == [("warning", "The scene (zero-shot) expert is unavailable:", "assets/scene_rates.json is missing: run scripts/fit_scene_layer.py")]


def test_album_attribute_is_product(tiny):
    layer = landcover_layer()
    probs = np.random.default_rng(0).dirichlet(np.ones(17), size=2)
    prior = photo_class_prior(layer)
    album = AlbumAttributeExpert(layer, probs, prior, 1.5)
    g = global_grid(3)
    single = sum(AttributeExpert(layer, p, prior, 1.5).log_density(g) for p in probs)
    np.testing.assert_allclose(album.log_density(g), single, rtol=1e-9, atol=1e-12)


def test_image_experts_tiny_random(kauai_bytes):
    photos = [load_photo(kauai_bytes, "Kauai.png")]
    seen = []
    experts, msgs = image_experts(photos, backbone="tiny-random", progress=lambda f, m: seen.append(f))
    names = [e.name for e in experts]
    assert names[0] == "GeoCLIP [RANDOM backbone]" and all("[RANDOM backbone]" in n for n in names)
    assert {e.kind for e in experts} == {"image", "attribute"} and len(experts) >= 4
    assert any("random noise" in m.text for m in msgs)
    assert seen[-1] == 1.0 and all(0 <= f <= 1 for f in seen) and seen == sorted(seen)
    album, _ = image_experts(photos * 2, backbone="tiny-random")
    assert len(album) == len(experts) and "album of 2" in album[0].describe()


def test_image_experts_offline_missing_weights(kauai_bytes):
    experts, msgs = image_experts([load_photo(kauai_bytes)])
    assert experts == []
    assert len(msgs) == 1 and msgs[0].text.startswith("GeoCLIP and zero-shot experts are unavailable (open_clip ViT-L-14 (openai) weights missing")
    assert msgs[0].detail.startswith("python -m geolocate weights download")
    rows = weights_status()
    assert rows[0].available is False and rows[1].available is True


def _parser():
    from geolocate.cli import build_parser

    return build_parser()


def test_cli_weights_status(capsys):
    args = _parser().parse_args(["weights", "status"])
    assert args.func(args) == 1
    out = capsys.readouterr().out
    assert "[MISSING] open_clip ViT-L-14 (openai) weights" in out and "fix: python -m geolocate weights download" in out
    args = _parser().parse_args(["weights", "download"])
    assert args.func(args) == 2  # offline: refuses to download, says why
    assert "offline mode is on" in capsys.readouterr().err


def test_cli_predict_album_and_outputs(tmp_path, capsys, kauai_bytes):
    folder = tmp_path / "album"
    folder.mkdir()
    from PIL import Image

    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (22.0, 4.0, 0.0), 3: "W", 4: (159.0, 30.0, 0.0)}
    (folder / "a.jpg").write_bytes(jpeg_bytes(gradient(), exif=exif))
    (folder / "b.png").write_bytes(kauai_bytes)
    (folder / "notes.txt").write_text("not a photo")
    gj, csv = tmp_path / "r.geojson", tmp_path / "r.csv"
    args = _parser().parse_args(["predict", str(folder), "--album", "--backbone", "tiny-random", "--budget", "2000",
                                 "--geojson", str(gj), "--csv", str(csv), "--refine-to", "5", "--quiet"])
    assert args.func(args) == 1  # one file was not a photo
    cap = capsys.readouterr()
    assert "notes.txt: not an image file" in cap.err
    assert "album of 2 photos" in cap.out and "GeoCLIP [RANDOM backbone]" in cap.out and "random noise" in cap.out
    assert "EXIF GPS of a.jpg: 22.06667, -159.50000" in cap.out
    warning = cap.out.index("warning: a.jpg carries its own GPS position in EXIF")
    assert warning < cap.out.index("EXIF GPS of a.jpg")  # the warning comes first
    fc = json.loads(gj.read_text())
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) > 0
    areas = [f["properties"]["area_km2"] for f in fc["features"]]
    assert sum(areas) <= 2000
    assert csv.read_text().splitlines()[0].startswith("rank,h3,lat,lon")


def test_cli_predict_offline_keeps_working(tmp_path, capsys):
    (tmp_path / "p.jpg").write_bytes(jpeg_bytes(gradient()))
    args = _parser().parse_args(["predict", str(tmp_path / "p.jpg"), "--budget", "5000", "--refine-to", "4", "--quiet", "--top", "3"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "GeoCLIP and zero-shot experts are unavailable" in out and "(no image experts: they are unavailable)" in out and "#1 " in out
