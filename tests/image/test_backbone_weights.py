"""Preprocessing and embedding agree with Hugging Face CLIP; weights directory, offline mode, local files."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
import torch
from PIL import Image

from geolocate.image.backbone import build_backbone, clip_preprocess, hf_clip_vision_to_open_clip, load_backbone
from geolocate.image.weights import WeightsMissing, resolve_checkpoint, status, weights_dir

from .conftest import KAUAI, gradient


@pytest.mark.parametrize("size", [(512, 504), (301, 457), (640, 481), (100, 50), (224, 224), (517, 333)])
def test_preprocess_equals_hf_clip_processor(size):
    from transformers import CLIPImageProcessor

    img = Image.open(KAUAI).convert("RGB").resize(size)
    ref = CLIPImageProcessor()(images=img, return_tensors="pt")["pixel_values"][0]
    ours = clip_preprocess(img)
    assert ours.shape == (3, 224, 224)
    assert torch.equal(ours, ref)  # bit-identical, including the 512x504 crop offset open_clip rounds the other way


def _tiny_hf_clip():
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(3)
    cfg = CLIPConfig(
        projection_dim=768,
        text_config=dict(hidden_size=64, intermediate_size=128, num_attention_heads=2, num_hidden_layers=1, projection_dim=768),
        vision_config=dict(hidden_size=64, intermediate_size=256, num_hidden_layers=2, num_attention_heads=2, patch_size=32, image_size=224, projection_dim=768),
    )
    return CLIPModel(cfg).eval()


def test_hf_to_open_clip_conversion_gives_the_same_embedding():
    hf = _tiny_hf_clip()
    bb = build_backbone("tiny-random")
    missing = bb.model.visual.load_state_dict(hf_clip_vision_to_open_clip(hf.state_dict(), 2), strict=True)
    assert not missing.missing_keys and not missing.unexpected_keys
    imgs = [Image.open(KAUAI).convert("RGB"), gradient(300, 200)]
    ours = bb.encode_images(imgs)
    with torch.no_grad():
        out = hf.get_image_features(pixel_values=torch.stack([clip_preprocess(i) for i in imgs]))
    ref = (out if isinstance(out, torch.Tensor) else out.pooler_output).numpy()
    assert ours.shape == (2, 768)
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5)


def test_tiny_random_is_labelled_and_deterministic(tiny):
    assert tiny.random and "RANDOM" in tiny.label and tiny.embed_dim == 768
    again = build_backbone("tiny-random")
    img = [gradient()]
    np.testing.assert_array_equal(tiny.encode_images(img), again.encode_images(img))
    t = tiny.encode_texts(["a photo of a beach", "a city street"])
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1.0, rtol=1e-5)


def test_offline_missing_weights_message():
    with pytest.raises(WeightsMissing) as err:
        resolve_checkpoint("ViT-L-14/openai")
    msg = str(err.value)
    assert "open_clip ViT-L-14 (openai) weights missing" in msg and "offline mode is on" in msg
    assert "python -m geolocate weights download" in msg and str(weights_dir()) in msg
    rows = status("ViT-L-14/openai")
    assert [r.available for r in rows] == [False, True]
    assert rows[0].fix.startswith("python -m geolocate weights download")


def test_unknown_file_and_tag_are_clear():
    with pytest.raises(WeightsMissing, match="checkpoint file /nope/x.safetensors does not exist"):
        resolve_checkpoint("ViT-L-14//nope/x.safetensors")
    with pytest.raises(WeightsMissing, match="no pretrained tag 'nosuchtag'"):
        resolve_checkpoint("ViT-L-14/nosuchtag")
    with pytest.raises(ValueError, match="ARCH/TAG"):
        resolve_checkpoint("ViT-L-14")


def test_local_checkpoint_discovered_in_weights_dir():
    from safetensors.torch import save_file

    src = build_backbone("tiny-random", seed=7)
    path = weights_dir() / "geolocate-tiny-mine.safetensors"
    save_file({k: v.contiguous() for k, v in src.model.state_dict().items()}, str(path))
    assert resolve_checkpoint("geolocate-tiny/mine") == str(path)
    bb = load_backbone("geolocate-tiny/mine")
    assert not bb.random and bb.checkpoint == str(path) and "RANDOM" not in bb.label
    img = [gradient()]
    np.testing.assert_allclose(bb.encode_images(img), src.encode_images(img), rtol=1e-6)
    assert not np.allclose(bb.encode_images(img), build_backbone("tiny-random").encode_images(img))
    assert status("geolocate-tiny/mine")[0].available
    # the same file named directly by path
    assert resolve_checkpoint(f"geolocate-tiny/{path}") == str(path)


def test_hub_cache_layout_discovered(monkeypatch):
    """A weights dir copied from a connected machine (huggingface_hub cache layout) is found offline."""
    root = weights_dir()
    snap = root / "models--timm--vit_large_patch14_clip_224.openai" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (root / "models--timm--vit_large_patch14_clip_224.openai" / "refs").mkdir()
    (root / "models--timm--vit_large_patch14_clip_224.openai" / "refs" / "main").write_text("abc123")
    (snap / "open_clip_model.safetensors").write_bytes(b"stub")
    assert resolve_checkpoint("ViT-L-14/openai") == str(snap / "open_clip_model.safetensors")
    assert status("ViT-L-14/openai")[0].available


# ---- issue 7, item 7: weights directory, backbone spec and checkpoint errors are messages, not tracebacks ----


@pytest.mark.parametrize("kind", ["file", "unreachable"])
def test_weights_dir_that_is_a_file_or_unreachable(monkeypatch, tmp_path, capsys, kind):
    from geolocate.cli import main
    from geolocate.image.weights import weights_dir_problem

    if kind == "file":
        target = tmp_path / "weights"
        target.write_text("not a folder")
        expected = f"the weights directory {target} is a file, not a folder"
    else:
        target = tmp_path / "missing-mount"
        target.mkdir()
        target.chmod(0)
        blocked = target / "weights"
        if os.access(target, os.W_OK):  # root ignores permissions: a path under /proc cannot be created either
            blocked = "/proc/geolocate-nowhere/weights"
        target = blocked
        expected = f"the weights directory {target} does not exist and cannot be created"
    monkeypatch.setenv("GEOLOCATE_WEIGHTS_DIR", str(target))
    assert weights_dir_problem() == expected
    with pytest.raises(WeightsMissing, match=re.escape(expected)) as err:
        resolve_checkpoint("ViT-L-14/openai")
    assert err.value.fix == "set GEOLOCATE_WEIGHTS_DIR to a folder you can read and write"
    rows = status("ViT-L-14/openai")
    assert rows[0].available is False and rows[0].detail == expected
    assert main(["weights", "status"]) == 1
    assert expected in capsys.readouterr().out
    assert main(["weights", "download"]) == 2
    assert expected in capsys.readouterr().err


def test_nonsense_backbone_is_a_usage_error_everywhere(monkeypatch, capsys):
    from geolocate.cli import main
    from geolocate.image.suite import image_experts
    from geolocate.image.weights import BackboneSpecError, parse_spec

    for argv in (["weights", "status", "--backbone", "nonsense"], ["predict", "x.jpg", "--backbone", "nonsense"]):
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 2
        assert "argument --backbone: unknown backbone 'nonsense': a backbone is ARCH/TAG" in capsys.readouterr().err
    with pytest.raises(BackboneSpecError, match=r"unknown backbone 'vit-l-14/openai': open_clip has no architecture 'vit-l-14'; did you mean ViT-L-14\?"):
        parse_spec("vit-l-14/openai")
    monkeypatch.setenv("GEOLOCATE_BACKBONE", "nonsense")  # the app reads the spec from the environment
    assert status()[0].available is False and "ARCH/TAG" in status()[0].detail
    experts, msgs = image_experts([_tiny_photo()])
    assert experts == [] and msgs[0].text.startswith("GeoCLIP and zero-shot experts are unavailable (unknown backbone 'nonsense'")


def _tiny_photo():
    from geolocate.image.photo import Photo

    return Photo(gradient(), "g.jpg")


@pytest.mark.parametrize("content", [b"garbage, not weights", "truncated", "wrong-arch"])
def test_corrupt_checkpoint_is_weights_missing(tmp_path, content, capsys):
    from safetensors.torch import save_file

    path = tmp_path / "geolocate-tiny-bad.safetensors"
    if content == "truncated":
        good = tmp_path / "good.safetensors"
        save_file({k: v.contiguous() for k, v in build_backbone("tiny-random").model.state_dict().items()}, str(good))
        path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif content == "wrong-arch":
        save_file({"visual.proj": torch.zeros(3, 3)}, str(path))
    else:
        path.write_bytes(content)
    with pytest.raises(WeightsMissing, match=rf"checkpoint {re.escape(str(path))} is corrupt or not a geolocate-tiny checkpoint") as err:
        load_backbone(f"geolocate-tiny/{path}")
    assert err.value.fix.startswith("delete it, then python -m geolocate weights download")
