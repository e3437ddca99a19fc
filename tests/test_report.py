"""The HTML report and the server-rendered map images."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def paris_search():
    from geolocate.ensemble import Ensemble
    from geolocate.experts import PointExpert

    dist = Ensemble([PointExpert(48.85, 2.35, scale_km=50.0, name="p")]).distribution(refine_to=5)
    return dist, dist.within_budget(2e4)


def test_map_png_draws_cells_outline_and_marker(paris_search):
    import io

    from PIL import Image

    from geolocate.report import render_map_png

    dist, budget = paris_search
    png = render_map_png(dist, (-3.0, 45.0, 8.0, 52.0), size=(440, 280), budget=budget, truth=(48.85, 2.35), labels=False)
    im = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    assert im.shape == (280, 440, 3)
    r, g, b = im[..., 0], im[..., 1], im[..., 2]
    cyan = (r < 60) & (g > 200) & (b > 200)
    green = (g > 200) & (r < 140) & (b < 140)
    assert cyan.sum() > 100  # the budget outline
    ys, xs = np.nonzero(green)
    # The marker sits at Paris: x = (2.35 + 3) / 11 * 440 = 214, y = (52 - 48.85) / 7 * 280 = 126.
    assert abs(xs.mean() - 214) < 3 and abs(ys.mean() - 126) < 3 and green.sum() < 0.01 * im.shape[0] * im.shape[1]
    # The densest colour (the ramp's yellow end) is at the kernel's centre, not at the edges.
    assert im[126, 214 + 15, 0] > 200 and im[5, 5].tolist() != im[126, 229].tolist()


def test_report_is_self_contained_and_escapes_user_text(paris_search):
    from geolocate.report import ReportInput, report_html

    dist, budget = paris_search
    evil = '<img src="http://evil.example/x.png">'
    html = report_html(
        ReportInput(
            view_name="ensemble",
            weights={"p": 1.0},
            experts=[("p", "point kernel")],
            evidence=[("guess", evil)],
            regions=budget,
            places=["Paris, France"] * len(budget),
            budget_km2=2e4,
            map_png=b"\x89PNG fake",
            link="http://127.0.0.1:8501/?guess=48.85,2.35&attr=" + evil,
            photos=[(evil + ".jpg", b"\xff\xd8 fake", [("camera", evil)])],
            notes=["Photo not analysed by any image model: priors and your evidence only."],
            version="0.1.0",
        )
    )
    assert evil not in html and "&lt;img src=&quot;http://evil.example/x.png&quot;&gt;" in html
    assert html.count("data:image/png;base64,") == 1 and "data:image/jpeg;base64," in html
    assert "default-src 'none'" in html  # even a missed escape could not fetch anything
    rows = html.split('<table id="regions">')[1].split("</table>")[0]
    assert rows.count("<tr>") == min(len(budget), 25) + 1 and "Paris, France" in rows
    assert "Photo not analysed by any image model" in html and "geolocate 0.1.0" in html


# ------------------------------------------------------------------------------ two maps, areas, labels


@pytest.fixture(scope="module")
def kauai_search():
    from geolocate import locate
    from geolocate.evidence import AnalystEvidence, EvidenceSet

    ev = EvidenceSet.of(AnalystEvidence(point=(21.98, -159.37), radius_km=100.0, attributes=("forest",)))
    located = locate.build((), ev)
    weights = located.weights()
    dist = located.distribution(weights)
    return located, ev, weights, dist, dist.within_budget(20_000)


def _pngs(html: str) -> list:
    import base64
    import io
    import re

    from PIL import Image

    return [np.asarray(Image.open(io.BytesIO(base64.b64decode(b))).convert("RGB")).astype(int)
            for b in re.findall(r'src="data:image/png;base64,([^"]+)"', html)]


def test_search_report_has_world_and_zoomed_maps_areas_notes_and_clean_labels(kauai_search):
    from geolocate.image.photo import Photo
    from geolocate.report import search_report

    located, ev, weights, dist, regions = kauai_search
    photo = Photo(__import__("PIL.Image").Image.new("RGB", (16, 12)), name="kauai.jpg", camera="Canon X")
    photo.sha256 = "ab" * 32  # type: ignore[attr-defined]
    link = "http://127.0.0.1:8501/locate?guess=21.98,-159.37&attr=forest&" + "w=" + "x" * 400
    html = search_report(
        dist, regions, view_name="ensemble", weights={located.labels[n]: w for n, w in weights.items()},
        experts=[(located.labels[e.name], e.describe()) for e in located.ensemble.experts], evidence=ev.summary(),
        budget_km2=20_000, link=link, photos=[photo], ensemble=located.ensemble,
        analyst_notes="Red dirt road.\n<b>not bold</b>",
    )
    world, zoom = _pngs(html)
    assert world.shape == (360, 900, 3) and zoom.shape == (520, 900, 3)
    assert "<h3>The world</h3>" in html and "<h3>The search</h3>" in html
    # the candidate areas, named, before the maps
    areas = html.split('<table id="areas">')[1].split("</table>")[0]
    assert "Kauai, Hawaii, United States" in areas and "analyst guess puts" in areas
    assert html.index('id="areas"') < html.index("<h3>The world</h3>")
    # labels cleaned, evidence as plain text, notes escaped, SHA-256 shown, link wrapped
    assert "analyst: analyst" not in html and "50-50 km" not in html and "sigma 50 km" in html
    assert '<pre class="text" id="evidence">guess: 21.98, -159.37 ± 100 km' in html
    assert "&lt;b&gt;not bold&lt;/b&gt;" in html and "<b>not bold</b>" not in html
    assert "ab" * 32 in html
    assert ".wrap,.link{overflow-wrap:anywhere" in html and '<p class="link"><code>' in html


def test_zoomed_map_shows_coastline_land_legend_and_area_numbers(kauai_search):
    from geolocate.candidates import candidate_areas
    from geolocate.report import BORDER_RGBA, LAND_RGBA, render_map_png, zoom_extent

    located, _, _, dist, regions = kauai_search
    areas = candidate_areas(regions, located.ensemble)
    extent = zoom_extent(regions, areas, 900 / 520)
    assert extent[0] < -159.5 and extent[2] > -158.0 and extent[1] < 21.5 < 22.2 < extent[3]
    import io

    from PIL import Image

    im = np.asarray(Image.open(io.BytesIO(render_map_png(dist, extent, (900, 520), budget=regions, areas=areas))).convert("RGB")).astype(int)
    land = (np.abs(im - np.array(LAND_RGBA[:3])).sum(axis=2) < 6).sum()
    coast = (np.abs(im - np.array(BORDER_RGBA[:3])).sum(axis=2) < 60).sum()
    assert land > 2000 and coast > 200  # Maui and the Big Island's outlines at the frame's edge, Kauai and Oahu under the cells
    legend = im[480:500, 12:232]
    assert legend[:, :, 0].max() > 240 and legend[:, :, 2].min() < 80  # the ramp's yellow end is there
    cyan = (im[..., 0] < 60) & (im[..., 1] > 200) & (im[..., 2] > 200)
    assert cyan.sum() > 500  # the budget outline and the area numbers


def test_clean_label():
    from geolocate.report import clean_label

    assert clean_label("analyst: analyst: forest (evergreen 18%)") == "analyst: forest (evergreen 18%)"
    assert clean_label("analyst: analyst guess at (1, 2), sigma 150-150 km") == "analyst guess at (1, 2), sigma 150 km"
    assert clean_label("point: GeoCLIP, sigma 1-2500 km") == "point: GeoCLIP, sigma 1-2500 km"
    assert clean_label("prior: population") == "prior: population"
