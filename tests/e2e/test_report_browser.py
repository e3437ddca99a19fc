"""The HTML report opened in real Chromium: both maps load, nothing runs off the page, no request leaves it."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def report_file(tmp_path_factory):
    from geolocate import locate
    from geolocate.evidence import AnalystEvidence, EvidenceSet
    from geolocate.report import search_report

    ev = EvidenceSet.of(AnalystEvidence(point=(21.98, -159.37), radius_km=100.0, attributes=("forest",)))
    located = locate.build((), ev)
    weights = located.weights()
    dist = located.distribution(weights)
    html = search_report(
        dist, dist.within_budget(20_000), view_name="ensemble", weights={located.labels[n]: w for n, w in weights.items()},
        experts=[(located.labels[e.name], e.describe()) for e in located.ensemble.experts], evidence=ev.summary(),
        budget_km2=20_000, link="http://127.0.0.1:8501/locate?guess=21.98,-159.37&radius=100&attr=forest&w=" + "population:0.25;" * 40,
        ensemble=located.ensemble, analyst_notes="A red dirt road and a Norfolk pine.",
    )
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(html, encoding="utf-8")
    return path


def test_report_shows_both_maps_and_wraps_the_link(browser, report_file):
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
    try:
        page.goto(report_file.as_uri())
        maps = page.eval_on_selector_all("img.map", "els => els.map(e => [e.complete, e.naturalWidth, e.naturalHeight, e.getBoundingClientRect().width])")
        assert [m[:3] for m in maps] == [[True, 900, 360], [True, 900, 520]]
        assert all(m[3] > 500 for m in maps)  # drawn, not collapsed
        # nothing wider than the page: the long link wraps
        over = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert over <= 0
        link = page.eval_on_selector("p.link", "e => [e.scrollWidth, e.clientWidth]")
        assert link[0] <= link[1]
        assert "Kauai, Hawaii, United States" in page.inner_text("#areas")
        assert requests == []
    finally:
        page.close()
