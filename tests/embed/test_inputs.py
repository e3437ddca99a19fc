"""Inputs of embed: folders and manifests."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from geolocate.embed.inputs import InputError, collect_items

from .conftest import write_photos


def test_folder_is_recursive_sorted_and_skips_hidden(tmp_path):
    write_photos(tmp_path / "b", 2)
    write_photos(tmp_path / "a", 1, start=5)
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "x.jpg").write_bytes(b"x")
    (tmp_path / "readme.txt").write_text("kept: reported as a bad row, never dropped silently")
    items = collect_items(tmp_path)
    assert [it.id for it in items] == ["a/p0005.jpg", "b/p0000.jpg", "b/p0001.jpg", "readme.txt"]
    assert items[0].source == str((tmp_path / "a" / "p0005.jpg").resolve())
    assert math.isnan(items[0].lat)


def test_csv_manifest_columns_relative_paths_and_urls(tmp_path):
    write_photos(tmp_path / "img", 2)
    (tmp_path / "m").mkdir()
    pd.DataFrame({
        "IMG_ID": ["x1", "x2", "x3", "x4"],
        "File": ["../img/p0000.jpg", str(tmp_path / "img" / "p0001.jpg"), "https://example.org/a.jpg", ""],
        "LAT": ["10.5", "-3", "", "bad"], "Lon": ["20", "30.25", "", "1"], "case": ["A", "A", "B", "B"],
    }).to_csv(tmp_path / "m" / "list.csv", index=False)
    items = collect_items(tmp_path / "m" / "list.csv", group_by="case")
    assert [it.id for it in items] == ["x1", "x2", "x3", "x4"]
    assert items[0].source == str((tmp_path / "img" / "p0000.jpg").resolve())
    assert items[2].source == "https://example.org/a.jpg" and items[3].source == ""
    assert (items[0].lat, items[0].lon, items[1].lat, items[1].lon) == (10.5, 20.0, -3.0, 30.25)
    assert math.isnan(items[2].lat) and math.isnan(items[3].lat)
    assert [it.group for it in items] == ["A", "A", "B", "B"]


def test_parquet_manifest_without_id_uses_the_path(tmp_path):
    write_photos(tmp_path, 2)
    pd.DataFrame({"path": ["p0000.jpg", "p0001.jpg"]}).to_parquet(tmp_path / "m.parquet")
    assert [it.id for it in collect_items(tmp_path / "m.parquet")] == ["p0000.jpg", "p0001.jpg"]


@pytest.mark.parametrize("frame,kw,message", [
    ({"name": ["a"]}, {}, "no path or URL column"),
    ({"path": ["a", "b"], "id": ["1", "1"]}, {}, "duplicate ids"),
    ({"path": ["a"]}, {"group_by": "case"}, "no group column 'case'"),
    ({"path": ["a"]}, {"path_column": "where"}, "no path or URL column 'where'"),
])
def test_bad_manifests_say_what_is_wrong(tmp_path, frame, kw, message):
    pd.DataFrame(frame).to_csv(tmp_path / "m.csv", index=False)
    with pytest.raises(InputError, match=message):
        collect_items(tmp_path / "m.csv", **kw)


def test_missing_input_and_empty_folder(tmp_path):
    with pytest.raises(InputError, match="no such folder"):
        collect_items(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no files"):
        collect_items(tmp_path / "empty")
