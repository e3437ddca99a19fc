"""The Locate page's candidate-area and investigation widgets (pages/_candidates.py) in AppTest."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest


def _areas_app(privacy: bool):
    """A two-mode toy ensemble (60 % Kauai, 40 % Paris) grouped into areas, rendered by render_candidates."""

    def app():
        import streamlit as st

        from geolocate.candidates import candidate_areas
        from geolocate.ensemble import Ensemble
        from geolocate.experts.point import PointExpert
        from pages._candidates import render_candidates

        weights = {"kauai": 0.6, "paris": 0.4}
        ens = Ensemble([PointExpert(22.05, -159.5, 150.0, name="kauai"), PointExpert(48.85, 2.35, 150.0, name="paris")])
        regions = ens.distribution(weights, method="linear").within_budget(1_500_000)
        render_candidates(candidate_areas(regions, ens, weights), bool(st.session_state.get("privacy", True)))

    at = AppTest.from_function(app, default_timeout=120)
    at.session_state["privacy"] = privacy
    return at.run()


def test_two_named_areas_with_their_chances_and_no_links_in_privacy_mode():
    at = _areas_app(privacy=True)
    assert not at.exception, [e.message for e in at.exception]
    table = at.dataframe[0].value
    assert list(table["#"]) == [1, 2]
    assert "Hawaii, United States" in table["candidate area"][0] and table["candidate area"][1].endswith("France")
    assert list(table["chance"]) == ["60%", "40%"]
    assert table["why"][0].startswith("kauai") and table["why"][1].startswith("paris")
    # coordinates in four copyable formats; no links
    assert len(at.code) == 4 and any(" " in c.value and c.value[:2].isdigit() for c in at.code)
    assert len(at.dataframe) == 1
    assert any("privacy mode" in c.value for c in at.caption)


def test_links_open_in_a_new_tab_when_privacy_is_off_and_follow_the_pick():
    at = _areas_app(privacy=False)
    assert not at.exception
    links = at.dataframe[1].value
    assert len(links) == 7 and links["service"][0] == "OpenStreetMap"
    assert "kartaview.org/map/@22." in links["link"][4]
    at.selectbox(key="cand::pick").set_value(2).run()
    links = at.dataframe[1].value
    lat = float(links["link"][4].split("@")[1].split(",")[0])
    assert 48.0 < lat < 50.0  # the Paris area's densest cell (a base-grid cell here)
    assert at.code[0].value.startswith(f"{lat:.5f}"[:4])


def _investigation_app():
    def app():
        import streamlit as st

        from geolocate.evidence import AnalystEvidence, EvidenceSet
        from geolocate.share import ViewParams
        from pages._candidates import render_investigation_controls

        params = ViewParams(budget_km2=20_000.0, evidence=EvidenceSet.of(AnalystEvidence(point=(21.98, -159.37), radius_km=80.0)))
        inv = render_investigation_controls(params, "check Waimea")
        if inv is not None:
            st.session_state["opened"] = (inv.params.budget_km2, inv.params.evidence.get("analyst").point, inv.notes)

    return AppTest.from_function(app, default_timeout=60).run()


def test_save_then_open_round_trips_and_a_bad_file_is_one_error():
    from geolocate.evidence import AnalystEvidence, EvidenceSet
    from geolocate.investigation import save
    from geolocate.share import ViewParams

    at = _investigation_app()
    assert not at.exception
    assert at.get("download_button")[0].proto.label == "Save investigation"
    text = save(ViewParams(budget_km2=5_000.0, evidence=EvidenceSet.of(AnalystEvidence(point=(48.85, 2.35)))), "opened notes")
    at.file_uploader(key="cand::open").set_value(("case.json", text.encode(), "application/json")).run()
    assert not at.exception and not at.error
    assert at.session_state["opened"] == (5_000.0, (48.85, 2.35), "opened notes")
    bad = json.loads(text)
    bad["query"]["budget"] = "lots"
    at.session_state["opened"] = None
    at.file_uploader(key="cand::open").set_value(("bad.json", json.dumps(bad).encode(), "application/json")).run()
    assert len(at.error) == 1 and "query.budget" in at.error[0].value.replace("\\", "")
    assert at.session_state["opened"] is None
