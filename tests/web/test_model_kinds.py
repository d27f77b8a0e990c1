"""Embedding and reranking models in the workspace: listed with what they serve on the models
page, never offered in the chat picker (a chat with an embedder could only fail)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from tests.support.peers import MODEL, running_gateway, running_sim
from tests.web.support import OWNER, Web

EMBEDDER = "team-embedder"


@pytest.fixture(scope="module")
def kinds(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    with ExitStack() as stack:
        chat = stack.enter_context(running_sim())
        tei = stack.enter_context(running_sim(engine="tei", tei_kind="embed"))
        home = tmp_path_factory.mktemp("kinds") / "home"
        gateway = stack.enter_context(
            running_gateway(home, hub_url=chat.url, HFGATE_OWNER_PASSWORD=OWNER[1])
        )
        for sim, name in ((chat, None), (tei, EMBEDDER)):
            credential = sim.credential(**({"name": name, "context_window": 512} if name else {}))
            reply = gateway.add(credential)
            assert reply.status_code == 201, reply.text
        web = Web(gateway, {"chat": chat, "tei": tei}, browser)
        try:
            yield web
        finally:
            for context in web.contexts:
                context.close()


def test_the_models_page_says_what_each_model_serves(kinds: Web) -> None:
    page = kinds.page(OWNER, "/models")
    embedder = page.locator(f'article[data-id="{EMBEDDER}"]')
    embedder.wait_for()
    assert "Embeddings (POST /v1/embeddings)" in embedder.inner_text()
    assert "TEI" in embedder.inner_text()
    assert embedder.get_by_role("link", name="Chat with it").is_hidden()
    chat = page.locator(f'article[data-id="{MODEL}"]')
    assert "Chat and completions" in chat.inner_text()
    assert chat.get_by_role("link", name="Chat with it").is_visible()
    assert page.script_errors == []  # type: ignore[attr-defined]


def test_the_chat_picker_offers_chat_models_only(kinds: Web) -> None:
    page = kinds.page(OWNER, "/chat")
    page.locator("#model-label").filter(has_text=MODEL).wait_for()
    page.click("#model-button")
    page.locator(f'#model-menu li[data-id="{MODEL}"]').wait_for()
    ids = page.locator("#model-menu li[data-id]").evaluate_all(
        "(items) => items.map((item) => item.dataset.id)"
    )
    assert ids == [MODEL]
    assert page.script_errors == []  # type: ignore[attr-defined]
