"""The chat page: streamed answers, stop, cold starts, history, errors, keyboard, phone width."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.web.support import (
    COLD,
    FLAKY,
    MEMBER,
    MODEL,
    SLOW,
    Web,
    conversation_id,
    member_get,
    wait_until,
)

METER = re.compile(r"^[\d,]+ / 4,096 tokens$")


def choose_model(page: Any, name: str) -> None:
    page.click("#model-button")
    page.locator(f'#model-menu li[data-id="{name}"]').click()
    expect(page.locator("#model-label")).to_have_text(name)


def ask(page: Any, text: str) -> None:
    page.fill("#prompt", text)
    page.keyboard.press("Enter")


def answers(page: Any) -> Any:
    return page.locator(".msg.assistant")


def wait_answered(page: Any, count: int | None = None, timeout: float = 15_000) -> None:
    """Until the last answer (the ``count``-th) has ended and Send is back."""
    if count is not None:
        expect(answers(page)).to_have_count(count)
    expect(answers(page).last).to_have_attribute(
        "data-status", re.compile(r"^(complete|interrupted|error)$"), timeout=timeout
    )
    expect(page.locator("#send")).to_be_visible()
    expect(page.locator("#stop")).to_be_hidden()


def stored(page: Any) -> dict[str, Any]:
    return member_get(page.context, f"/api/conversations/{conversation_id(page)}")  # type: ignore[no-any-return]


def test_a_member_chats_and_sees_a_streamed_markdown_answer(web: Web) -> None:
    page = web.page(MEMBER, "/chat")
    choose_model(page, MODEL)
    expect(page.locator("#empty-chat")).to_be_visible()
    page.evaluate("""() => {
      window.__lengths = [];
      new MutationObserver(() => {
        const body = document.querySelector('.msg.assistant .msg-body');
        if (body) window.__lengths.push(body.textContent.length);
      }).observe(document.getElementById('messages'),
                 { subtree: true, childList: true, characterData: true });
    }""")
    ask(page, "Tell me about the gateway")

    expect(page.locator(".msg.user .bubble")).to_have_text("Tell me about the gateway")
    expect(page.locator("#stop")).to_be_visible()  # streaming: Stop replaces Send
    wait_answered(page)
    answer = answers(page).first
    expect(answer.locator(".model-chip")).to_have_text(MODEL)
    expect(answer.locator(".msg-body.md p").first).to_be_visible()  # rendered as markdown

    # It arrived piece by piece, not all at once.
    lengths = [n for n in page.evaluate("window.__lengths") if n > 0]
    assert len(set(lengths)) >= 5, lengths

    conversation = stored(page)
    assistant = conversation["messages"][-1]
    assert assistant["status"] == "complete" and assistant["model"] == MODEL
    expect(answer.locator(".msg-body")).to_have_text(assistant["content"])
    assert assistant["completion_tokens"] and assistant["prompt_tokens"]
    expect(page.locator("#meter-text")).to_have_text(METER)
    total = assistant["prompt_tokens"] + assistant["completion_tokens"]
    expect(page.locator("#meter-text")).to_have_text(f"{total:,} / 4,096 tokens")
    expect(answer.locator(".usage")).to_contain_text(f"{assistant['completion_tokens']} out")

    # The sidebar lists it under the title made from the question.
    link = page.locator(f'#conversation-list a[data-id="{conversation["id"]}"]')
    expect(link).to_have_text("Tell me about the gateway")
    expect(link).to_have_attribute("aria-current", "page")
    assert not page.script_errors


def test_stop_cancels_the_answer_and_keeps_what_arrived(web: Web) -> None:
    slow = web.sims["slow"]
    slow.reset()
    page = web.page(MEMBER, "/chat")
    choose_model(page, SLOW)
    ask(page, "Write a long story")
    body = answers(page).last.locator(".msg-body")
    expect(body).to_contain_text(re.compile(r"\w+ \w+ \w+"))
    page.click("#stop")

    wait_answered(page)
    expect(answers(page).last.locator(".tag.interrupted")).to_have_text("Interrupted")
    shown = body.inner_text()
    # The upstream generation was cancelled, long before its 400 tokens.
    wait_until(lambda: slow.stats()["cancelled"] >= 1)
    assert slow.stats()["completed"] == 0
    message = wait_until(lambda: stored(page)["messages"][-1:] and stored(page)["messages"][-1])
    assert message["role"] == "assistant"
    assert message["status"] == "interrupted"
    assert message["content"].startswith(shown.strip()[:20])

    # After a reload the partial answer is still there, still marked.
    page.reload()
    expect(answers(page).last.locator(".tag.interrupted")).to_be_visible()
    expect(answers(page).last.locator(".msg-body")).to_contain_text(shown.strip()[:20])


def test_a_cold_endpoint_shows_the_waking_state_then_answers(web: Web) -> None:
    cold = web.sims["cold"]
    # Only the chat itself wakes it (not a status probe that happens to come first).
    cold.patch(state="scaled_to_zero", cold_start=6, wake_on="inference")
    page = web.page(MEMBER, "/chat")
    choose_model(page, COLD)
    ask(page, "Are you awake?")

    waking = answers(page).last.locator(".waking-panel")
    expect(waking).to_be_visible(timeout=10_000)
    label = waking.locator(".waking-time")
    expect(label).to_have_text(re.compile(r"^(Waking|Waiting for) the endpoint… \d+ s$"))
    expect(label).to_have_text(re.compile(r"… ([5-9]|\d\d) s$"), timeout=10_000)
    expect(page.locator("#stop")).to_be_visible()

    wait_answered(page, timeout=20_000)
    expect(waking).to_have_count(0)
    assistant = stored(page)["messages"][-1]
    assert assistant["status"] == "complete" and assistant["content"]
    expect(answers(page).last.locator(".msg-body")).to_have_text(assistant["content"])
    assert cold.stats()["wakeups"] >= 1


def test_a_conversation_survives_a_reload_and_can_be_regenerated_edited_renamed(
    web: Web,
) -> None:
    page = web.page(MEMBER, "/chat")
    choose_model(page, MODEL)
    ask(page, "First question")
    wait_answered(page, 1)
    ask(page, "Second question")
    wait_answered(page, 2)
    expect(answers(page)).to_have_count(2)
    first_answer = answers(page).first.locator(".msg-body").inner_text()
    url = page.url

    page.reload()
    expect(page).to_have_url(url)
    expect(page.locator(".msg.user .bubble")).to_have_text(["First question", "Second question"])
    expect(answers(page)).to_have_count(2)
    expect(answers(page).first.locator(".msg-body")).to_have_text(first_answer)
    expect(answers(page).first.locator(".model-chip")).to_have_text(MODEL)
    expect(page.locator("#meter-text")).to_have_text(METER)

    # Regenerate the last answer: it is replaced, not added.
    old_id = answers(page).last.get_attribute("data-id")
    answers(page).last.get_by_role("button", name="Regenerate").click()
    expect(answers(page).last).not_to_have_attribute("data-id", old_id or "")
    wait_answered(page, 2)
    expect(answers(page)).to_have_count(2)
    expect(answers(page).last).not_to_have_attribute("data-id", old_id or "")
    assert len(stored(page)["messages"]) == 4

    # Edit the last question and resend it.
    page.locator(".msg.user").last.get_by_role("button", name="Edit and resend").click()
    editor = page.locator(".msg-edit textarea")
    editor.fill("Second question, rephrased")
    editor.press("Enter")
    expect(page.locator(".msg.user .bubble")).to_have_text(
        ["First question", "Second question, rephrased"]
    )
    wait_answered(page, 2)
    messages = stored(page)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[2]["content"] == "Second question, rephrased"

    # Rename from the sidebar, export, delete.
    cid = conversation_id(page)
    row = page.locator(f'#conversation-list li[data-id="{cid}"]')
    row.locator(".conv-more").click()
    page.get_by_role("menuitem", name="Rename").click()
    page.locator(".conv-rename").fill("Two questions")
    page.keyboard.press("Enter")
    expect(row.locator(".conv-title")).to_have_text("Two questions")
    assert stored(page)["title"] == "Two questions"

    markdown = page.context.request.get(f"/api/conversations/{cid}/export?format=markdown")
    assert markdown.ok and "Second question, rephrased" in markdown.text()
    row.locator(".conv-more").click()
    expect(page.get_by_role("menuitem", name="Export as JSON")).to_have_attribute(
        "href", f"/api/conversations/{cid}/export?format=json"
    )
    page.get_by_role("menuitem", name="Delete").click()
    page.locator("dialog[open]").get_by_role("button", name="Delete").click()
    expect(row).to_have_count(0)
    expect(page).to_have_url(f"{web.url}/chat")
    assert page.context.request.get(f"/api/conversations/{cid}").status == 404
    assert not page.script_errors


def test_errors_say_what_happened_and_who_can_fix_it(web: Web) -> None:
    flaky = web.sims["flaky"]
    page = web.page(MEMBER, "/chat")
    choose_model(page, FLAKY)

    flaky.patch(token="hf_a_token_hfgate_does_not_have_0000")
    try:
        ask(page, "Hello?")
        error = answers(page).last.locator(".msg-error")
        expect(error).to_contain_text("The endpoint rejected hfgate’s credential")
        expect(error).to_contain_text("Ask an admin to update the endpoint’s token")
        expect(answers(page).last.locator(".tag.error")).to_have_text("Failed")
    finally:
        flaky.patch(token="hf_simulated_token_0123456789abcdef")

    flaky.patch(state="paused")
    try:
        ask(page, "Hello again?")
        error = answers(page).last.locator(".msg-error")
        expect(error).to_contain_text("The endpoint is paused")
        expect(error).to_contain_text("An admin resumes it")
    finally:
        flaky.patch(state="running")

    # Too long for the context window: refused before anything is stored, and the text
    # goes back into the composer.
    choose_model(page, MODEL)
    page.locator("#sidebar a#new-chat").click()
    long = "word " * 6000
    ask(page, long)
    notice = page.locator("#notice")
    expect(notice).to_contain_text("no longer fits the model’s context window")
    expect(notice).to_contain_text("Start a new chat, or shorten your message")
    expect(page.locator("#prompt")).to_have_value(long)
    expect(page.locator(".msg")).to_have_count(0)
    assert not page.script_errors


def test_the_keyboard_sends_breaks_lines_and_stops(web: Web) -> None:
    page = web.page(MEMBER, "/chat")
    choose_model(page, SLOW)
    prompt = page.locator("#prompt")
    prompt.focus()
    page.keyboard.type("line one")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("line two")
    expect(prompt).to_have_value("line one\nline two")
    expect(page.locator(".msg")).to_have_count(0)

    page.keyboard.press("Enter")
    expect(page.locator(".msg.user .bubble")).to_have_text("line one\nline two")
    expect(prompt).to_have_value("")
    expect(answers(page).last.locator(".msg-body")).to_contain_text(re.compile(r"\w+ \w+"))
    page.keyboard.press("Escape")
    wait_answered(page)
    expect(answers(page).last.locator(".tag.interrupted")).to_be_visible()

    # The model picker works from the keyboard too.
    page.locator("#model-button").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#model-menu")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#model-menu")).to_be_hidden()


def test_phone_width_collapses_the_sidebar_and_keeps_the_composer_usable(web: Web) -> None:
    page = web.page(
        MEMBER,
        f"/chat?model={MODEL}",
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
    )
    sidebar = page.locator("#sidebar")
    expect(page.locator("#model-label")).to_have_text(MODEL)  # asked for in the URL
    expect(sidebar).not_to_be_in_viewport()
    composer = page.locator("#composer")
    box = composer.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert box["y"] + box["height"] <= 844
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    page.locator("#prompt").tap()
    page.keyboard.type("Hello from a phone")
    page.locator("#send").tap()
    wait_answered(page)
    expect(answers(page)).to_have_count(1)
    cid = conversation_id(page)

    page.locator("[data-open-menu]").tap()
    expect(sidebar).to_be_in_viewport()
    page.locator("#new-chat").tap()
    expect(sidebar).not_to_be_in_viewport()
    expect(page.locator(".msg")).to_have_count(0)
    page.locator("[data-open-menu]").tap()
    page.locator(f'#conversation-list a[data-id="{cid}"]').tap()
    expect(sidebar).not_to_be_in_viewport()
    expect(page.locator(".msg.user .bubble")).to_have_text("Hello from a phone")
    assert not page.script_errors


def test_a_long_conversation_is_trimmed_with_a_notice_and_a_broken_stream_keeps_its_text(
    web: Web,
) -> None:
    page = web.page(MEMBER, "/chat")
    choose_model(page, MODEL)
    for turn in range(3):
        ask(page, f"part {turn} " + "lorem " * 1400)
        wait_answered(page, turn + 1)
    expect(page.locator("#notice")).to_contain_text(
        re.compile(r"\d+ older messages? (was|were) left out .* 4,096-token context window")
    )
    expect(page.locator("#meter-text")).to_have_text(METER)

    # An endpoint that drops the stream halfway: what arrived stays, marked.
    flaky = web.sims["flaky"]
    choose_model(page, FLAKY)
    page.locator("#new-chat").click()
    flaky.patch(drop_after=4)
    try:
        ask(page, "Tell me everything")
        wait_answered(page, 1)
    finally:
        flaky.patch(drop_after=None)
    answer = answers(page).last
    expect(answer).to_have_attribute("data-status", re.compile(r"^(interrupted|error)$"))
    expect(answer.locator(".tag")).to_have_text(re.compile(r"^(Interrupted|Failed)$"))
    partial = answer.locator(".msg-body").inner_text()
    assert partial.strip()
    page.reload()
    expect(answers(page).last.locator(".msg-body")).to_have_text(partial)
    expect(answers(page).last.locator(".tag")).to_have_text(re.compile(r"^(Interrupted|Failed)$"))
