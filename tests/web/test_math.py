"""TeX in answers, typeset by the vendored KaTeX under the same strict CSP, loaded only when an
answer has math; dollars that are prices and TeX inside code stay as typed."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from playwright.sync_api import expect

from tests.web.a11y import assert_clean
from tests.web.support import MEMBER, Web, conversation_id
from tests.web.test_safety import _store_answer

ANSWER = r"""The roots are $x_{1,2} = \frac{-b \pm \sqrt{b^2-4ac}}{2a}$, and in display:

$$\int_0^1 x^2\,dx = \frac{1}{3}$$

Also \(e^{i\pi} + 1 = 0\). It costs $5 and $10 though, and `$not_math$` is code:

```latex
\[ a_b \]
```

A broken one: $\frac{1}{$ stays readable.
"""


def test_an_answer_with_tex_is_typeset_and_the_rest_left_alone(web: Web) -> None:
    page = web.page(MEMBER, "/chat")
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.extend([m.text] if m.type in ("error", "warning") else [])
    )
    fonts: list[int] = []
    page.on("response", lambda r: fonts.extend([r.status] if r.url.endswith(".woff2") else []))
    assert page.evaluate("() => !window.katex"), "no math yet: KaTeX is not loaded"
    page.fill("#prompt", "some maths please")
    page.keyboard.press("Enter")
    expect(page.locator(".msg.assistant")).to_have_attribute("data-status", "complete")
    with ThreadPoolExecutor(1) as pool:
        url = web.gateway.settings.database_url
        pool.submit(asyncio.run, _store_answer(url, conversation_id(page), ANSWER)).result()

    page.reload()
    body = page.locator(".msg.assistant").last.locator(".msg-body")
    math = body.locator("span.math.typeset")
    expect(math).to_have_count(4)
    expect(body.locator("span.math-display .katex-display")).to_have_count(1)
    # MathML for screen readers, with the TeX as its annotation.
    annotations = body.locator("annotation").evaluate_all("nodes => nodes.map(n => n.textContent)")
    assert r"\int_0^1 x^2\,dx = \frac{1}{3}" in annotations, annotations
    assert r"e^{i\pi} + 1 = 0" in annotations
    text = body.inner_text()
    assert "It costs $5 and $10 though" in text
    expect(body.locator("code").first).to_have_text("$not_math$")
    expect(body.locator("pre code")).to_contain_text(r"\[ a_b \]")
    assert "\ue000" not in text
    broken = body.locator(".math-error")  # shown as typed, marked, KaTeX's reason as its title
    expect(broken).to_have_text(r"$\frac{1}{$")
    expect(broken).to_have_attribute("title", re.compile("^KaTeX parse error"))
    page.wait_for_load_state("networkidle")
    assert fonts and set(fonts) <= {200, 304}, fonts
    assert page.evaluate(
        "getComputedStyle(document.querySelector('.katex')).fontFamily"
    ).startswith("KaTeX")
    assert_clean(page, "an answer with math")
    assert not problems and not page.script_errors, (problems, page.script_errors)


def test_math_alone_is_lifted_and_placed_by_pure_functions(web: Web) -> None:
    page = web.page(MEMBER, "/chat")
    lifted: Any = page.evaluate("""async () => {
      const { liftMath } = await import('/static/js/lib/math.js');
      return [
        liftMath('a $b$ c'), liftMath('$$x$$'), liftMath('5$ and $6'),
        liftMath('`$x$` and ```\\n$y$\\n```'), liftMath('no math at all'),
      ];
    }""")
    assert lifted[0]["text"] == "a \ue0000\ue001 c" and lifted[0]["formulas"][0]["tex"] == "b"
    assert lifted[1]["formulas"][0]["display"] is True
    assert lifted[2]["formulas"] == []
    assert lifted[3]["formulas"] == [] and lifted[4]["formulas"] == []
