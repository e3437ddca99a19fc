"""Cases and Classroom in a real headless Chromium against `streamlit run app.py` on 127.0.0.1 (offline):
a Cases deep link in guess mode reveals a typed guess; a teacher starts a round in the browser, two
students join and guess in their own browser contexts, and the teacher's leaderboard lists exactly them
with the hand-computed distances."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))  # the shared server launcher

from serverproc import need_browser, streamlit_server  # noqa: E402
from workbench_helpers import MAP, map_drawn_js, project_js  # noqa: E402

pytestmark = pytest.mark.e2e

R = 6371.0088
TIMEOUT_MS = 300_000  # the first visit imports the models, builds the priors and scores the photos (about 10 s on a quiet
# machine, over 2 minutes at a load average of 25 on two cores)


def _context(browser, **options):
    """A browser context whose actions wait up to TIMEOUT_MS (Playwright's 30 s is too short on a loaded machine)."""
    ctx = browser.new_context(**options)
    ctx.set_default_timeout(TIMEOUT_MS)
    return ctx


def _idle(page) -> None:
    """No script running (Streamlit's status widget gone) and the fonts loaded."""
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]') && document.fonts.status === 'loaded'", timeout=TIMEOUT_MS)


def _metric(page, label: str) -> str:
    return page.locator('[data-testid="stMetric"]', has_text=label).locator('[data-testid="stMetricValue"]').inner_text().strip()


@pytest.fixture(scope="module")
def toy_ids(toy_bench):
    """The toy benchmark's photo ids (tests/data/toy): case 0 at (0°, 10°E), case 1 at (45°N, 7°E)."""
    return toy_bench.ids


@pytest.fixture(scope="module")
def server(tmp_path_factory, toy_bench):
    need_browser()
    root = tmp_path_factory.mktemp("teaching")
    env = {"GEOLOCATE_DATA_DIR": str(toy_bench.root), "GEOLOCATE_CACHE_DIR": str(root / "cache"), "GEOLOCATE_CLASSROOM_DB": str(root / "rounds.sqlite3")}
    with streamlit_server(env=env, log=root / "server.log") as url:
        yield url


def _guess_mode(browser, server: str, case_id: str):
    """A fresh browser context on a Cases deep link in guess mode; returns (context, page, guess box)."""
    from playwright.sync_api import expect

    ctx = _context(browser, viewport={"width": 1300, "height": 1000})
    page = ctx.new_page()
    page.goto(f"{server}/cases?bench=toy&case={case_id}&mode=guess", wait_until="domcontentloaded")
    box = page.get_by_label("Latitude, longitude")
    expect(box).to_be_visible(timeout=TIMEOUT_MS)
    return ctx, page, box


def test_cases_deep_link_reveals_a_typed_guess(server, browser, toy_ids):
    from playwright.sync_api import expect

    ctx, page, box = _guess_mode(browser, server, toy_ids[1])
    try:
        expect(page.get_by_role("heading", name="Reveal", exact=True)).to_have_count(0)  # the truth stays hidden until a guess
        _idle(page)
        box.fill("44, 7")  # one degree of latitude south of the truth (45°N, 7°E)
        box.press("Enter")
        _idle(page)
        page.get_by_role("button", name="Reveal", exact=True).click(timeout=TIMEOUT_MS)
        expect(page.get_by_role("heading", name="Reveal", exact=True)).to_be_visible(timeout=TIMEOUT_MS)
        assert _metric(page, "Distance") == "111 km"  # 1° of a great circle: 111.195 km
        assert _metric(page, "Your area to truth") == "38,843 km²"  # 2 pi R² (1 - cos 1°)
        assert "bench=toy" in page.url and "mode=guess" in page.url  # the page keeps its deep link
    finally:
        ctx.close()


