"""axe-core in the browser tests: every page checked for WCAG 2.1 A/AA and best practices.

axe is injected through Playwright's evaluate (the DevTools protocol), which the pages'
Content-Security-Policy does not govern, so the pages are tested with their real CSP.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
_source: str | None = None


def violations(page: Any, theme: str | None = None) -> list[str]:
    """axe's violations on the page as it is now, one line each (rule, impact, where);
    with ``theme`` ("light" or "dark"), checked in that theme."""
    global _source
    if _source is None:
        _source = AXE.read_text(encoding="utf-8")
    if theme is not None:
        page.evaluate("mode => { document.documentElement.dataset.theme = mode; }", theme)
        page.wait_for_timeout(250)  # colour transitions end before contrast is measured
    if not page.evaluate("() => !!window.axe"):
        page.evaluate(_source)
    found = page.evaluate(
        """async (tags) => {
          const result = await axe.run(document, { runOnly: { type: 'tag', values: tags } });
          return result.violations.map((v) => ({
            id: v.id, impact: v.impact,
            nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ') + ' ' + (n.failureSummary || '').split('\\n').slice(1, 2).join('')),
          }));
        }""",
        TAGS,
    )
    return [f"{v['id']} ({v['impact']}): {' | '.join(v['nodes'])}" for v in found]


def assert_clean(page: Any, where: str = "") -> None:
    """No violation, in the light theme and in the dark one."""
    found = {theme: violations(page, theme) for theme in ("light", "dark")}
    page.evaluate("() => { delete document.documentElement.dataset.theme; }")
    assert not any(found.values()), f"axe on {where or page.url}: {found}"
