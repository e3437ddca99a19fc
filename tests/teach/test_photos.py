"""Case photos from a local folder: matching ids to files, shrinking, and stripping every piece of metadata."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from geolocate.teach import photos


def gps_jpeg(lat: float, lon: float, size: tuple[int, int] = (1600, 1200), seed: int = 0) -> bytes:
    """A JPEG with EXIF GPS tags (and a camera make), as a phone writes them."""
    rng = np.random.default_rng(seed)
    im = Image.fromarray(rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    gps = exif.get_ifd(photos.GPS_IFD)

    def dms(v: float):
        v = abs(v)
        d = int(v)
        m = int((v - d) * 60)
        s = round(((v - d) * 60 - m) * 60, 4)
        return (float(d), float(m), s)

    gps[1], gps[2] = ("N" if lat >= 0 else "S"), dms(lat)
    gps[3], gps[4] = ("E" if lon >= 0 else "W"), dms(lon)
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif, quality=90)
    return buf.getvalue()


def make_folder(root: Path, ids: list[str]) -> Path:
    for i, image_id in enumerate(ids):
        p = root / image_id
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(gps_jpeg(48.8584 + i, 2.2945, size=(400, 300), seed=i))
    return root


def test_fixture_really_carries_gps():
    data = gps_jpeg(-33.8568, 151.2153)
    assert photos.has_metadata(data)["gps"]
    lat, lon = photos.exif_gps(data)
    assert lat == pytest.approx(-33.8568, abs=1e-4) and lon == pytest.approx(151.2153, abs=1e-4)


def test_clean_photo_strips_gps_and_shrinks():
    data = gps_jpeg(48.8584, 2.2945, size=(2000, 1500))
    out = photos.clean_photo(data)
    meta = photos.has_metadata(out)
    assert meta == {"exif": False, "gps": False, "icc": False, "xmp": False}
    assert photos.exif_gps(out) is None
    assert Image.open(io.BytesIO(out)).size == (1024, 768)
    assert out[:2] == b"\xff\xd8"


def test_clean_photo_keeps_orientation_upright():
    im = Image.new("RGB", (200, 100), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif)
    out = Image.open(io.BytesIO(photos.clean_photo(buf.getvalue())))
    assert out.size == (100, 200)  # turned as the tag said, and the tag itself is gone
    assert 0x0112 not in out.getexif()


def test_clean_photo_refuses_non_images():
    with pytest.raises(photos.PhotoError, match="not a readable photo"):
        photos.clean_photo(b"<html>not a photo</html>")


def test_folder_matches_ids_by_path_name_and_flickr_id(tmp_path):
    root = make_folder(tmp_path, [
        "im2gps/1000269685_e60e9cdfb4_1125_78841376@N00.jpg",  # Im2GPS3k file name, in a sub-folder
        "45/77/3228511372.jpg",  # YFCC26k id = relative path
        "flat/10201275523.JPG",  # YFCC4k, upper-case extension
        "renamed/5000.jpg",  # a Flickr file name renamed to its photo id
    ])
    (tmp_path / "notes.txt").write_text("not a photo")
    f = photos.index_folder(root)
    assert f.n_files == 4
    assert f.find("1000269685_e60e9cdfb4_1125_78841376@N00.jpg") == root / "im2gps/1000269685_e60e9cdfb4_1125_78841376@N00.jpg"
    assert f.find("45/77/3228511372.jpg") == root / "45/77/3228511372.jpg"
    assert f.find("10201275523.jpg") == root / "flat/10201275523.JPG"
    assert f.find("5000_0a1b2c0000_60_t0@N00.jpg") == root / "renamed/5000.jpg"
    assert f.find("999.jpg") is None
    assert f.coverage(["10201275523.jpg", "nope.jpg"]) == (1, ["nope.jpg"])


def test_folder_does_not_follow_symlinked_folders(tmp_path):
    outside = make_folder(tmp_path / "outside", ["7.jpg"])
    root = tmp_path / "photos"
    root.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    assert photos.index_folder(root).find("7.jpg") is None


def test_index_refuses_a_missing_folder(tmp_path):
    with pytest.raises(photos.PhotoError, match="is not a folder"):
        photos.index_folder(tmp_path / "nope")


def test_own_photos_expire_and_drop():
    store = photos.OwnPhotos(keep_s=100)
    store.put("ABC", {0: b"x"}, now=1000.0)
    assert store.get("ABC", 0, now=1050.0) == b"x"
    assert store.get("ABC", 1, now=1050.0) is None
    assert store.expires_at("ABC") == 1100.0
    assert store.get("ABC", 0, now=1101.0) is None  # expired
    store.put("ABC", {0: b"y"}, now=2000.0)
    assert store.drop("ABC") and store.get("ABC", 0, now=2001.0) is None


def test_cli_reports_coverage(tmp_path, toy_bench, capsys):
    from geolocate.cli import main

    root = make_folder(tmp_path / "photos", toy_bench.ids[:3])
    assert main(["cases", "photos", str(root), "--data-dir", str(toy_bench.root)]) == 0
    out = capsys.readouterr().out
    assert "toy: 3 of 12 image ids have a photo (25.0%)" in out
    assert f"GEOLOCATE_CASE_PHOTOS={root.resolve()}" in out
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["cases", "photos", str(empty), "--data-dir", str(toy_bench.root)]) == 1
    assert "No image id of these benchmarks matched a file" in capsys.readouterr().out
