"""The theme toggle: system (the OS preference) by default, light or dark when chosen, remembered."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.web.support import MEMBER, Web

WHITE = "rgb(255, 255, 255)"
DARK = "rgb(22, 22, 28)"  # --bg in dark mode


def _background(page: Any) -> str:
    return str(page.evaluate("() => getComputedStyle(document.body).backgroundColor"))


def _theme(page: Any) -> str | None:
    value = page.evaluate("() => document.documentElement.getAttribute('data-theme')")
    return None if value is None else str(value)


def test_the_toggle_cycles_light_dark_system_and_is_remembered(web: Web) -> None:
    page = web.page(MEMBER, "/chat", color_scheme="light")
    toggle = page.locator("#theme-toggle")
    expect(toggle).to_have_attribute("aria-label", re.compile(r"^Theme: system"))
    assert _theme(page) is None
    assert _background(page) == WHITE

    toggle.click()
    expect(toggle).to_have_attribute("aria-label", re.compile(r"^Theme: light"))
    assert _theme(page) == "light"
    assert _background(page) == WHITE

    toggle.click()
    expect(toggle).to_have_attribute("aria-label", re.compile(r"^Theme: dark"))
    assert _theme(page) == "dark"
    assert _background(page) == DARK

    # Remembered, and applied by the <head> script, before the page's module runs.
    page.reload()
    assert _theme(page) == "dark"
    assert _background(page) == DARK
    expect(toggle).to_have_attribute("aria-label", re.compile(r"^Theme: dark"))
    page.goto("/models")
    assert _theme(page) == "dark"

    toggle.click()
    expect(toggle).to_have_attribute("aria-label", re.compile(r"^Theme: system"))
    assert _theme(page) is None
    assert _background(page) == WHITE
    page.reload()
    assert _theme(page) is None
    assert not page.script_errors


def test_a_chosen_theme_overrides_the_os_preference(web: Web) -> None:
    page = web.page(MEMBER, "/chat", color_scheme="dark")
    assert _background(page) == DARK  # system: the OS says dark
    page.locator("#theme-toggle").click()
    assert _theme(page) == "light"
    assert _background(page) == WHITE
    page.reload()
    assert _background(page) == WHITE
    assert not page.script_errors


def test_the_theme_is_set_before_the_stylesheet_and_without_inline_script(web: Web) -> None:
    context = web.context(MEMBER)
    html = context.request.get("/chat").text()
    head = html[: html.index("</head>")]
    script = head.index('<script src="/static/js/theme.js"></script>')
    assert script < head.index('<link rel="stylesheet"')
    assert re.findall(r"<script(?![^>]*\ssrc=)", html) == []  # nothing inline (CSP: 'self')
