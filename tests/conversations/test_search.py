"""``GET /api/conversations?q=``: title and message text, any case, LIKE wildcards taken
literally, only one's own conversations; on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx

from tests.conversations.support import add_member, chat, new_conversation
from tests.support.peers import Gateway


def _found(client: httpx.Client, q: str) -> list[str]:
    reply = client.get("/api/conversations", params={"q": q})
    assert reply.status_code == 200, reply.text
    return [c["title"] for c in reply.json()["data"]]


def test_search_finds_titles_and_messages_in_any_case(any_db: Gateway) -> None:
    with any_db.client() as client:
        new_conversation(client, title="Trip to Rome")
        tides = new_conversation(client, title="Oceans")["id"]
        chat(client, tides, content="Why do the TIDES follow the Moon?")
        percent = new_conversation(client, title="Discounts")["id"]
        chat(client, percent, content="Is 100% off_peak real?")
        new_conversation(client, title="Plain")

        assert _found(client, "rome") == ["Trip to Rome"]
        assert _found(client, "tides follow") == ["Oceans"]
        assert _found(client, "MOON") == ["Oceans"]
        # Wildcards are matched as text: "%" is not "anything", "_" is not "any character".
        assert _found(client, "100%") == ["Discounts"]
        assert _found(client, "%") == ["Discounts"]
        assert _found(client, "f_p") == ["Discounts"]
        assert _found(client, "o_f") == []
        assert _found(client, "\\") == []
        assert _found(client, "nothing like this") == []
        assert len(_found(client, "  ")) == 4, "a blank search lists everything"

        with any_db.client(add_member(any_db)) as other:
            assert _found(other, "rome") == [], "another person's conversations stay hidden"


def test_a_search_must_be_plain_text(any_db: Gateway) -> None:
    with any_db.client() as client:
        for bad in ("x" * 201, "tab\there"):
            reply = client.get("/api/conversations", params={"q": bad})
            assert reply.status_code == 400 and reply.json()["error"]["param"] == "q"
