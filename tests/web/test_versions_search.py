"""Answer versions (‹ 1 / 2 ›), the sidebar's search, and attached images, in Chromium."""

from __future__ import annotations

import base64
import dataclasses
import re
import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.peers import running_sim
from tests.web.support import MEMBER, MODEL, OWNER, Web, conversation_id, member_get
from tests.web.test_chat import answers, ask, choose_model, stored, wait_answered

# A 2×2 PNG, made for this test: small enough to read in a glance.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg=="
)


def _pager(page: Any) -> Any:
    return answers(page).last.locator(".versions")


def test_regenerate_keeps_the_previous_answer_as_a_version(web: Web) -> None:
    fast = web.sims["fast"]
    page = web.page(MEMBER, "/chat")
    choose_model(page, MODEL)
    ask(page, "Versions, please")
    wait_answered(page, 1)
    first = answers(page).last.locator(".msg-body").inner_text()
    expect(_pager(page)).to_have_count(0)  # one answer: no pager

    # The simulator answers a prompt the same way each time: a shorter reply makes it differ.
    fast.patch(reply_tokens=9)
    try:
        answers(page).last.get_by_role("button", name="Regenerate").click()
        wait_answered(page, 1)
    finally:
        fast.patch(reply_tokens=30)
    second = answers(page).last.locator(".msg-body").inner_text()
    assert second != first
    expect(_pager(page).locator(".version-label")).to_have_text("2 / 2")
    expect(_pager(page).get_by_role("button", name="Next version")).to_be_disabled()

    # Back to the first one, from the keyboard: the focus stays on the pager.
    _pager(page).get_by_role("button", name="Previous version").focus()
    page.keyboard.press("Enter")
    expect(_pager(page).locator(".version-label")).to_have_text("1 / 2")
    expect(answers(page).last.locator(".msg-body")).to_have_text(first)
    focused = page.evaluate("document.activeElement.getAttribute('aria-label')")
    assert focused == "Next version"
    shown = stored(page)["messages"][-1]
    assert shown["content"].strip() == first.strip() and shown["version"] == 1

    # It survives a reload, and the next turn continues from the version shown.
    page.reload()
    expect(_pager(page).locator(".version-label")).to_have_text("1 / 2")
    ask(page, "And after that?")
    wait_answered(page, 2)
    sent = str(fast.stats()["last_request"])
    # The second version is the first one cut shorter: the whole first one was sent.
    assert len(second) < len(first) and first.strip() in sent
    expect(page.locator(".msg.assistant .versions")).to_have_count(1)
    assert not page.script_errors


def test_the_sidebar_search_finds_conversations_by_their_text(web: Web) -> None:
    page = web.page(MEMBER, "/chat")
    choose_model(page, MODEL)
    word = f"zebra{uuid.uuid4().hex[:6]}"
    ask(page, f"Tell me about the {word.upper()} crossing")
    wait_answered(page, 1)
    found = conversation_id(page)
    page.locator("#new-chat").click()
    ask(page, "Something else entirely")
    wait_answered(page, 1)

    # Ctrl+K reaches the box from anywhere; the search ignores case.
    page.locator("#prompt").focus()
    page.keyboard.press("Control+k")
    expect(page.locator("#conversation-search")).to_be_focused()
    page.keyboard.type(word)
    rows = page.locator("#conversation-list a.conv")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-id", found)
    page.keyboard.press("ArrowDown")
    expect(rows.first).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(f"/chat/{found}$"))

    page.locator("#conversation-search").fill("nothing-matches-%_this")
    expect(page.locator("#conversation-list .conv-empty")).to_have_text(
        "No conversations match “nothing-matches-%_this”."
    )
    page.locator("#conversation-search").press("Escape")
    expect(page.locator("#conversation-search")).to_have_value("")
    expect(rows).not_to_have_count(0)
    assert len(member_get(page.context, "/api/conversations")["data"]) == rows.count()
    assert not page.script_errors


def test_the_attach_button_is_there_only_for_models_that_take_images(web: Web) -> None:
    page = web.page(MEMBER, "/chat")
    choose_model(page, MODEL)
    vision = any(
        (m.get("capabilities") or {}).get("vision")
        for m in member_get(page.context, "/api/models")["data"]
        if m["id"] == MODEL
    )
    assert not vision, "the plain simulator takes no images"
    expect(page.locator("#attach")).to_be_hidden()


def _vision_sim() -> Any:
    from hfgate.sim import SimConfig

    if "vision" not in {f.name for f in dataclasses.fields(SimConfig)}:
        pytest.skip("the simulator has no vision switch yet (SimConfig.vision)")
    return running_sim(token_delay=0.01, reply_tokens=8, vision=True)


def test_an_attached_image_is_sent_stored_and_shown(web: Web) -> None:
    with _vision_sim() as sim:
        name = f"vision-{uuid.uuid4().hex[:6]}"
        reply = web.gateway.add(sim.credential(name=name))
        assert reply.status_code == 201, reply.text
        page = web.page(OWNER, "/chat")
        listed = {m["id"]: m for m in member_get(page.context, "/api/models")["data"]}
        if not (listed[name].get("capabilities") or {}).get("vision"):
            pytest.skip("/api/models does not say the vision simulator takes images yet")
        choose_model(page, name)
        expect(page.locator("#attach")).to_be_visible()

        page.locator("#attach-input").set_input_files(
            [{"name": "huge.png", "mimeType": "image/png", "buffer": b"\0" * (5 * 2**20 + 1)}]
        )
        expect(page.locator(".toast")).to_contain_text("an image can be at most 5.0 MB")
        page.locator("#attach-input").set_input_files(
            [{"name": "dot.png", "mimeType": "image/png", "buffer": PNG}]
        )
        expect(page.locator("#attachments img")).to_have_count(1)
        # A pasted picture is attached too; its thumbnail can be removed again.
        page.evaluate(
            """(bytes) => {
              const data = new DataTransfer();
              data.items.add(new File([new Uint8Array(bytes)], 'pasted.png', { type: 'image/png' }));
              document.getElementById('prompt').dispatchEvent(
                new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
            }""",
            list(PNG),
        )
        expect(page.locator("#attachments img")).to_have_count(2)
        page.get_by_role("button", name="Remove pasted.png").click()
        expect(page.locator("#attachments img")).to_have_count(1)
        ask(page, "What is in this picture?")
        wait_answered(page, 1)
        expect(page.locator("#attachments")).to_be_hidden()

        url = "data:image/png;base64," + base64.b64encode(PNG).decode()
        image = page.locator(".msg.user .msg-images img")
        expect(image).to_have_attribute("src", url)
        assert page.evaluate("document.querySelector('.msg.user .msg-images img').naturalWidth")
        question = stored(page)["messages"][0]
        assert question["parts"][1] == {"type": "image_url", "image_url": {"url": url}}
        assert url in str(sim.stats()["last_request"])
        page.reload()
        expect(image).to_have_attribute("src", url)
        assert not page.script_errors
