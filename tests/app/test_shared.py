"""pages/_shared: user text escaped for Markdown widgets shows literally, with no link formed."""

from __future__ import annotations

import pytest
from apphelpers import shown_text


@pytest.mark.parametrize("text", ["www.marseille-tourisme.fr", "see https://host.example/x?a=1", "mail shop@example.fr", "[x](http://h/p.png) *b* <i>"])
def test_escaped_text_shows_literally_and_forms_no_autolink(text):
    from pages._shared import escape_markdown

    out = escape_markdown(text)
    assert shown_text(out).replace("\u200c", "") == text  # what a person reads is the text itself
    shown = shown_text(out)
    for trigger in ("www.", "http://", "https://"):
        assert trigger not in shown, f"{trigger!r} would still autolink"
    if "@" in text:
        assert "@\u200c" in shown
