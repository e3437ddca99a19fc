"""Decoding uploads in memory: bad files become messages, never exceptions; the album cap."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from geolocate import uploads


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 120, 200)).save(buf, "JPEG")
    return buf.getvalue()


def _loader(data: bytes, name: str = "photo"):
    try:
        im = Image.open(io.BytesIO(data))
        im.load()
    except Exception as err:
        raise ValueError("not an image") from err
    return im


def test_load_uploads_reports_bad_files_and_keeps_good_ones():
    items = [("good.jpg", _jpeg()), ("bad.jpg", b"not a jpeg at all"), ("huge.jpg", b"x" * 2000), ("empty.png", b"")]
    photos, msgs = uploads.load_uploads(items, _loader, max_bytes=1500)
    assert len(_jpeg()) < 1500
    assert len(photos) == 1 and photos[0].size == (32, 24)
    assert [m.split(":")[0] for m in msgs] == ["bad.jpg", "huge.jpg", "empty.png"]
    assert "over the" in msgs[1]


def test_load_uploads_never_raises_on_loader_bugs():
    def broken(data, name="x"):
        raise KeyError("decoder bug")

    photos, msgs = uploads.load_uploads([("a.jpg", b"123")], broken)
    assert photos == [] and "could not be read" in msgs[0]


def test_load_uploads_with_the_real_photo_loader():
    photo_mod = pytest.importorskip("geolocate.image.photo")
    photos, msgs = uploads.load_uploads([("ok.jpg", _jpeg()), ("junk.txt", b"hello")], photo_mod.load_photo)
    assert len(photos) == 1 and photos[0].width == 32
    assert msgs == ["junk.txt: not an image file this tool can read (supported: JPEG, PNG, WebP, TIFF, BMP, GIF, HEIC/HEIF/AVIF)"]
