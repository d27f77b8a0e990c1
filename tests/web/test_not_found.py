"""Unknown paths: browsers get a page in the workspace's style, API clients the JSON error."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.web.support import Web

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def _json_error(path: str, method: str = "GET") -> dict[str, Any]:
    message = f"no route {method} {path}"
    return {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": None,
            "code": "route_not_found",
        }
    }


def test_a_browser_gets_the_html_page(web: Web) -> None:
    with httpx.Client(base_url=web.url) as client:
        reply = client.get("/no/such/page", headers={"Accept": BROWSER_ACCEPT})
    assert reply.status_code == 404
    assert reply.headers["content-type"].startswith("text/html")
    assert "<title>Page not found · hfgate</title>" in reply.text
    assert 'href="/chat"' in reply.text and 'href="/models"' in reply.text
    assert "Content-Security-Policy" in reply.headers


@pytest.mark.parametrize(
    ("path", "accept"),
    [
        ("/no/such/page", "application/json"),
        ("/no/such/page", "*/*"),
        ("/no/such/page", None),
        ("/api/no-such-thing", BROWSER_ACCEPT),
        ("/v1/no-such-thing", BROWSER_ACCEPT),
    ],
)
def test_api_clients_keep_the_json_error(web: Web, path: str, accept: str | None) -> None:
    headers = {"Accept": accept} if accept else {}
    with httpx.Client(base_url=web.url) as client:
        reply = client.get(path, headers=headers)
    assert reply.status_code == 404
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == _json_error(path)


def test_tgi_paths_stay_json_for_browsers(web: Web) -> None:
    # ``/tgi/…`` is a catch-all route: never the 404 page, whatever the Accept header says.
    with httpx.Client(base_url=web.url) as client:
        reply = client.get("/tgi/no-such-thing", headers={"Accept": BROWSER_ACCEPT})
    assert reply.headers["content-type"] == "application/json"
    assert "error" in reply.json()


def test_the_page_renders_without_errors(web: Web) -> None:
    console: list[str] = []
    page = web.context().new_page()
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: console.append(str(error)))
    reply = page.goto("/no/such/page")
    assert reply is not None and reply.status == 404
    expect(page).to_have_title("Page not found · hfgate")
    expect(page.locator("#not-found h1")).to_have_text("Page not found")
    expect(page.locator('#not-found a[href="/chat"]')).to_be_visible()
    expect(page.locator('#not-found a[href="/models"]')).to_be_visible()
    # The browser's own log line for the 404 status itself is not a page error.
    assert [line for line in console if "404" not in line] == []
