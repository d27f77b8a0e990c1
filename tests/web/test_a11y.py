"""Accessibility and phone width: axe-core finds nothing on any page, in the light theme and
the dark one; at 390 px the model menu and the keys table stay on the screen."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.web.a11y import assert_clean
from tests.web.support import MEMBER, MODEL, OWNER, Web
from tests.web.test_chat import ask, choose_model, wait_answered

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def test_the_signed_out_pages_are_axe_clean(web: Web) -> None:
    page = web.page(None, "/login")
    expect(page.locator("h1")).to_be_visible()
    assert_clean(page, "the sign-in page")
    page.goto("/setup?token=not-the-token")  # the refusal; the form itself: test_first_hour
    assert_clean(page, "the setup page")
    page.goto("/no/such/page")
    expect(page.locator("h1")).to_have_text("Page not found")
    assert_clean(page, "the 404 page")
    assert not page.script_errors


def test_the_workspace_pages_are_axe_clean(web: Web) -> None:
    page = web.page(OWNER, "/chat")
    choose_model(page, MODEL)
    assert_clean(page, "an empty chat")
    ask(page, "Show me a **bold** word and some `code`")
    wait_answered(page, 1)
    assert_clean(page, "a chat with an answer")
    page.click("#model-button")
    expect(page.locator("#model-menu")).to_be_visible()
    assert_clean(page, "the model menu")
    for path, ready in [
        ("/models", ".model-card"),
        ("/integrations", ".integration"),
        ("/integrations#hugging-face", "#panel-hf"),
        ("/keys", "#key-rows tr"),
    ]:
        page.goto(path)
        expect(page.locator(ready).first).to_be_visible()
        assert_clean(page, path)
    page.goto("/chat")
    page.locator("#settings-button").click()
    expect(page.locator("dialog[open]")).to_be_visible()
    assert_clean(page, "the conversation settings dialog")
    assert not page.script_errors

    member = web.page(MEMBER, "/integrations")  # an admin page: the 403 page
    expect(member.locator("h1")).to_be_visible()
    assert_clean(member, "the forbidden page")


def _fits(page: Any, selector: str) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.locator(selector).evaluate("e => e.scrollIntoView({block: 'center'})")  # below forms
    box = page.locator(selector).bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, (selector, box)
    assert box["y"] >= 0 and box["y"] + box["height"] <= 844, (selector, box)


def test_at_390_px_the_model_menu_and_the_keys_table_stay_on_the_screen(web: Web) -> None:
    page = web.page(MEMBER, f"/chat?model={MODEL}", **PHONE)
    expect(page.locator("#model-label")).to_have_text(MODEL)
    page.locator("#model-button").tap()
    expect(page.locator("#model-menu li").first).to_be_visible()
    _fits(page, "#model-menu")
    for option in page.locator("#model-menu li").all():
        box = option.bounding_box()
        assert box and box["x"] + box["width"] <= 390
    assert_clean(page, "the model menu at 390 px")

    page = web.page(OWNER, "/keys", **PHONE)
    expect(page.locator("#key-rows tr").first).to_be_visible()
    _fits(page, "#key-table")
    cell = page.locator("#key-rows tr").first.locator('td[data-label="Owner"]')
    expect(cell).to_be_visible()
    assert (
        page.evaluate(
            "getComputedStyle(document.querySelector('#key-rows td'), '::before').content"
        )
        == '"Name"'
    )
    assert_clean(page, "the keys at 390 px")
    assert not page.script_errors
