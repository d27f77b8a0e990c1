"""Model output (and people's own text) can never run script in the page.

The simulator's answers are plain words, so the hostile answer is written straight into the
gateway's database, as if a model had produced it; the hostile question goes through the UI.
"""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from playwright.sync_api import expect

from hfgate.storage import Database
from hfgate.storage.tables import Message
from tests.web.support import MEMBER, Web, conversation_id

HOSTILE_QUESTION = '<img src=x onerror="window.__xss=1"> and <script>window.__xss=2</script>'
HOSTILE_ANSWER = """Here is **bold**, a list and code:

- one
- two

```python
print("<script>window.__xss=3</script>")
```

<img src=x onerror="window.__xss=4">
<script>window.__xss=5</script>
<svg onload="window.__xss=6"></svg>
<iframe src="javascript:window.__xss=7"></iframe>
<a href="#" onclick="window.__xss=8">click</a>

[a link](javascript:window.__xss=9) and [a safe one](https://example.com)

![tracker](https://tracker.example/pixel.png "t")

| a | b |
|---|---|
| 1 | 2 |
"""
NOTHING_RAN = "() => window.__xss === undefined"


async def _store_answer(url: str, conversation: str, content: str) -> None:
    db = Database(url)
    try:
        async with db.session() as session:
            session.add(
                Message(
                    id=str(uuid.uuid4()),
                    conversation_id=conversation,
                    position=100,
                    role="assistant",
                    content=content,
                    model="meta-llama/Llama-2-7b-chat-hf",
                    status="complete",
                )
            )
            await session.commit()
    finally:
        await db.close()


def watch(page: Any) -> list[str]:
    """Dialogs opened and script the page's policy had to block (both must stay empty)."""
    seen: list[str] = []
    page.on("dialog", lambda dialog: (seen.append(f"dialog {dialog.message}"), dialog.dismiss()))
    page.on(
        "console",
        lambda message: seen.append(message.text) if "Content Security" in message.text else None,
    )
    return seen


def test_hostile_markup_in_messages_is_shown_never_run(web: Web) -> None:
    page = web.page(MEMBER, "/chat")
    seen = watch(page)
    page.fill("#prompt", HOSTILE_QUESTION)
    page.keyboard.press("Enter")
    expect(page.locator(".msg.assistant")).to_have_attribute("data-status", "complete")
    cid = conversation_id(page)
    stored = page.context.request.get(f"/api/conversations/{cid}").json()["messages"]
    assert [m["role"] for m in stored] == ["user", "assistant"]
    # Playwright's sync API runs an event loop on this thread: write from another one.
    with ThreadPoolExecutor(1) as pool:
        url = web.gateway.settings.database_url
        pool.submit(asyncio.run, _store_answer(url, cid, HOSTILE_ANSWER)).result()

    page.reload()
    messages = page.locator("#messages")
    # The question is shown as the text it is.
    expect(page.locator(".msg.user .bubble")).to_have_text(HOSTILE_QUESTION)
    answer = page.locator(".msg.assistant").last.locator(".msg-body")
    expect(answer.locator("strong")).to_have_text("bold")
    expect(answer.locator("li")).to_have_count(2)
    expect(answer.locator("table td")).to_have_count(2)
    expect(answer.locator(".code-block .code-head")).to_contain_text("python")
    expect(answer.locator(".code-block pre")).to_contain_text("<script>window.__xss=3</script>")
    expect(answer).to_contain_text('<img src=x onerror="window.__xss=4">')  # as text

    assert page.evaluate(NOTHING_RAN)
    for selector in ("script", "iframe", "[onerror]", "[onload]", "[onclick]"):
        expect(messages.locator(selector)).to_have_count(0)
    # (The page's own avatar and icons aside.)
    expect(messages.locator(".msg-body img, .bubble img")).to_have_count(0)
    expect(messages.locator(".msg-body svg:not(.icon), .bubble svg")).to_have_count(0)
    expect(messages.locator('a[href^="javascript"]')).to_have_count(0)
    safe = answer.locator('a[href="https://example.com"]')
    expect(safe).to_have_attribute("rel", "noopener noreferrer nofollow")
    expect(safe).to_have_attribute("target", "_blank")
    expect(answer.locator('a[href="https://tracker.example/pixel.png"]')).to_contain_text("tracker")

    # Clicking around does not run anything either.
    answer.get_by_text("click").click()
    answer.locator("button.copy-code").click()
    assert page.evaluate(NOTHING_RAN)
    assert not seen, seen
    assert not page.script_errors


def test_the_renderer_escapes_everything_it_does_not_allow(web: Web) -> None:
    page = web.page(MEMBER, "/chat")
    expect(page.locator("#model-label")).not_to_have_text("Loading models…")
    rendered = page.evaluate(
        """async (samples) => {
          const { renderMarkdown } = await import('/static/js/lib/markdown.js');
          const box = document.createElement('div');
          const found = { tags: new Set(), attributes: new Set(), hrefs: [], classes: [] };
          for (const text of samples) {
            renderMarkdown(box, text);
            for (const node of box.querySelectorAll('*')) {
              found.tags.add(node.localName);
              for (const attribute of node.attributes) found.attributes.add(attribute.name);
              if (node.hasAttribute('href')) found.hrefs.push(node.getAttribute('href'));
              if (node.hasAttribute('class')) found.classes.push(node.getAttribute('class'));
            }
          }
          return { tags: [...found.tags], attributes: [...found.attributes],
                   hrefs: found.hrefs, classes: found.classes, last: box.innerHTML };
        }""",
        [
            "<img src=x onerror=alert(1)>",
            '<a href="javascript:alert(1)">x</a>',
            "[x](javascript:alert(1))",
            "[x](JaVaScRiPt:alert(1))",
            "[x](data:text/html,<script>alert(1)</script>)",
            "<style>body{display:none}</style>",
            "<form action=/auth/logout method=post><button>go</button></form>",
            '<div class="msg-error" style="position:fixed">fake</div>',
            "[ok](https://example.com)",
            "`<b>inline</b>`",
        ],
    )
    assert page.evaluate(NOTHING_RAN)
    assert set(rendered["tags"]) <= {"p", "a", "code"}, rendered
    assert set(rendered["attributes"]) <= {"href", "target", "rel"}, rendered
    assert rendered["hrefs"] == ["https://example.com"], rendered
    assert rendered["classes"] == [], rendered
    assert "&lt;b&gt;inline&lt;/b&gt;" in rendered["last"]
