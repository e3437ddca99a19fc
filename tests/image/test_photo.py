"""Every kind of photo listed in the issue: converted, or refused with its message."""

from __future__ import annotations

import io
import logging
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from geolocate.image.photo import MAX_PIXELS, PhotoError, load_photo

from .conftest import gradient, jpeg_bytes, png_bytes


def test_plain_jpeg_and_png(kauai_bytes):
    p = load_photo(jpeg_bytes(gradient()), "g.jpg")
    assert (p.width, p.height, p.image.mode, p.format, p.gps) == (64, 48, "RGB", "JPEG", None)
    k = load_photo(kauai_bytes, "Kauai.png")
    assert (k.width, k.height, k.image.mode) == (512, 504, "RGB")


def test_exif_orientation_applied():
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    img.paste((0, 0, 255), (0, 0, 20, 20))  # left half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    p = load_photo(jpeg_bytes(img, exif=exif, quality=95), "rot.jpg")
    assert (p.width, p.height) == (20, 40)
    top = np.asarray(p.image)[5, 10]
    assert top[2] > 200 and top[0] < 60  # the blue left half is now on top


def test_cmyk_converted():
    p = load_photo(jpeg_bytes(Image.new("CMYK", (16, 16), (0, 255, 255, 0))), "cmyk.jpg")
    assert p.original_mode == "CMYK" and p.image.mode == "RGB"
    r, g, b = np.asarray(p.image)[8, 8]
    assert r > 200 and g < 60 and b < 60  # full magenta + yellow ink is red


def test_palette_with_transparency_on_white():
    img = Image.new("P", (8, 8), 0)
    img.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    img.putpixel((1, 1), 1)
    p = load_photo(png_bytes(img, transparency=0), "pal.png")
    a = np.asarray(p.image)
    assert p.original_mode == "P" and tuple(a[0, 0]) == (255, 255, 255) and tuple(a[1, 1]) == (0, 255, 0)


def test_16bit_grayscale_rescaled():
    a = np.array([[0, 32768], [65535, 1000]], dtype=np.uint16)
    p = load_photo(png_bytes(Image.fromarray(a)), "g16.png")
    out = np.asarray(p.image)[..., 0]
    assert p.original_mode.startswith("I")
    assert out.tolist() == [[0, 128], [255, 4]]  # not clipped at 255 as PIL's own convert would


def test_alpha_composited_on_white_and_grayscale():
    img = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    img.putpixel((0, 0), (0, 0, 255, 255))
    a = np.asarray(load_photo(png_bytes(img), "a.png").image)
    assert tuple(a[1, 1]) == (255, 255, 255) and tuple(a[0, 0]) == (0, 0, 255)
    g = load_photo(png_bytes(Image.new("L", (4, 4), 77)), "l.png")
    assert g.original_mode == "L" and tuple(np.asarray(g.image)[0, 0]) == (77, 77, 77)
    la = load_photo(png_bytes(Image.new("LA", (4, 4), (0, 0))), "la.png")
    assert tuple(np.asarray(la.image)[0, 0]) == (255, 255, 255)


def test_heic():
    pytest.importorskip("pillow_heif")
    from geolocate.image import photo

    assert photo.HEIF_SUPPORTED  # the loader registered the HEIF opener
    buf = io.BytesIO()
    try:
        gradient(64, 64).save(buf, format="HEIF", quality=90)
    except Exception as err:  # the wheel may ship a decoder without an encoder
        pytest.skip(f"pillow_heif cannot encode here: {err}")
    data = buf.getvalue()
    assert data[4:8] == b"ftyp"
    p = load_photo(data, "x.heic")
    assert (p.width, p.height, p.image.mode) == (64, 64, "RGB") and p.format in ("HEIF", "AVIF")
    # The pixels are the gradient's (HEVC at quality 90 is lossy: a few levels off at most), not a blank image.
    got = np.asarray(p.image).astype(int)
    want = np.asarray(gradient(64, 64)).astype(int)
    assert np.abs(got - want).mean() < 4 and got[:, :, 0].max() - got[:, :, 0].min() > 200


def _png_with_size(w: int, h: int) -> bytes:
    """A valid tiny PNG whose header claims w x h (what a decompression bomb looks like from outside)."""
    data = bytearray(png_bytes(Image.new("1", (8, 8))))
    ihdr = bytearray(data[16:29])
    ihdr[0:8] = struct.pack(">II", w, h)
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(ihdr)) & 0xFFFFFFFF)
    return bytes(data)


def test_decompression_bomb_refused():
    # PIL's own guard stops this one at open (over twice its 89-megapixel warning threshold), in our words ...
    with pytest.raises(PhotoError, match=r"^bomb\.png: refused: the image claims 900 megapixels, over the 80-megapixel limit \(possible decompression bomb\)$") as err:
        load_photo(_png_with_size(30000, 30000), "bomb.png")
    assert "DOS" not in str(err.value) and "attack" not in str(err.value)
    # ... and its warning band (89-179 megapixels) is an error too, never a 400 MB decode.
    with pytest.raises(PhotoError, match=r"^big\.png: refused: the image claims 120 megapixels") as err:
        load_photo(_png_with_size(12000, 10000), "big.png")
    assert "DOS" not in str(err.value)
    # Below PIL's threshold, our own header check refuses before decoding.
    with pytest.raises(PhotoError, match=r"b85\.png: refused: the image claims 9000x9500 = 86 megapixels, over the 80-megapixel limit \(possible decompression bomb\)"):
        load_photo(_png_with_size(9000, 9500), "b85.png")
    assert 9000 * 9500 > MAX_PIXELS


