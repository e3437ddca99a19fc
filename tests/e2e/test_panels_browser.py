"""The analyst panel in real Chromium: Enter in a country picker takes the best match only."""

from __future__ import annotations

import pytest
from workbench_helpers import start_server, stop, wait_idle

CHOSEN_JS = (
    "Array.from(document.querySelector('input[aria-label=\"It is in one of these countries\"]')"
    ".closest('[data-testid=\"stMultiSelect\"]').querySelectorAll('span'))"
    ".filter(e => !e.children.length && / \\([A-Z]{3}\\)$/.test(e.textContent)).map(e => e.textContent)"
)
"""The chosen countries' chips of the 'in' picker (leaf spans reading 'Name (ISO)')."""


@pytest.fixture(scope="module")
def server():
    proc, url, _ = start_server(timeout_s=120)
    try:
        yield url
    finally:
        stop(proc)


def test_united_states_and_enter_selects_only_the_usa(server, browser):
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    try:
        page.goto(server)
        page.wait_for_selector('[data-testid="stMetric"]', timeout=180_000)
        wait_idle(page, 180_000)
        # By its label, wherever the page lays the panel out (sidebar or main column).
        box = page.get_by_label("It is in one of these countries", exact=True)
        box.wait_for(state="visible", timeout=180_000)
        box.click(force=True)  # no wait for "stable": the software-rendered map can starve animation frames
        page.keyboard.type("United States")
        page.wait_for_selector('[role="option"]', timeout=30_000)
        options = page.locator('[role="option"]').all_inner_texts()
        # Three names contain it; none is a "select all matches" row, and the USA ranks first.
        assert len(options) == 3 and options[0] == "United States of America (USA)", options
        page.keyboard.press("Enter")
        page.keyboard.press("Escape")
        page.wait_for_function(f"() => {CHOSEN_JS}.length > 0", timeout=30_000)
        wait_idle(page, 180_000)
        assert page.evaluate(CHOSEN_JS) == ["United States of America (USA)"]
    finally:
        page.close()
