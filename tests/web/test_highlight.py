"""Code blocks in answers are coloured by the vendored highlighter, under the same strict CSP."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from playwright.sync_api import expect

from tests.web.support import MEMBER, Web, conversation_id
from tests.web.test_safety import _store_answer

ANSWER = """Here is a function:

```python
def greet(name: str) -> str:
    # say hello
    return f"hello {name}"
```

And some JSON:

```
{"a": [1, 2, 3], "b": true}
```
"""


def _errors(page: Any) -> list[str]:
    seen: list[str] = []
    page.on("console", lambda m: seen.append(m.text) if m.type in ("error", "warning") else None)
    return seen


def test_an_answer_with_a_python_fence_is_highlighted(web: Web) -> None:
    page = web.page(MEMBER, "/chat")
    seen = _errors(page)
    page.fill("#prompt", "show me some code")
    page.keyboard.press("Enter")
    expect(page.locator(".msg.assistant")).to_have_attribute("data-status", "complete")
    cid = conversation_id(page)
    with ThreadPoolExecutor(1) as pool:
        url = web.gateway.settings.database_url
        pool.submit(asyncio.run, _store_answer(url, cid, ANSWER)).result()

    page.reload()
    answer = page.locator(".msg.assistant").last.locator(".msg-body")
    python = answer.locator(".code-block").first
    expect(python.locator(".code-head")).to_contain_text("python")
    expect(python.locator("code.hljs .hljs-keyword").first).to_have_text("def")
    expect(python.locator(".hljs-comment")).to_have_text("# say hello")
    expect(python.locator(".hljs-string")).to_have_count(1)
    expect(python.locator("pre")).to_contain_text('return f"hello {name}"')
    # The keyword is coloured by app.css, not by an inline style.
    colour = python.locator(".hljs-keyword").first.evaluate("e => getComputedStyle(e).color")
    assert colour == "rgb(255, 123, 114)", colour
    expect(answer.locator("[style]")).to_have_count(0)
    # A fence without a language: guessed among the bundled ones.
    expect(answer.locator(".code-block").nth(1).locator(".hljs-attr").first).to_have_text('"a"')
    assert not page.script_errors
    assert not seen, seen


def test_unknown_languages_stay_plain_and_markup_stays_text(web: Web) -> None:
    page = web.page(MEMBER, "/chat")
    expect(page.locator("#model-label")).not_to_have_text("Loading models…")
    seen = _errors(page)
    found = page.evaluate(
        """async () => {
          const { renderMarkdown } = await import('/static/js/lib/markdown.js');
          const box = document.createElement('div');
          renderMarkdown(box, '```klingon\\nqapla <b>x</b>\\n```');
          const plain = { spans: box.querySelectorAll('span.hljs-keyword').length,
                          text: box.querySelector('pre').textContent };
          renderMarkdown(box, '```html\\n<script>window.__xss=1</script><b onclick="x()">b</b>\\n```');
          const tags = [...box.querySelectorAll('pre *')].map((n) => n.localName);
          const attributes = [...box.querySelectorAll('pre *')].flatMap(
            (n) => [...n.attributes].map((a) => a.name));
          return { plain, tags, attributes, text: box.querySelector('pre').textContent,
                   ran: window.__xss !== undefined };
        }"""
    )
    assert found["plain"] == {"spans": 0, "text": "qapla <b>x</b>\n"}, found
    assert set(found["tags"]) <= {"code", "span"}, found
    assert "span" in found["tags"], found
    assert set(found["attributes"]) <= {"class"}, found
    assert found["text"] == '<script>window.__xss=1</script><b onclick="x()">b</b>\n', found
    assert not found["ran"]
    assert not page.script_errors
    assert not seen, seen
