"""The admin pages in Chromium: people (invite, join by the link, disable), the audit log
(filtered), settings (a model's context policy), the 403 page for members, 390 px phones.

Every page is checked with axe in the light and the dark theme and must log no console error;
screenshots go to a folder printed at the end of the module.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.a11y import assert_clean
from tests.web.support import MEMBER, MODEL, OWNER, Web, wait_until

PASSWORD = "invited-Password-3c9e1f"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
ADMIN_PAGES = ("/people", "/audit", "/settings")


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("admin-pages-screenshots")
    yield folder
    print(f"\nadmin pages screenshots: {folder}")


def _watched(web: Web, who: tuple[str, str] | None, path: str, **options: Any) -> Any:
    """A page at ``path`` whose console errors and script errors are kept in ``errors``."""
    page = web.context(who, **options).new_page()
    page.errors = []
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    page.on("pageerror", lambda e: page.errors.append(f"pageerror: {e}"))
    page.goto(path)
    return page


def _shoot(page: Any, shots: Path, name: str) -> None:
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def _row(page: Any, email: str) -> Any:
    return page.locator(f'#people-rows tr[data-email="{email}"]')


def test_an_admin_invites_someone_who_joins_and_is_then_disabled(web: Web, shots: Path) -> None:
    email = f"joiner-{uuid.uuid4().hex[:6]}@example.com"
    admin = _watched(web, OWNER, "/people")
    admin.wait_for_selector(f'#people-rows tr[data-email="{OWNER[0]}"]')
    admin.fill("#invite-email", email)
    admin.select_option("#invite-role", "member")
    admin.click("#invite-submit")
    admin.wait_for_selector("#new-link:not([hidden])")
    link = admin.locator("#new-link-value").inner_text()
    assert "/invite?token=" in link
    _row(admin, email).wait_for()
    assert "Invited" in _row(admin, email).inner_text()
    _shoot(admin, shots, "01-people-invited")
    assert_clean(admin, "the people page with a new invitation link")

    joiner = _watched(web, None, link)
    assert email in joiner.locator("#invite-email").inner_text()
    assert_clean(joiner, "the invitation page")
    _shoot(joiner, shots, "02-invite-page")
    joiner.fill("#password", PASSWORD)
    joiner.fill("#password-repeat", PASSWORD)
    joiner.click("#invite-submit")
    joiner.wait_for_url("**/chat")
    assert joiner.locator("body").get_attribute("data-email") == email

    admin.reload()
    _row(admin, email).locator('[data-action="more"]').click()
    admin.get_by_role("menuitem", name="Disable").click()
    admin.locator("dialog .btn.danger").click()
    wait_until(lambda: "Disabled" in _row(admin, email).inner_text())
    _shoot(admin, shots, "03-people-disabled")
    assert_clean(admin, "the people page with a disabled person")

    joiner.goto("/models")
    joiner.wait_for_url("**/login**")
    assert admin.errors == [] and joiner.errors == [], (admin.errors, joiner.errors)


def test_the_audit_page_filters_by_action(web: Web, shots: Path) -> None:
    with web.api() as api:
        made = api.post("/api/users", json={"email": f"audited-{uuid.uuid4().hex[:6]}@example.com"})
        assert made.status_code == 201, made.text
        disabled = api.patch(f"/api/users/{made.json()['id']}", json={"disabled": True})
        assert disabled.status_code == 200, disabled.text
    page = _watched(web, OWNER, "/audit")
    page.wait_for_selector("#audit-rows tr")
    page.fill("#filter-action", "user.disable")
    page.click("#filter-apply")
    wait_until(
        lambda: (
            {a.strip() for a in page.locator("#audit-rows td.mono").all_inner_texts()}
            == {"user.disable"}
        )
    )
    assert made.json()["email"] in page.locator("#audit-rows").inner_text()
    _shoot(page, shots, "04-audit-filtered")
    assert_clean(page, "the audit page, filtered")
    assert page.errors == [], page.errors


def _integration(web: Web) -> dict[str, Any]:
    with web.api() as api:
        items = api.get("/api/integrations").json()["data"]
    return next(item for item in items if item["name"] == MODEL)


def test_the_settings_page_changes_a_models_context_policy(web: Web, shots: Path) -> None:
    item = _integration(web)
    page = _watched(web, OWNER, "/settings")
    form = page.locator(f'form[data-model="{MODEL}"]')
    form.wait_for()
    page.wait_for_selector('[data-fact="database"]')
    assert "SQLite" in page.locator('[data-fact="database"]').inner_text()
    try:
        form.locator(f"#policy-{item['id']}").select_option("trim")
        form.locator('button[type="submit"]').click()
        wait_until(lambda: _integration(web)["context_policy"] == "trim")
        page.locator(".toast", has_text=f"Saved {MODEL}").first.wait_for()
        _shoot(page, shots, "05-settings")
        assert_clean(page, "the settings page")
    finally:
        with web.api() as api:  # the other browser tests expect the default policy
            api.patch(f"/api/integrations/{item['id']}", json={"context_policy": None})
    assert page.errors == [], page.errors


def test_a_member_gets_the_403_page(web: Web, shots: Path) -> None:
    context = web.context(MEMBER)
    page = context.new_page()
    for path in ADMIN_PAGES:
        response = page.goto(path)
        assert response.status == 403, path
        assert page.locator("#forbidden h1").inner_text() == "Admins only"
    _shoot(page, shots, "06-member-forbidden")
    assert_clean(page, "the 403 page")


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_admin_pages_fit_a_390_px_phone(web: Web, shots: Path, path: str) -> None:
    page = _watched(web, OWNER, path, **PHONE)
    page.wait_for_selector("[aria-busy]", state="detached")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
    _shoot(page, shots, f"07-phone-{path.strip('/')}")
    assert_clean(page, f"{path} at 390 px")
    assert page.errors == [], page.errors
