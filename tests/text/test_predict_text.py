"""``predict --text``: typed text becomes the text experts on the command line, as in the page's field."""

from __future__ import annotations

import csv
import io

from geolocate.cli import main
from geolocate.metrics import haversine_km


def test_typed_phone_number_puts_marseille_first(tmp_path, capsys):
    out = tmp_path / "r.csv"
    rc = main(["predict", "--text", "Tel. +33 4 91 54 12 30", "--text", "www.marseille-tourisme.fr", "--quiet", "--budget", "5000", "--csv", str(out)])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert "found:" in cap.out and "text: +33 4 91 54 12 30 -> " in cap.out and "(phone)" in cap.out
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert haversine_km(float(rows[0]["lat"]), float(rows[0]["lon"]), 43.2965, 5.3698) < 60  # Marseille


def test_no_ocr_skips_reading_and_hostile_text_is_a_message(tmp_path, capsys):
    rc = main(["predict", "--text", "\u202e" + "x" * 20000, "--no-ocr", "--no-priors", "--quiet", "--top", "1", "--guess", "1,1"])
    cap = capsys.readouterr()
    assert rc == 0 and "Traceback" not in cap.out + cap.err
