"""Signing in and out, who may open which page, the session cookie, CSRF, and the assets."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.web.support import MEMBER, MODEL, OWNER, Web, csrf


def test_sign_in_lands_on_the_page_asked_for_and_sign_out_ends_the_session(web: Web) -> None:
    page = web.page(path="/models")
    expect(page).to_have_url(re.compile(r"/login\?next=/models$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    page.fill("#email", OWNER[0])
    page.fill("#password", "not-the-password")
    page.click("#login-submit")
    expect(page.locator("#login-error")).to_have_text("Wrong email or password.")

    page.fill("#password", OWNER[1])
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{web.url}/models")
    expect(page.locator(".model-card").first).to_be_visible()
    expect(page.locator(".me-email")).to_have_text(OWNER[0])

    cookie = next(c for c in page.context.cookies() if c["name"] == "hfgate_session")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert "hfgate_session" not in page.evaluate("document.cookie")

    page.click("#sign-out")
    expect(page).to_have_url(re.compile(r"/login"))
    page.goto("/chat")
    expect(page).to_have_url(re.compile(r"/login\?next=/chat$"))


def test_a_member_cannot_open_the_integrations_page(web: Web) -> None:
    page = web.page(MEMBER, "/chat")
    nav = page.get_by_role("navigation", name="Pages")
    expect(nav.get_by_role("link", name="Models")).to_be_visible()
    expect(nav.get_by_role("link", name="Integrations")).to_have_count(0)

    response = page.goto("/integrations")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="Admins only")).to_be_visible()
    expect(page.locator("#credential")).to_have_count(0)
    # The API refuses too, whatever the page shows.
    assert page.context.request.get("/api/integrations").status == 403
    assert not page.script_errors


def test_state_changing_calls_without_the_csrf_token_are_refused(web: Web) -> None:
    context = web.context(MEMBER)
    refused = context.request.post("/api/conversations", data={"model": MODEL})
    assert refused.status == 403
    assert refused.json()["error"]["code"] == "csrf_failed"

    wrong = context.request.post(
        "/api/conversations", data={"model": MODEL}, headers={"X-CSRF-Token": "forged"}
    )
    assert wrong.status == 403

    token = csrf(context)
    created = context.request.post(
        "/api/conversations", data={"model": MODEL}, headers={"X-CSRF-Token": token}
    )
    assert created.status == 201, created.text()
    gone = context.request.delete(f"/api/conversations/{created.json()['id']}")
    assert gone.status == 403  # a DELETE needs it as much as a POST


def test_pages_carry_a_strict_policy_and_assets_come_from_hfgate_itself(web: Web) -> None:
    page = web.context(OWNER).new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    response = page.goto("/chat")
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert response.headers["x-frame-options"] == "DENY"
    expect(page.locator("#model-label")).not_to_have_text("Loading models…")
    page.wait_for_load_state("networkidle")
    assert requested and all(url.startswith(web.url) for url in requested), requested

    asset = page.context.request.get("/static/js/chat.js")
    assert asset.ok and asset.headers["content-type"].startswith("text/javascript")
    unchanged = page.context.request.get(
        "/static/js/chat.js", headers={"If-None-Match": asset.headers["etag"]}
    )
    assert unchanged.status == 304
    assert page.context.request.get("/static/../routes.py").status == 404
    assert page.context.request.get("/static/%2e%2e/routes.py").status == 404
