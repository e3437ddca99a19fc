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
