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
    png = render_map_png(dist, (-3.0, 45.0, 8.0, 52.0), size=(440, 280), budget=budget, truth=(48.85, 2.35))
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
