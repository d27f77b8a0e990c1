"""The chat page's details: token counts of answers cut short, first turns that never start."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.web.support import MEMBER, MODEL, SLOW, Web, member_get, wait_until
from tests.web.test_chat import answers, ask, choose_model, stored, wait_answered


def test_an_answer_cut_short_shows_the_tokens_it_had(web: Web) -> None:
    web.sims["slow"].reset()
    page = web.page(MEMBER, "/chat")
    choose_model(page, SLOW)
    ask(page, "Write a long story")
    body = answers(page).last.locator(".msg-body")
    expect(body).to_contain_text(re.compile(r"\w+ \w+ \w+"))
    page.click("#stop")
    wait_answered(page)

    answer = answers(page).last
    expect(answer.locator(".tag.interrupted")).to_have_text("Interrupted")
    expect(answer.locator(".usage")).to_contain_text(re.compile(r"\d+ out$"))
    message = wait_until(lambda: stored(page)["messages"][-1:] and stored(page)["messages"][-1])
    assert message["status"] == "interrupted"
    assert 3 <= message["completion_tokens"] < 400, message

    # After a reload the stored count is shown, as for a complete answer.
    page.reload()
    usage = answers(page).last.locator(".usage")
    expect(usage).to_contain_text(f"{message['completion_tokens']} out")
    assert not page.script_errors


def _conversation_ids(page: Any) -> set[str]:
    return {c["id"] for c in member_get(page.context, "/api/conversations")["data"]}


def test_a_refused_first_message_leaves_no_empty_chat_behind(web: Web) -> None:
    page = web.page(MEMBER, "/chat")
    choose_model(page, MODEL)
    expect(page.locator("#conversation-list")).not_to_have_attribute("aria-busy", "true")
    before = _conversation_ids(page)
    # Other tests of the session may have left conversations of their own: count, not zero.
    untitled = page.locator("#conversation-list a", has_text="New chat").count()

    long = "word " * 6000  # too long for the context window: the first /chat is refused
    ask(page, long)
    expect(page.locator("#notice")).to_contain_text("no longer fits the model’s context window")
    expect(page.locator("#prompt")).to_have_value(long)
    expect(page.locator(".msg")).to_have_count(0)
    expect(page.locator("#conversation-list a", has_text="New chat")).to_have_count(untitled)
    wait_until(lambda: _conversation_ids(page) == before)
    assert page.url.endswith("/chat")

    # The text sent again, shorter, starts a conversation as usual.
    page.fill("#prompt", "A short one")
    page.keyboard.press("Enter")
    wait_answered(page, 1)
    assert len(_conversation_ids(page) - before) == 1
    assert not page.script_errors


def _settings(page: Any, system: str, temperature: str) -> Any:
    page.click("#settings-button")
    dialog = page.locator("dialog.dialog")
    expect(dialog).to_be_visible()
    dialog.locator('textarea[name="system"]').fill(system)
    dialog.locator('input[name="temperature"]').fill(temperature)
    dialog.locator('button[type="submit"]').click()
    return dialog


def test_a_conversation_has_its_own_system_prompt_and_temperature(web: Web) -> None:
    fast = web.sims["fast"]
    page = web.page(MEMBER, "/chat")
    choose_model(page, MODEL)
    # Set before the first message: the conversation is created with them.
    expect(_settings(page, "Answer like a pirate.", "0.3")).to_be_hidden()
    ask(page, "Hello there")
    wait_answered(page, 1)
    sent = fast.stats()["last_request"]
    assert sent["messages"][0] == {"role": "system", "content": "Answer like a pirate."}
    assert sent["temperature"] == 0.3
    first = stored(page)["messages"][0]
    assert (first["role"], first["content"]) == ("system", "Answer like a pirate.")
    expect(page.locator(".msg")).to_have_count(2)  # the system prompt is not a bubble

    # Out of range: the dialog says so and stays open.
    dialog = _settings(page, "Be brief.", "3")
    expect(dialog.locator(".form-error")).to_contain_text("from 0 to 2")
    dialog.locator('input[name="temperature"]').fill("1.2")
    dialog.locator('button[type="submit"]').click()
    expect(dialog).to_be_hidden()
    ask(page, "Again")
    wait_answered(page, 2)
    sent = fast.stats()["last_request"]
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent["temperature"] == 1.2
    assert [m["role"] for m in stored(page)["messages"]].count("system") == 1

    # After a reload both are still this conversation's.
    page.reload()
    page.click("#settings-button")
    expect(page.locator('dialog textarea[name="system"]')).to_have_value("Be brief.")
    expect(page.locator('dialog input[name="temperature"]')).to_have_value("1.2")
    page.keyboard.press("Escape")

    # A new chat starts without them.
    page.locator("#new-chat").click()
    page.click("#settings-button")
    expect(page.locator('dialog textarea[name="system"]')).to_have_value("")
    expect(page.locator('dialog input[name="temperature"]')).to_have_value("")
    page.keyboard.press("Escape")
    ask(page, "Plain")
    wait_answered(page, 1)
    sent = fast.stats()["last_request"]
    assert sent["messages"][0]["role"] == "user" and "temperature" not in sent
    assert not page.script_errors


def test_a_refused_first_message_keeps_its_settings_and_no_chat(web: Web) -> None:
    page = web.page(MEMBER, "/chat")
    choose_model(page, MODEL)
    expect(page.locator("#conversation-list")).not_to_have_attribute("aria-busy", "true")
    before = _conversation_ids(page)
    untitled = page.locator("#conversation-list a", has_text="New chat").count()
    expect(_settings(page, "Be terse.", "0.5")).to_be_hidden()

    ask(page, "word " * 6000)  # created with its system prompt, then refused
    expect(page.locator("#notice")).to_contain_text("no longer fits the model’s context window")
    wait_until(lambda: _conversation_ids(page) == before)  # its system message is not a turn
    expect(page.locator("#conversation-list a", has_text="New chat")).to_have_count(untitled)
    page.click("#settings-button")
    expect(page.locator('dialog textarea[name="system"]')).to_have_value("Be terse.")
    expect(page.locator('dialog input[name="temperature"]')).to_have_value("0.5")
    page.keyboard.press("Escape")
    assert not page.script_errors
