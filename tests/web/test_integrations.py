"""The integrations page: paste a credential, watch the checklist, then manage what is stored."""

from __future__ import annotations

import json
import re
from typing import Any

from playwright.sync_api import expect

from tests.support.peers import SIM_TOKEN
from tests.web.support import OWNER, Web

CHECK_IDS = [
    "credential",
    "reach",
    "auth",
    "state",
    "engine",
    "task",
    "model",
    "context",
    "chat_route",
]
# Records, in order, each checklist row as it is decided (the page fills them in one by one).
RECORD_ROWS = """() => {
  window.__rows = [];
  new MutationObserver((changes) => {
    for (const change of changes) {
      const row = change.target;
      if (row.dataset && row.dataset.check && /\\b(ok|warn|fail|skipped)\\b/.test(row.className)
          && !window.__rows.some((r) => r.id === row.dataset.check)) {
        window.__rows.push({ id: row.dataset.check, status: row.className.split(' ')[1] });
      }
    }
  }).observe(document.getElementById('checklist-panel'),
             { subtree: true, attributes: true, attributeFilter: ['class'] });
}"""


def paste(page: Any, credential: dict[str, Any] | str) -> None:
    text = credential if isinstance(credential, str) else json.dumps(credential, indent=2)
    page.fill("#credential", text)


def row(page: Any, check: str) -> Any:
    return page.locator(f'#checklist-panel [data-check="{check}"]')


def test_an_admin_adds_an_endpoint_by_pasting_its_json_and_sees_the_checklist(web: Web) -> None:
    page = web.page(OWNER, "/integrations")
    expect(page.locator("#integration-list .integration").first).to_be_visible()
    page.evaluate(RECORD_ROWS)
    credential = web.sims["fast"].credential(name="pasted-llama")
    credential["endpoint"] += "/v1/chat/completions"  # as people paste it: with a route
    paste(page, credential)
    page.click("#add-submit")

    head = page.locator(".checklist-head")
    expect(head).to_have_class(re.compile(r"\bok\b"))
    expect(head).to_contain_text("Added pasted-llama")
    for check in CHECK_IDS:
        expect(row(page, check)).to_have_class(re.compile(r"\b(ok|warn)\b"))
    # The rows were decided one after another, in the checklist's order.
    decided = page.evaluate("window.__rows")
    assert [r["id"] for r in decided] == CHECK_IDS, decided
    expect(page.locator(".check-notes")).to_contain_text("/v1/chat/completions")

    card = page.locator('.integration:has(h3:text-is("pasted-llama"))')
    expect(card).to_be_visible()
    expect(card.locator(".badge")).to_have_text("Ready")
    expect(card).to_contain_text("hf_…")
    # The token is never rendered back: not in the list, not left in the form.
    expect(page.locator("#credential")).to_have_value("")
    assert SIM_TOKEN not in page.content()
    assert not page.script_errors


def test_a_bad_credential_shows_the_precise_failing_check(web: Web) -> None:
    page = web.page(OWNER, "/integrations")
    before = page.context.request.get("/api/integrations").json()["data"]
    paste(page, web.sims["fast"].credential(api_key="hf_revoked_token_abcdefghijkl", name="x"))
    page.click("#add-submit")

    head = page.locator(".checklist-head")
    expect(head).to_have_class(re.compile(r"\bfail\b"))
    expect(head).to_contain_text("Not added")
    expect(head).to_contain_text("Token accepted")
    # Said once: in the failing row, not again in the headline.
    expect(head).not_to_contain_text("rejected the token")
    expect(row(page, "credential")).to_have_class(re.compile(r"\bok\b"))
    expect(row(page, "reach")).to_have_class(re.compile(r"\bok\b"))
    expect(row(page, "auth")).to_have_class(re.compile(r"\bfail\b"))
    expect(row(page, "auth")).to_contain_text("rejected the token")
    expect(row(page, "auth")).to_contain_text("paste a current Hugging Face token")
    expect(row(page, "auth").locator(".ci")).to_have_text("✗")
    for check in CHECK_IDS[3:]:
        expect(row(page, check)).to_have_class(re.compile(r"\bskipped\b"))
        expect(row(page, check).locator(".ci")).to_have_text("–")
    # Nothing was stored, and the pasted text is still there to fix.
    assert page.context.request.get("/api/integrations").json()["data"] == before
    expect(page.locator("#credential")).not_to_have_value("")

    # "Check only" stores nothing, so it never says "Not added".
    page.click("#validate-only")
    expect(head).to_contain_text("Check failed")
    expect(head).not_to_contain_text("Not added")
    expect(row(page, "auth")).to_contain_text("rejected the token")

    # A malformed paste: the credential line says what to fix, field by field, each once.
    paste(page, '{"api_key": "hf_abc", "endpont": "https://x.example", "context_window": "4096"}')
    page.click("#validate-only")
    expect(row(page, "credential")).to_have_class(re.compile(r"\bfail\b"))
    problems = row(page, "credential").locator(".check-problems li")
    expect(problems.filter(has_text="did you mean")).to_have_count(1)
    expect(problems.filter(has_text="without quotes")).to_have_count(1)
    expect(row(page, "reach")).to_have_class(re.compile(r"\bskipped\b"))
    panel = page.locator("#checklist-panel")
    expect(head).to_contain_text("Check failed")
    expect(head).not_to_contain_text("Not added")
    expect(head).not_to_contain_text("did you mean")  # the bullets say it
    expect(row(page, "credential")).not_to_contain_text("more problem")
    assert panel.inner_text().count("did you mean") == 1
    # Names are code, and no literal backtick is left.
    expect(
        problems.filter(has_text="did you mean").locator("code", has_text="endpoint")
    ).to_have_count(1)
    expect(panel).not_to_contain_text("`")

    paste(page, '{"api_key": "hf_abc",\n  "endpoint": }')
    page.click("#validate-only")
    expect(row(page, "credential")).to_contain_text(re.compile(r"line 2"))


