import numpy as np
import pytest

from geolocate.data import DataError, discover_benchmarks, read_attribute_probs, read_ground_truth, read_point_predictions


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_ground_truth_columns_by_name_any_order(tmp_path):
    p = _write(tmp_path, "gt.csv", "LON,IMG_ID,LAT\n2.35,a.jpg,48.85\n-0.12,b.jpg,51.5\n")
    df, rep = read_ground_truth(p)
    assert df.id.tolist() == ["a.jpg", "b.jpg"] and df.lat.tolist() == [48.85, 51.5] and df.lon.tolist() == [2.35, -0.12]
    assert rep.skipped == []


def test_missing_column_names_file_and_candidates(tmp_path):
    p = _write(tmp_path, "gt.csv", "IMG_ID,LAT,x\na,1,2\n")
    with pytest.raises(DataError, match=r"gt.csv: no longitude column; expected one of lon, LON"):
        read_ground_truth(p)


@pytest.mark.parametrize(
    "row,message",
    [
        ("b,95,10", r"line 3: column 'LAT': 95.0 is out of range \[-90, 90\]"),
        ("b,10,-181", r"line 3: column 'LON': -181.0 is out of range"),
        ("b,,10", r"line 3: column 'LAT': nan is not a number"),
        ("b,north,10", r"line 3: column 'LAT': 'north' is not a number"),
        ("a,10,10", r"line 3: column 'IMG_ID': duplicate id 'a' \(first on line 2\)"),
    ],
)
def test_bad_rows_name_line_and_column(tmp_path, row, message):
    p = _write(tmp_path, "gt.csv", f"IMG_ID,LAT,LON\na,1,2\n{row}\n")
    with pytest.raises(DataError, match=message):
        read_ground_truth(p)


def test_skip_mode_counts_and_reports(tmp_path):
    p = _write(tmp_path, "gt.csv", "IMG_ID,LAT,LON\na,1,2\nb,95,2\nc,3,4\nd,x,5\n")
    df, rep = read_ground_truth(p, on_error="skip")
    assert df.id.tolist() == ["a", "c"]
    assert [ln for ln, _ in rep.skipped] == [3, 5]
    assert "2 skipped" in str(rep)


def test_predictions_with_footer(tmp_path):
    p = _write(
        tmp_path,
        "m.csv",
        "img_id,gt_lat,predicted_lat,gt_long,predicted_long,great_circle_distance\n"
        "a,0,0,0,1,111.19\n\nstreet acc (1km),city acc (25km)\n0.5,0.75\n",
    )
    df, footer, _ = read_point_predictions(p)
    assert df.lat.tolist() == [0.0] and df.lon.tolist() == [1.0]  # the predicted point, not the truth
    assert footer == {"street acc (1km)": 0.5, "city acc (25km)": 0.75}


def test_attribute_probabilities_renormalised_and_validated(tmp_path):
    p = _write(tmp_path, "a.csv", "name,Prob_indoor,Prob_natural,Prob_urban\nx,1,1,2\n")
    df, names, _ = read_attribute_probs(p)
    assert names == ["indoor", "natural", "urban"] and np.allclose(df[names].to_numpy(), [[0.25, 0.25, 0.5]])
    bad = _write(tmp_path, "b.csv", "name,Prob_indoor,Prob_natural,Prob_urban\nx,1,-1,2\n")
    with pytest.raises(DataError, match=r"line 2: column 'Prob_natural': '-1' is not a probability"):
        read_attribute_probs(bad)


def test_real_footer_reproduced(shared_data):
    from geolocate.experts.point import haversine_km
    from geolocate.metrics import gcd_accuracy

    path = shared_data / "im2gps3k" / "predictions" / "ISNs_M-fstar-S3.csv"
    pred, footer, _ = read_point_predictions(path)
    truth, _ = read_ground_truth(path)  # gt_lat / gt_long of the same file
    assert len(pred) == 2997
    acc = gcd_accuracy(haversine_km(truth.lat, truth.lon, pred.lat, pred.lon))
    assert [round(100 * acc[r], 1) for r in (1, 25, 200, 750, 2500)] == [10.5, 28.0, 36.6, 49.7, 66.0]
    assert [round(v, 6) for v in list(footer.values())[:5]] == [0.105439, 0.279947, 0.366366, 0.49683, 0.65966]


def test_discover_shared_benchmarks(shared_data):
    specs = {s.name: s for s in discover_benchmarks(shared_data)}
    assert set(specs) >= {"im2gps3k", "yfcc26k", "yfcc4k"}
    assert len(specs["im2gps3k"].predictions) == 6 and specs["im2gps3k"].attributes
    assert specs["yfcc4k"].ground_truth.name == "gt.csv" and not specs["yfcc4k"].attributes


# ---- issue 7, item 6: blank lines, encodings, empty files, line numbers, size ------------------------------


def test_blank_line_inside_ground_truth_keeps_later_rows(tmp_path):
    p = _write(tmp_path, "gt.csv", "IMG_ID,LAT,LON\na,1,2\n\nb,3,4\n\n\nc,5,6\nd,95,7\n")
    with pytest.raises(DataError, match=r"gt\.csv: line 8: column 'LAT': 95\.0 is out of range"):
        read_ground_truth(p)  # the row after three blank lines is read, on its real line
    df, rep = read_ground_truth(p, on_error="skip")
    assert df.id.tolist() == ["a", "b", "c"] and df.line.tolist() == [2, 4, 7]
    assert rep.rows == 4 and rep.skipped == [(8, "column 'LAT': 95.0 is out of range [-90, 90]")]


