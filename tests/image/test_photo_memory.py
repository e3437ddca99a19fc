"""Photo memory (issue 7, item 2): large photos are downscaled right after decoding, the decode is bounded
before any pixel is allocated, albums are capped, and removed uploads are freed.

The RSS test runs in a fresh interpreter so that its peak (VmHWM, reset through /proc/self/clear_refs)
belongs to the album alone.
"""

from __future__ import annotations

import functools
import gc
import json
import os
import struct
import subprocess
import sys
import weakref
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from geolocate.image.photo import KEEP_SHORT_SIDE, MAX_DECODE_BYTES, PhotoError, decoded_bytes, kept_size, load_photo
from geolocate.uploads import MAX_ALBUM_PHOTOS, UploadStore

from .conftest import gradient, jpeg_bytes, png_bytes

REPO = Path(__file__).resolve().parents[2]

PEAK_BOUND_MB = 400
"""Stated bound on the peak RSS growth while decoding an album of 80-megapixel photos one after another
(one 80-megapixel RGB raster is 305 MiB in PIL's 4-byte layout; before the fix the album held 2.75 GB)."""

KEPT_BOUND_MB = 64
"""Stated bound on what an 8-photo album of 80-megapixel photos keeps (8 x 1280x1024 RGB is 40 MiB)."""