def test_cases_guess_by_clicking_the_map(server, browser, toy_ids):
    """A click on the neutral world map becomes the typed guess (the map's own click coordinates)."""
    from playwright.sync_api import expect

    ctx, page, box = _guess_mode(browser, server, toy_ids[2])
    try:
        frame = page.locator('iframe[title="pages._deckmap.geolocate_map"]')
        page.wait_for_function(f"() => !!({map_drawn_js()})()", timeout=TIMEOUT_MS)
        _idle(page)
        frame.scroll_into_view_if_needed()
        fb = frame.bounding_box()
        # The centre of the map is the camera's centre: the world view looks at 20°N, 0°E.
        page.mouse.click(fb["x"] + fb["width"] / 2, fb["y"] + fb["height"] / 2)
        expect(box).not_to_have_value("", timeout=TIMEOUT_MS)
        lat, lon = (float(v) for v in box.input_value().split(","))
        assert abs(lat - 20.0) < 1.0 and abs(lon) < 1.0, (lat, lon)
        _idle(page)
        page.get_by_role("button", name="Reveal", exact=True).click(timeout=TIMEOUT_MS)
        expect(page.get_by_role("heading", name="Reveal", exact=True)).to_be_visible(timeout=TIMEOUT_MS)
    finally:
        ctx.close()


def test_classroom_round_teacher_and_two_students(server, browser, toy_ids):
    from playwright.sync_api import expect

    teacher_ctx = _context(browser, viewport={"width": 1300, "height": 1400})
    teacher = teacher_ctx.new_page()
    students = []
    try:
        # The teacher starts a one-photo round from a case link: truth (0°, 10°E).
        teacher.goto(f"{server}/classroom?cases={toy_ids[0]}", wait_until="domcontentloaded")
        start = teacher.get_by_role("button", name="Start the round")
        expect(start).to_be_visible(timeout=TIMEOUT_MS)
        _idle(teacher)
        start.click()
        expect(teacher.get_by_text("Students open this link")).to_be_visible(timeout=TIMEOUT_MS)
        code = teacher.url.split("round=")[1][:6]
        expect(teacher.get_by_text("0 students on the board")).to_be_visible(timeout=TIMEOUT_MS)

        # Two students, each in their own browser context (own cookies and session), guess 1° and 2° east.
        want = {"Ann": (1.0, R * math.radians(1.0)), "Bob": (2.0, R * math.radians(2.0))}
        for name, (east, km) in want.items():
            ctx = _context(browser, viewport={"width": 1100, "height": 900})
            page = ctx.new_page()
            students.append(ctx)
            page.goto(f"{server}/classroom?round={code}", wait_until="domcontentloaded")
            page.get_by_label("Your name (shown on the leaderboard)").fill(name, timeout=TIMEOUT_MS)
            page.get_by_role("button", name="Join", exact=True).click()
            box = page.get_by_label("Your guess: latitude, longitude")
            expect(box).to_be_visible(timeout=TIMEOUT_MS)
            page.wait_for_function(f"() => !!({map_drawn_js()})()", timeout=TIMEOUT_MS)  # the click-to-guess map is drawn
            _idle(page)
            box.fill(f"0, {10 + east}")
            page.get_by_role("button", name="Submit guess").click(timeout=TIMEOUT_MS)
            expect(page.get_by_role("heading", name="Reveal", exact=True)).to_be_visible(timeout=TIMEOUT_MS)
            assert _metric(page, "Distance") == f"{km:,.1f} km"
            # Nobody else's guess is on a student's page before the teacher reveals the round.
            assert "Every guess on a map" not in page.content()

        # The teacher's live board (refreshed every 5 s) lists exactly the two students.
        expect(teacher.get_by_text("2 students on the board")).to_be_visible(timeout=TIMEOUT_MS)
        grid = teacher.locator('[data-testid="stDataFrame"]').last
        expect(grid.locator('[role="grid"]')).to_have_attribute("aria-rowcount", "3", timeout=TIMEOUT_MS)  # a header row and two students
        # Its values as the grid shows them (the grid's accessible cells hold each cell's display text).
        cells = grid.locator('[role="row"]').filter(has=teacher.locator('[role="gridcell"]'))
        rows = [[c.strip() for c in r.locator('[role="gridcell"]').all_inner_texts()] for r in cells.all()]
        # Columns: rank, name, guessed, median area to truth (km²), median distance (km), mean points.
        assert [r[:3] for r in rows] == [["1", "Ann", "1"], ["2", "Bob", "1"]]  # by median area: Ann's is smaller
        for r in rows:
            east, km = want[r[1]]
            assert float(r[4]) == pytest.approx(km, abs=1e-6)
            assert float(r[3]) == pytest.approx(2 * math.pi * R**2 * (1 - math.cos(math.radians(east))), rel=1e-9)  # the disc's area

        # The reveal opens every guess on the teacher's map (the deck.gl component): a pink dot per student,
        # the name on hover.
        teacher.get_by_role("button", name="Reveal the round to everyone").click()
        expect(teacher.get_by_text("Revealed: students see the leaderboard")).to_be_visible(timeout=TIMEOUT_MS)
        frame = teacher.frame_locator(MAP)
        teacher.wait_for_function(map_drawn_js(), timeout=TIMEOUT_MS)
        assert frame.locator("#err").evaluate("e => e.style.display") != "block"
        teacher.locator(MAP).scroll_into_view_if_needed()
        box = teacher.locator(MAP).bounding_box()
        for name, (east, _) in want.items():
            x, y = frame.locator("body").evaluate(project_js(), [10 + east, 0.0])
            teacher.mouse.move(box["x"] + x, box["y"] + y)
            tip = frame.locator(".deck-tooltip")
            expect(tip).to_have_text(name, timeout=30_000)  # plain text: a name is never HTML
    finally:
        for ctx in students:
            ctx.close()
        teacher_ctx.close()


