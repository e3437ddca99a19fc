"""``predict --osm QUERY``: the CLI combines a map-feature query with a guess, as the page does, down to res 10."""

from __future__ import annotations

import csv
import io

from geolocate.cli import main
from geolocate.metrics import haversine_km

PHARMACY = (60.1680374, 24.9423205)  # Erottajan Apteekki: the only pharmacy with a tram stop within 60 m


def test_predict_osm_with_a_guess_ranks_the_matching_place_first(store_dir, tmp_path, capsys):
    out = tmp_path / "r.csv"
    rc = main(["predict", "--osm", "amenity=pharmacy; railway=tram_stop within 60 m", "--osm-store", str(store_dir), "--guess", "60.17,24.94",
               "--radius", "40", "--refine-to", "10", "--budget", "1", "--no-priors", "--quiet", "--csv", str(out)])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert rows[0]["resolution"] == "10"  # a 100 m region, not a 36 km² cell
    assert haversine_km(float(rows[0]["lat"]), float(rows[0]["lon"]), *PHARMACY) < 0.2
    assert sum(float(r["area_km2"]) for r in rows) <= 1.0


def test_predict_osm_link_round_trip_and_bad_query(store_dir, tmp_path, capsys):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    flags = ["--osm-store", str(store_dir), "--guess", "60.17,24.94", "--radius", "40", "--refine-to", "9", "--no-priors", "--quiet"]
    assert main(["predict", "--osm", "pharmacy; tram_stop within 60 m", *flags, "--csv", str(a)]) == 0
    from geolocate.evidence import EvidenceSet
    from geolocate.evidence.osm import OsmEvidence

    ev, _ = OsmEvidence.of("pharmacy; tram_stop within 60 m")
    link = "?" + "&".join(f"{k}={v}" for k, v in EvidenceSet.of(ev).to_query().items())
    assert main(["predict", "--link", link, *flags, "--csv", str(b)]) == 0
    assert a.read_text() == b.read_text()
    capsys.readouterr()
    assert main(["predict", "--osm", "pharmacy; unicorn within 5 m", *flags]) == 2
    assert "unicorn" in capsys.readouterr().err
