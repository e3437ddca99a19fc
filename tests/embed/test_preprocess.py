"""The split preprocessing (uint8 crop in workers, normalise at the model) equals clip_preprocess bit for bit."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from geolocate.embed.inputs import Item
from geolocate.embed.preprocess import classify_photo_error, decode_crop, decode_items, decode_jpeg_batch, normalize
from geolocate.image.backbone import clip_preprocess
from geolocate.image.photo import load_photo

from .conftest import jpeg, photo


def png_rgba(w: int, h: int) -> bytes:
    a = np.zeros((h, w, 4), np.uint8)
    a[..., 0] = 200
    a[..., 3] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    buf = io.BytesIO()
    Image.fromarray(a, "RGBA").save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("data", [jpeg(photo(1, 640, 480)), jpeg(photo(2, 333, 517)), jpeg(photo(3, 512, 504)), png_rgba(300, 97)],
                         ids=["640x480", "portrait-odd", "512x504", "png-alpha"])
def test_crop_then_normalise_equals_clip_preprocess(data):
    ref = clip_preprocess(load_photo(data).image)
    crop = decode_crop(data)
    assert crop.dtype == torch.uint8 and crop.shape == (3, 224, 224)
    got = normalize(crop[None])[0]
    assert torch.equal(got, ref)


def test_decode_items_reports_each_bad_row_and_keeps_order(tmp_path):
    good = tmp_path / "a.jpg"
    good.write_bytes(jpeg(photo(5)))
    (tmp_path / "t.txt").write_text("not a photo")
    (tmp_path / "cut.jpg").write_bytes(jpeg(photo(6))[:300])
    (tmp_path / "zero.jpg").write_bytes(b"")
    items = [Item("a", str(good)), Item("gone", str(tmp_path / "gone.jpg")), Item("t", str(tmp_path / "t.txt")),
             Item("cut", str(tmp_path / "cut.jpg")), Item("zero", str(tmp_path / "zero.jpg")), Item("a2", str(good))]
    db = decode_items(3, 1, items)
    assert (db.shard, db.batch) == (3, 1)
    assert db.ok.tolist() == [True, False, False, False, False, True]
    assert db.error_kind == ["", "missing", "not an image", "corrupt", "empty", ""]
    assert db.pixels.shape == (2, 3, 224, 224) and torch.equal(db.pixels[0], db.pixels[1])
    assert "gone" in db.error[1] and db.error[0] == ""


def test_classify_photo_error_messages():
    assert classify_photo_error("x: refused: the image claims 20000x20000 = 400 megapixels") == "too large"
    assert classify_photo_error("x: the image is truncated and cannot be decoded") == "corrupt"
    assert classify_photo_error("x: something new") == "failed"


def test_jpeg_batch_decoder_on_cpu_matches_the_cpu_route():
    """The nvJPEG route's code path, run on CPU: same crops as PIL's (both libjpeg-turbo) within 1 level; non-JPEGs refused."""
    datas = [jpeg(photo(7, 640, 480)), png_rgba(64, 48), b"\xff\xd8\xff garbage", jpeg(photo(8, 300, 400))]
    pixels, ok = decode_jpeg_batch(datas, "cpu")
    assert ok.tolist() == [True, False, False, True]
    ref = torch.stack([decode_crop(datas[0]), decode_crop(datas[3])])
    assert pixels.shape == ref.shape
    assert (pixels.int() - ref.int()).abs().max() <= 1