def test_classroom_click_guess_and_the_teacher_reloads(server, browser, toy_ids):
    """A student guesses by clicking the classroom's map; the teacher reloads and keeps the controls; the
    students' link never shows them."""
    from playwright.sync_api import expect

    teacher_ctx = _context(browser, viewport={"width": 1300, "height": 1200})
    student_ctx = _context(browser, viewport={"width": 1100, "height": 1200})
    try:
        teacher = teacher_ctx.new_page()
        teacher.goto(f"{server}/classroom?cases={toy_ids[1]}", wait_until="domcontentloaded")  # truth (45°N, 7°E)
        start = teacher.get_by_role("button", name="Start the round")
        expect(start).to_be_visible(timeout=TIMEOUT_MS)
        _idle(teacher)
        start.click()
        expect(teacher.get_by_text("Students open this link")).to_be_visible(timeout=TIMEOUT_MS)
        code = teacher.url.split("round=")[1][:6]
        assert "teacher=" not in teacher.url  # the projected address bar never shows the key
        _idle(teacher)
        teacher.reload(wait_until="domcontentloaded")  # in front of the class
        expect(teacher.get_by_role("button", name="Reveal the round to everyone")).to_be_visible(timeout=TIMEOUT_MS)

        page = student_ctx.new_page()
        page.goto(f"{server}/classroom?round={code}", wait_until="domcontentloaded")
        page.get_by_label("Your name (shown on the leaderboard)").fill("Cleo", timeout=TIMEOUT_MS)
        page.get_by_role("button", name="Join", exact=True).click()
        box = page.get_by_label("Your guess: latitude, longitude")
        expect(box).to_be_visible(timeout=TIMEOUT_MS)
        assert page.get_by_role("button", name="Reveal the round to everyone").count() == 0
        page.wait_for_function(f"() => !!({map_drawn_js()})()", timeout=TIMEOUT_MS)
        _idle(page)
        frame = page.locator(MAP).first
        frame.scroll_into_view_if_needed()
        fb = frame.bounding_box()
        page.mouse.click(fb["x"] + fb["width"] / 2, fb["y"] + fb["height"] / 2)  # the world view's centre: 20°N, 0°E
        expect(box).not_to_have_value("", timeout=TIMEOUT_MS)
        lat, lon = (float(v) for v in box.input_value().split(","))
        assert abs(lat - 20.0) < 1.0 and abs(lon) < 1.0, (lat, lon)
        _idle(page)
        page.get_by_role("button", name="Submit guess").click()
        expect(page.get_by_role("heading", name="Reveal", exact=True)).to_be_visible(timeout=TIMEOUT_MS)
        p1, p2, dl = math.radians(lat), math.radians(45.0), math.radians(7.0 - lon)
        km = R * math.acos(min(1.0, math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)))
        assert _metric(page, "Distance") == f"{km:,.1f} km"
        # The student's own reveal map: a line from the guess to the truth, labelled with the distance.
        page.wait_for_function(f"() => !!({map_drawn_js()})()", timeout=TIMEOUT_MS)
        assert page.frame_locator(MAP).first.locator("#err").evaluate("e => e.style.display") != "block"
        # The same students' link opened again (a reload of the student's page) is still a student's page.
        page.reload(wait_until="domcontentloaded")
        expect(page.get_by_text("Joined as Cleo")).to_be_visible(timeout=TIMEOUT_MS)
        assert page.get_by_role("button", name="Reveal the round to everyone").count() == 0
    finally:
        student_ctx.close()
        teacher_ctx.close()
