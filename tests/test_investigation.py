"""Saved investigations: round trip, what is kept of a photo, and clear errors naming the field."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from geolocate.evidence import AnalystEvidence, EvidenceSet
from geolocate.image.photo import Photo
from geolocate.investigation import (
    SCHEMA_VERSION,
    InvestigationError,
    PhotoRecord,
    load,
    save,
    sha256_hex,
)
from geolocate.share import ViewParams, encode_query


def _params() -> ViewParams:
    ev = EvidenceSet.of(AnalystEvidence(point=(21.98, -159.37), radius_km=80.0, exclude=("DEU",)))
    return ViewParams(weights={"population": 0.5}, budget_km2=20_000.0, refine=7, show="ensemble", evidence=ev)


def _photo() -> Photo:
    return Photo(Image.new("RGB", (8, 6), (200, 10, 10)), name="kauai.jpg", gps=(21.9, -159.4), format="JPEG",
                 original_size=(4000, 3000), exif_time="2024:06:21 12:00:00", exif_offset="-10:00", camera="Canon X")


def test_round_trip_restores_the_links_query_exactly():
    params = _params()
    text = save(params, "Saw a red dirt road; check Waimea.", [_photo()], method="linear", photo_bytes=[b"the file"])
    inv = load(text)
    assert inv.query == encode_query(params)
    assert inv.params.weights == {"population": 0.5} and inv.params.budget_km2 == 20_000.0 and inv.params.refine == 7
    assert inv.params.evidence.get("analyst").point == (21.98, -159.37)
    assert inv.notes == "Saw a red dirt road; check Waimea."
    assert inv.method == "linear"
    assert inv.created and inv.modified and inv.app_version
    (rec,) = inv.photos
    assert rec.name == "kauai.jpg" and rec.sha256 == sha256_hex(b"the file")
    assert ("camera", "Canon X") in rec.exif and any(k == "GPS" for k, _ in rec.exif)


def test_the_photo_itself_is_never_written():
    text = save(_params(), "", [_photo()], photo_bytes=[b"\xff\xd8secret-pixels"])
    assert "secret" not in text and "base64" not in text and "data:" not in text
    obj = json.loads(text)
    assert set(obj["photos"][0]) == {"name", "sha256", "exif"}
    assert obj["schema"] == "geolocate.investigation" and obj["version"] == SCHEMA_VERSION
    assert obj["readable"]["budget_km2"] == 20_000.0  # a person can read the file


def test_resave_keeps_created_and_updates_modified():
    first = load(save(_params(), "a"))
    first.created = "2020-01-01T00:00:00Z"
    again = load(save(first.params, "b", previous=first))
    assert again.created == "2020-01-01T00:00:00Z" and again.modified != "2020-01-01T00:00:00Z"


def test_photo_records_pass_through_and_sha_attribute_is_used():
    rec = PhotoRecord("a.jpg", "0" * 64, (("camera", "x"),))
    assert load(save(_params(), "", [rec])).photos == (rec,)
    p = _photo()
    p.sha256 = "ab" * 32  # type: ignore[attr-defined]  # a Photo that knows its file's hash
    assert load(save(_params(), "", [p])).photos[0].sha256 == "ab" * 32


def _obj() -> dict:
    return json.loads(save(_params(), "notes", [PhotoRecord("a.jpg", "0" * 64)]))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda o: o.update(version=SCHEMA_VERSION + 1), "version"),
        (lambda o: o.update(version="1"), "version"),
        (lambda o: o.pop("schema"), "schema"),
        (lambda o: o.update(method="mean"), "method"),
        (lambda o: o.update(notes=42), "notes"),
        (lambda o: o["query"].update(budget="lots"), "query.budget"),
        (lambda o: o["query"].update(res="99"), "query.res"),
        (lambda o: o["query"].update(budget=5), "query.budget"),
        (lambda o: o.pop("query"), "query"),
        (lambda o: o["photos"][0].update(sha256="xyz"), "photos[0].sha256"),
        (lambda o: o["photos"][0].update(exif=[["a"]]), "photos[0].exif"),
        (lambda o: o.update(created="yesterday"), "created"),
    ],
)
def test_bad_values_are_refused_naming_the_field(change, field):
    obj = _obj()
    change(obj)
    with pytest.raises(InvestigationError) as err:
        load(json.dumps(obj))
    assert str(err.value).startswith(field), str(err.value)


def test_newer_version_says_update():
    obj = _obj()
    obj["version"] = SCHEMA_VERSION + 1
    with pytest.raises(InvestigationError, match="newer geolocate"):
        load(json.dumps(obj))


def test_not_json_and_not_an_investigation():
    with pytest.raises(InvestigationError, match=r"not JSON \(line 1, column 2"):
        load("{oops")
    with pytest.raises(InvestigationError, match="not a geolocate investigation"):
        load(json.dumps({"type": "FeatureCollection"}))
    with pytest.raises(InvestigationError, match="not a text file"):
        load(b"\xff\xfe\x00bad")
    with pytest.raises(InvestigationError, match="MB"):
        load(b" " * 3_000_001)


def test_save_refuses_what_it_cannot_keep():
    with pytest.raises(InvestigationError, match="notes"):
        save(_params(), "x" * 20_001)
    with pytest.raises(InvestigationError, match="method"):
        save(_params(), "", method="mean")
