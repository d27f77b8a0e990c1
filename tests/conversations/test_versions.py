"""Answer versions: regenerating keeps the previous answer; the selected one continues.

Over real HTTP, on SQLite and on PostgreSQL (the gateway's own database), with the simulator
as the model: a different ``seed`` gives a different answer to the same prompt, and the
simulator remembers the last request it was sent, so what the next turn sends is checked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conversations.support import add_member, chat, messages, new_conversation
from tests.support.peers import Gateway, SimHandle


@pytest.fixture
def api(any_db: Gateway) -> Iterator[httpx.Client]:
    with any_db.client() as client:
        yield client


def _sent(sim: SimHandle) -> str:
    """Everything the endpoint was sent last, as one text (prompt or messages)."""
    return json.dumps(sim.stats()["last_request"])


def _versions(answer: dict[str, Any]) -> list[str]:
    return [version["content"] for version in answer["versions"]]


def test_regenerate_keeps_versions_and_the_selected_one_continues(
    api: httpx.Client, sim: SimHandle
) -> None:
    cid = new_conversation(api, title="versions")["id"]
    first = chat(api, cid, content="tell me about tides")
    second = chat(api, cid, content=None, seed=7)
    assert first.text and second.text and first.text != second.text
    assert second.hfgate and second.hfgate["user_message_id"] == messages(api, cid)[0]["id"]

    _question, answer = messages(api, cid)  # one turn still, the newest version shown
    assert (answer["content"], answer["version"]) == (second.text, 2)
    assert _versions(answer) == [first.text, second.text]
    assert api.get("/api/conversations").json()["data"][0]["message_count"] == 2

    # Flip back to the first version: it is shown, and the next turn continues from it.
    older = answer["versions"][0]["id"]
    flipped = api.post(f"/api/conversations/{cid}/messages/{older}/select")
    assert flipped.status_code == 200
    shown = flipped.json()["messages"][1]
    assert (shown["id"], shown["content"], shown["version"]) == (older, first.text, 1)
    assert chat(api, cid, content="and then?").done
    sent = _sent(sim)
    assert first.text in sent and second.text not in sent

    # Survives a reload; a third version is the newest and shown.
    _, answer, _, _ = messages(api, cid)
    assert answer["id"] == older and _versions(answer) == [first.text, second.text]
    third = chat(api, cid, content=None, seed=11)
    last = messages(api, cid)[-1]
    assert (last["content"], last["version"], len(last["versions"])) == (third.text, 2, 2)


def test_export_shows_the_selected_version_and_keeps_them_all_in_json(
    api: httpx.Client,
) -> None:
    cid = new_conversation(api, title="export")["id"]
    first = chat(api, cid, content="a question")
    second = chat(api, cid, content=None, seed=3)
    markdown = api.get(f"/api/conversations/{cid}/export?format=markdown").text
    assert second.text in markdown and first.text not in markdown
    assert "version 2 of 2" in markdown
    document = api.get(f"/api/conversations/{cid}/export?format=json").json()
    answer = document["conversation"]["messages"][1]
    assert _versions(answer) == [first.text, second.text] and answer["version"] == 2


def test_deleting_a_turn_or_the_conversation_takes_every_version(
    api: httpx.Client, any_db: Gateway
) -> None:
    cid = new_conversation(api)["id"]
    chat(api, cid, content="one")
    chat(api, cid, content=None, seed=5)
    chat(api, cid, content="two")
    chat(api, cid, content=None, seed=5)
    history = messages(api, cid)
    assert [len(m.get("versions", [])) for m in history] == [0, 2, 0, 2]
    doomed = [v["id"] for v in history[3]["versions"]]

    removed = api.delete(f"/api/conversations/{cid}/messages/{history[2]['id']}").json()
    assert set(removed["deleted"]) == {history[2]["id"], *doomed}
    for gone in doomed:
        reply = api.post(f"/api/conversations/{cid}/messages/{gone}/select")
        assert reply.status_code == 404
    assert [m["id"] for m in messages(api, cid)] == [m["id"] for m in history[:2]]

    kept = history[1]["versions"][0]["id"]
    assert api.delete(f"/api/conversations/{cid}").status_code == 200
    assert api.post(f"/api/conversations/{cid}/messages/{kept}/select").status_code == 404


def test_a_failed_answer_is_replaced_not_kept_as_a_version(
    api: httpx.Client, sim: SimHandle
) -> None:
    cid = new_conversation(api)["id"]
    sim.patch(stream_error_after=2)
    assert chat(api, cid, content="fail first").errors
    sim.patch(stream_error_after=None)
    again = chat(api, cid, content=None)
    answer = messages(api, cid)[-1]
    assert answer["status"] == "complete" and answer["content"] == again.text
    assert answer["version"] == 1 and len(answer["versions"]) == 1


def test_only_answers_of_ones_own_conversations_can_be_selected(
    api: httpx.Client, any_db: Gateway
) -> None:
    cid = new_conversation(api)["id"]
    chat(api, cid, content="mine")
    question, answer = messages(api, cid)
    user = api.post(f"/api/conversations/{cid}/messages/{question['id']}/select")
    assert user.status_code == 400 and "only answers have versions" in user.text
    with any_db.client(add_member(any_db)) as other:
        stranger = other.post(f"/api/conversations/{cid}/messages/{answer['id']}/select")
        assert stranger.status_code == 404
        assert stranger.json()["error"]["code"] == "conversation_not_found"