def test_only_a_trailing_block_of_names_and_numbers_is_a_footer(tmp_path):
    head = "img_id,gt_lat,predicted_lat,gt_long,predicted_long,great_circle_distance\n"
    p = _write(tmp_path, "m.csv", head + "a,0,0,0,1,111\n\nb,0,0,0,2,222\n\nacc (1km),mean (km)\n0.5,166.5\n")
    df, footer, _ = read_point_predictions(p)
    assert df.id.tolist() == ["a", "b"] and df.line.tolist() == [2, 4] and footer == {"acc (1km)": 0.5, "mean (km)": 166.5}
    # Two data rows after a blank line at the end are rows, not a footer (they have numbers in the first line).
    gt = _write(tmp_path, "gt.csv", "IMG_ID,LAT,LON\na,1,2\n\nx.jpg,1,2\n3,4,5\n")
    assert read_ground_truth(gt)[0].id.tolist() == ["a", "x.jpg", "3"]


def test_non_utf8_bytes_are_an_error_naming_the_line(tmp_path):
    p = tmp_path / "gt.csv"
    p.write_bytes(b"IMG_ID,LAT,LON\na,1,2\nb" + "\u00e9".encode("latin-1") + b".jpg,3,4\n")
    with pytest.raises(DataError, match=r"gt\.csv: line 3: byte 0xe9 is not UTF-8 text; save the file as UTF-8"):
        read_ground_truth(p)
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbfIMG_ID,LAT,LON\n" + "b\u00e9.jpg,3,4\n".encode())
    assert read_ground_truth(bom)[0].id.tolist() == ["b\u00e9.jpg"]  # a UTF-8 BOM is fine


@pytest.mark.parametrize(
    "text,message",
    [
        ("", r"e\.csv: the file is empty \(no header, no rows\)"),
        ("\n \n\n", r"e\.csv: the file is empty"),
        ("IMG_ID,LAT,LON\n", r"e\.csv: no data rows after the header on line 1"),
        ("\nIMG_ID,LAT,LON\n\n", r"e\.csv: no data rows after the header on line 2"),
    ],
)
def test_empty_and_header_only_files(tmp_path, text, message):
    p = _write(tmp_path, "e.csv", text)
    for reader in (read_ground_truth, read_point_predictions, read_attribute_probs):
        with pytest.raises(DataError, match=message):
            reader(p)


def test_all_rows_skipped_is_an_error_not_an_empty_table(tmp_path):
    p = _write(tmp_path, "gt.csv", "IMG_ID,LAT,LON\na,x,2\nb,95,2\n")
    with pytest.raises(DataError, match=r"gt\.csv: no usable rows: all 2 were skipped"):
        read_ground_truth(p, on_error="skip")


def test_line_numbers_after_quoted_multiline_field(tmp_path):
    p = _write(tmp_path, "gt.csv", 'IMG_ID,NOTE,LAT,LON\na,"two\nlines",1,2\nb,"three\nlong\nlines",3,4\nc,x,95,2\n')
    with pytest.raises(DataError, match=r"line 7: column 'LAT': 95\.0 is out of range"):
        read_ground_truth(p)
    df, _ = read_ground_truth(p, on_error="skip")
    assert df.line.tolist() == [2, 4]


def test_extra_fields_are_an_error_on_their_line(tmp_path):
    p = _write(tmp_path, "gt.csv", "IMG_ID,LAT,LON\na,1,2\nb,3,4,5\n")
    with pytest.raises(DataError, match=r"gt\.csv: line 3: 4 fields, the header on line 1 has 3"):
        read_ground_truth(p)


def test_size_checked_before_reading(tmp_path, monkeypatch):
    from pathlib import Path

    import geolocate.data as data

    p = _write(tmp_path, "gt.csv", "IMG_ID,LAT,LON\n" + "a,1,2\n" * 100)
    monkeypatch.setattr(data, "MAX_FILE_BYTES", 500)

    def no_read(self, *a, **k):
        raise AssertionError("the file was read before the size check")

    monkeypatch.setattr(Path, "read_bytes", no_read)
    monkeypatch.setattr(Path, "read_text", no_read)
    with pytest.raises(DataError, match=r"gt\.csv: the file is 0 MiB; the limit is 0 MiB"):
        read_ground_truth(p)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(DataError, match=r"nope\.csv: file not found"):
        read_ground_truth(tmp_path / "nope.csv")
    with pytest.raises(DataError, match=r"is a folder, not a CSV file"):
        read_ground_truth(tmp_path)


def test_accuracy_skip_bad_rows_applies_to_truth(tmp_path, capsys):
    from geolocate.cli import main

    pred = _write(
        tmp_path,
        "m.csv",
        "img_id,gt_lat,predicted_lat,gt_long,predicted_long,great_circle_distance\na,0,0,0,0,0\nb,0,0,0,0,0\n",
    )
    truth = _write(tmp_path, "gt.csv", "IMG_ID,LAT,LON\na,0,0\nb,north,0\n")
    assert main(["accuracy", str(pred), "--truth", str(truth)]) == 2
    assert "gt.csv: line 3: column 'LAT': 'north' is not a number" in capsys.readouterr().err
    assert main(["accuracy", str(pred), "--truth", str(truth), "--skip-bad-rows"]) == 0
    out = capsys.readouterr().out
    assert "100.0%" in out and "n=1)" in out


def test_a_row_of_empty_fields_is_a_bad_row_not_a_blank_line(tmp_path):
    p = _write(tmp_path, "gt.csv", "IMG_ID,LAT,LON\na,1,2\n,,\nb,3,4\n")
    with pytest.raises(DataError, match=r"gt\.csv: line 3: column 'IMG_ID': empty id \(and 2 more problems\)"):
        read_ground_truth(p)
    df, rep = read_ground_truth(p, on_error="skip")
    assert df.id.tolist() == ["a", "b"] and [ln for ln, _ in rep.skipped] == [3, 3, 3]