def test_truncated_refused():
    data = jpeg_bytes(gradient(256, 256), quality=95)
    with pytest.raises(PhotoError, match=r"cut\.jpg: the image is truncated and cannot be decoded"):
        load_photo(data[: len(data) // 2], "cut.jpg")


def test_corrupt_refused():
    data = bytearray(png_bytes(gradient(64, 64)))
    data[60:120] = b"\x00" * 60  # zeroes over the image data: the zlib stream and the chunk CRC break
    with pytest.raises(PhotoError, match=r"bad\.png: the image is (corrupt or )?truncated and cannot be decoded"):
        load_photo(bytes(data), "bad.png")


def test_zero_byte_refused():
    with pytest.raises(PhotoError, match=r"empty\.jpg: the file is empty \(0 bytes\)"):
        load_photo(b"", "empty.jpg")


def test_non_image_refused():
    with pytest.raises(PhotoError, match=r"notes\.txt: not an image file this tool can read \(supported: JPEG, PNG.*HEIC"):
        load_photo(b"%PDF-1.7 definitely not a photo\n" * 4, "notes.txt")
    assert issubclass(PhotoError, ValueError)


def _exif_with_gps(lat_ref: str, lat, lon_ref: str, lon) -> Image.Exif:
    exif = Image.Exif()
    exif[0x8825] = {1: lat_ref, 2: lat, 3: lon_ref, 4: lon}
    return exif


def test_exif_gps_read_and_never_logged(caplog):
    exif = _exif_with_gps("S", (33.0, 51.0, 54.0), "E", (151.0, 12.0, 36.0))
    with caplog.at_level(logging.DEBUG):
        p = load_photo(jpeg_bytes(gradient(), exif=exif), "sydney.jpg")
    assert p.gps == pytest.approx((-(33 + 51 / 60 + 54 / 3600), 151 + 12 / 60 + 36 / 3600), abs=1e-9)
    assert "33.8" not in caplog.text and "151.2" not in caplog.text
    assert "gps" not in repr(p).lower() or "33" not in repr(p)  # the dataclass repr hides it too
    w = load_photo(jpeg_bytes(gradient(), exif=_exif_with_gps("N", (40.0, 26.0, 46.0), "W", (79.0, 58.0, 56.0))), "pgh.jpg")
    assert w.gps[0] > 40 and w.gps[1] < -79


def test_null_island_gps_ignored():
    exif = _exif_with_gps("N", (0.0, 0.0, 0.0), "E", (0.0, 0.0, 0.0))
    assert load_photo(jpeg_bytes(gradient(), exif=exif), "zero.jpg").gps is None


def test_nothing_written_to_disk(tmp_path, monkeypatch):
    """Any file opened for writing anywhere (or any temporary file) while loading a photo fails the test."""
    import builtins
    import os
    import tempfile

    writes = []
    real_open, real_os_open = builtins.open, os.open

    def guarded_open(file, mode="r", *args, **kwargs):
        if any(c in str(mode) for c in "wax+"):
            writes.append(str(file))
        return real_open(file, mode, *args, **kwargs)

    def guarded_os_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            writes.append(str(path))
        return real_os_open(path, flags, *args, **kwargs)

    def no_temp(*args, **kwargs):
        writes.append("tempfile")
        raise AssertionError("a temporary file was created")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(os, "open", guarded_os_open)
    for name in ("mkstemp", "NamedTemporaryFile", "TemporaryFile", "SpooledTemporaryFile"):
        monkeypatch.setattr(tempfile, name, no_temp)
    load_photo(jpeg_bytes(gradient(), exif=_exif_with_gps("N", (1.0, 0.0, 0.0), "E", (2.0, 0.0, 0.0))), "a.jpg")
    buf = io.BytesIO()
    gradient().convert("RGBA").save(buf, "PNG")
    load_photo(buf.getvalue(), "b.png")
    assert writes == [] and list(tmp_path.iterdir()) == []


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def test_a_png_metadata_bomb_is_metadata_too_large_and_the_photo_still_decodes():
    from PIL import PngImagePlugin

    from geolocate.image.photo import METADATA_TOO_LARGE

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 40)).save(buf, "PNG")
    png = buf.getvalue()
    # A zTXt chunk that inflates past Pillow's MAX_TEXT_CHUNK (1 MB by default), before the image data.
    bomb = _png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"\x00" * (PngImagePlugin.MAX_TEXT_CHUNK * 4), 9))
    ihdr_end = 8 + 25
    data = png[:ihdr_end] + bomb + png[ihdr_end:]
    photo = load_photo(data, "bomb.png")
    assert (photo.width, photo.height) == (64, 48) and photo.image.getpixel((3, 3)) == (200, 30, 40)
    assert photo.notes == (METADATA_TOO_LARGE,) and "metadata too large" in photo.notes[0]