@functools.lru_cache(maxsize=4)
def _flat_idat(w: int, h: int, colour: tuple, bitdepth: int, channels: int) -> bytes:
    first = b"".join(int(c).to_bytes(bitdepth // 8, "big") for c in colour[:channels])
    row = b"\x01" + first + b"\x00" * (channels * bitdepth // 8 * (w - 1))  # filter "Sub": every pixel equals the first
    z = zlib.compressobj(6)
    return b"".join([z.compress(row) for _ in range(h)] + [z.flush()])


def big_png(w: int, h: int, colour=(30, 140, 60), bitdepth: int = 8, grey: bool = False, text: str = "") -> bytes:
    """A small-file PNG of a flat colour, compressed row by row (never holds the raster in memory);
    ``text`` goes into a tEXt chunk so that equal images can still be distinct files."""
    idat = _flat_idat(w, h, tuple(colour), bitdepth, 1 if grey else 3)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, bitdepth, 0 if grey else 2, 0, 0, 0)
    extra = chunk(b"tEXt", b"Comment\x00" + text.encode()) if text else b""
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


_CHILD = r"""
import gc, json, sys
sys.path.insert(0, sys.argv[1])
from tests.image.test_photo_memory import big_png
from geolocate.image.photo import _trim_heap, load_photo
from geolocate.uploads import UploadStore

def mb(key):
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith(key)) / 1024

def reset_peak():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")

load_photo(big_png(64, 48), "warm.png")  # decoders and numpy loaded before the baseline
files = [(f"p{i}.png", big_png(10000, 8000, text=f"photo {i}")) for i in range(8)]
sixteen = big_png(10000, 8000, colour=(1000, 30000, 65535), bitdepth=16)
grey16 = big_png(10000, 8000, colour=(30000,), bitdepth=16, grey=True)
gc.collect(); _trim_heap()
out = {}
store = UploadStore()
base = mb("VmRSS"); reset_peak()
photos, msgs, key = store.sync(files)
out["album"] = {"n": len(photos), "msgs": msgs, "sizes": sorted({p.image.size for p in photos}),
                "peak": mb("VmHWM") - base, "kept": mb("VmRSS") - base}
del photos
store.sync([]); gc.collect(); _trim_heap()
out["album"]["after_remove"] = mb("VmRSS") - base
for name, data in (("rgb16", sixteen), ("grey16", grey16)):
    base = mb("VmRSS"); reset_peak()
    p = load_photo(data, name + ".png")
    out[name] = {"peak": mb("VmHWM") - base, "kept": mb("VmRSS") - base, "size": p.image.size,
                 "mode": p.original_mode, "pixel": list(p.image.getpixel((7, 7)))}
    del p
print(json.dumps(out))
"""


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc to measure peak RSS")
def test_album_of_80_megapixel_pngs_stays_within_memory_bound():
    res = subprocess.run([sys.executable, "-c", _CHILD, str(REPO)], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    album = out["album"]
    assert album["n"] == 8 and album["msgs"] == [] and album["sizes"] == [[1280, 1024]]
    assert album["peak"] < PEAK_BOUND_MB, out
    assert album["kept"] < KEPT_BOUND_MB, out
    assert album["after_remove"] < 16, out  # removed uploads are freed
    # A 10000x8000 16-bit PNG (RGB and grey): bounded like any 80-megapixel photo, values rescaled not clipped.
    for name in ("rgb16", "grey16"):
        assert out[name]["peak"] < PEAK_BOUND_MB and out[name]["kept"] < 16 and out[name]["size"] == [1280, 1024], out
    assert out["grey16"]["mode"].startswith("I;16") and out["grey16"]["pixel"] == [117, 117, 117]  # 30000/65535*255


def test_downscaled_copy_keeps_exif_facts_and_orientation():
    img = gradient(3000, 2000)
    img.paste((0, 0, 255), (0, 0, 1500, 2000))  # left half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    exif[0x010F], exif[0x0110] = "Canon", "Canon EOS 5D"
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 0.0), 3: "E", 4: (2.0, 21.0, 0.0)}
    exif.get_ifd(0x8769).update({0x9003: "2023:06:01 14:03:22", 0x9011: "+02:00"})
    p = load_photo(jpeg_bytes(img, exif=exif, quality=90), "big.jpg")
    assert p.original_size == (3000, 2000) and p.image.size == (1024, 1536) and p.downscaled
    assert min(p.image.size) == KEEP_SHORT_SIDE
    top = np.asarray(p.image)[10, 512]
    assert top[2] > 200 and top[0] < 60  # orientation applied to the small copy: blue is on top
    assert p.gps == pytest.approx((48.85, 2.35))
    assert (p.exif_time, p.exif_offset, p.camera) == ("2023:06:01 14:03:22", "+02:00", "Canon EOS 5D")
    t = p.taken_at()
    assert t.isoformat() == "2023-06-01T14:03:22+02:00"


def test_taken_at_without_offset_is_naive_and_bad_values_are_absent():
    from geolocate.image.photo import Photo

    im = Image.new("RGB", (2, 2))
    assert Photo(im, exif_time="2020:01:02 03:04:05").taken_at().tzinfo is None
    assert Photo(im, exif_time="2020:01:02 03:04:05", exif_offset="+25:00").taken_at().tzinfo is None
    assert Photo(im, exif_time="0000:00:00 00:00:00").taken_at() is None
    assert Photo(im).taken_at() is None


def test_small_photos_are_kept_as_they_are(kauai_bytes):
    k = load_photo(kauai_bytes, "Kauai.png")
    assert k.image.size == k.original_size == (512, 504) and not k.downscaled


def test_panorama_is_centre_cropped_to_max_aspect():
    assert kept_size(20000, 1000) == (8000, 1000, (6000, 0, 14000, 1000))
    assert kept_size(1000, 30000) == (1000, 8000, (0, 11000, 1000, 19000))
    assert kept_size(40000, 2000) == (8192, 1024, (12000, 0, 28000, 2000))
    assert kept_size(4000, 3000) == (1365, 1024, (0, 0, 4000, 3000))
    assert kept_size(640, 480) == (640, 480, (0, 0, 640, 480))


def test_palette_and_bilevel_large_images_downscale():
    pal = Image.new("P", (3000, 2500), 1)
    pal.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    p = load_photo(png_bytes(pal), "pal.png")
    assert p.image.size == (1229, 1024) and tuple(np.asarray(p.image)[500, 500]) == (10, 200, 30)
    b = load_photo(png_bytes(Image.new("1", (2048, 4096), 1)), "bw.png")
    assert b.image.size == (1024, 2048) and tuple(np.asarray(b.image)[9, 9]) == (255, 255, 255)


def test_decoded_size_checked_from_the_header_before_decoding(monkeypatch):
    assert decoded_bytes("I;16", 10000, 8000) == 160_000_000 and decoded_bytes("RGB", 10, 10) == 400
    data = png_bytes(gradient(200, 200))
    monkeypatch.setattr("geolocate.image.photo.MAX_DECODE_BYTES", 100_000)
    loads = []
    real_load = Image.Image.load
    monkeypatch.setattr(Image.Image, "load", lambda self: loads.append(self.size) or real_load(self))
    with pytest.raises(PhotoError, match=r"^wide\.png: refused: decoding 200x200 RGB needs 0 MiB, over the 0 MiB limit$"):
        load_photo(data, "wide.png")
    assert loads == []  # refused from the header alone
    assert MAX_DECODE_BYTES == 320_000_000


def test_upload_store_caps_album_decodes_once_and_frees_removed():
    calls = []

    def loader(data, name):
        calls.append(name)
        return load_photo(data, name)

    store = UploadStore(loader=loader)
    files = [(f"p{i}.jpg", jpeg_bytes(gradient(40 + i, 30))) for i in range(MAX_ALBUM_PHOTOS + 3)]
    photos, msgs, key = store.sync(files)
    assert len(photos) == MAX_ALBUM_PHOTOS == len(key) == len(calls)
    assert msgs == [
        f"{MAX_ALBUM_PHOTOS + 3} photos uploaded; an album takes at most {MAX_ALBUM_PHOTOS}, so only the first "
        f"{MAX_ALBUM_PHOTOS} are used (3 left out: p12.jpg, p13.jpg, p14.jpg). Remove some to choose others."
    ]
    refs = [weakref.ref(p) for p in photos]
    del photos
    again, _, key2 = store.sync(files[:2])  # the analyst removes all but two
    assert key2 == key[:2] and len(calls) == MAX_ALBUM_PHOTOS  # nothing decoded twice
    gc.collect()
    assert [r() is not None for r in refs] == [True, True] + [False] * (MAX_ALBUM_PHOTOS - 2)
    assert store.sync(None) == ([], [], ()) and len(store) == 0
    del again
    gc.collect()
    assert all(r() is None for r in refs)


def test_upload_store_reports_bad_and_oversized_files():
    class Uploaded:  # what Streamlit's uploader hands over
        def __init__(self, name, data, file_id):
            self.name, self._data, self.file_id = name, data, file_id

        def getvalue(self):
            return self._data

    store = UploadStore(max_bytes=10_000)
    good = Uploaded("ok.jpg", jpeg_bytes(gradient()), "id-1")
    photos, msgs, key = store.sync([good, Uploaded("x.txt", b"hello", "id-2"), Uploaded("big.png", b"\0" * 20_000, "id-3")])
    assert [p.name for p in photos] == ["ok.jpg"] and key == ("id-1",)
    assert msgs[0].startswith("x.txt: not an image file this tool can read")
    assert msgs[1] == "big.png: 0.0 MB is over the 0 MB limit"


def test_load_uploads_caps_the_album():
    """The page's entry point (uploads.load_uploads) applies the same cap; extra files are not decoded."""
    from geolocate import uploads

    calls = []

    def loader(data, name):
        calls.append(name)
        return load_photo(data, name)

    items = [(f"p{i}.jpg", jpeg_bytes(gradient())) for i in range(MAX_ALBUM_PHOTOS + 1)] + [("x.txt", b"hi")]
    photos, msgs = uploads.load_uploads(items, loader)
    assert len(photos) == MAX_ALBUM_PHOTOS == len(calls)
    assert msgs == [f"{MAX_ALBUM_PHOTOS + 2} photos uploaded; an album takes at most {MAX_ALBUM_PHOTOS}, so only the first "
                    f"{MAX_ALBUM_PHOTOS} are used (2 left out: p12.jpg, x.txt). Remove some to choose others."]