def test_an_admin_rotates_renames_and_removes_an_endpoint(web: Web) -> None:
    with web.api() as client:
        credential = web.sims["fast"].credential(name="managed-llama")
        assert client.post("/api/integrations", content=json.dumps(credential)).status_code == 201
    page = web.page(OWNER, "/integrations")
    card = page.locator('.integration:has(h3:text-is("managed-llama"))')
    expect(card).to_be_visible()

    # Rotate to a token the endpoint refuses: the dialog says which check failed.
    card.get_by_role("button", name="Rotate key").click()
    dialog = page.locator("dialog[open]")
    dialog.locator('input[name="api_key"]').fill("hf_not_accepted_by_the_endpoint_xyz")
    dialog.get_by_role("button", name="Check and save").click()
    expect(dialog.locator(".form-error")).to_contain_text("the change was not applied")
    expect(dialog.locator('[data-check="auth"]')).to_have_class(re.compile(r"\bfail\b"))
    dialog.locator('input[name="api_key"]').fill(SIM_TOKEN)
    dialog.get_by_role("button", name="Check and save").click()
    expect(page.locator("dialog[open]")).to_have_count(0)
    expect(page.locator(".toast")).to_contain_text("New token saved for managed-llama")
    assert SIM_TOKEN not in page.content()

    card.get_by_role("button", name="Rename").click()
    dialog = page.locator("dialog[open]")
    dialog.locator('input[name="name"]').fill("renamed-llama")
    dialog.get_by_role("button", name="Rename").click()
    renamed = page.locator('.integration:has(h3:text-is("renamed-llama"))')
    expect(renamed).to_be_visible()

    renamed.get_by_role("button", name="Remove").click()
    dialog = page.locator("dialog[open]")
    expect(dialog).to_contain_text("lose access to this model")
    dialog.get_by_role("button", name="Cancel").click()
    expect(renamed).to_be_visible()
    renamed.get_by_role("button", name="Remove").click()
    page.locator("dialog[open]").get_by_role("button", name="Remove").click()
    expect(renamed).to_have_count(0)
    names = [i["name"] for i in page.context.request.get("/api/integrations").json()["data"]]
    assert "renamed-llama" not in names and "managed-llama" not in names
    assert not page.script_errors


def test_adding_a_scaled_to_zero_endpoint_shows_the_wait_as_it_goes(web: Web) -> None:
    cold = web.sims["cold"]
    cold.patch(state="scaled_to_zero", cold_start=4, wake_on="any")
    page = web.page(OWNER, "/integrations")
    expect(page.locator("#wait")).to_be_checked()
    paste(page, cold.credential(name="sleepy-llama"))
    page.click("#add-submit")

    state = row(page, "state")
    expect(state).to_contain_text(re.compile(r"Waiting for the endpoint to wake… \d+ s"))
    expect(state.locator(".elapsed")).to_have_text(re.compile(r"… [2-9] s$"))
    expect(page.locator(".checklist-head")).to_contain_text("scaled to zero")

    head = page.locator(".checklist-head")
    expect(head).to_have_class(re.compile(r"\bok\b"), timeout=20_000)
    expect(head).to_contain_text("Added sleepy-llama")
    expect(state).to_have_class(re.compile(r"\bok\b"))
    expect(state.locator(".elapsed")).to_have_count(0)
