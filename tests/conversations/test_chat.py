"""``POST /api/conversations/{id}/chat``: the relayed stream, and what is stored however it ends."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.conversations.support import chat, events, messages, new_conversation, wait_for
from tests.support.peers import MODEL, Gateway, SimHandle


def _last_answer(client: httpx.Client, cid: str) -> dict | None:
    """The last answer once saved (not while its checkpoints show it ``streaming``)."""
    history = messages(client, cid)
    last = history[-1] if history and history[-1]["role"] == "assistant" else None
    return None if last is None or last["status"] == "streaming" else last


def test_a_chat_streams_and_stores_both_turns(client: httpx.Client) -> None:
    conversation = new_conversation(client, system="You are helpful.")
    cid = conversation["id"]
    question = "Please explain how scale-to-zero endpoints wake up again after a while"
    stream = chat(client, cid, content=question)

    assert stream.status == 200 and stream.headers["content-type"].startswith("text/event-stream")
    assert stream.done and not stream.errors and stream.text
    meta = stream.hfgate
    assert meta is not None and meta["conversation_id"] == cid
    assert meta["trimmed"] == 0 and meta["context_window"] == 4096
    assert "prompt_tokens_counted" in meta
    usage = stream.usage
    assert usage is not None and usage["completion_tokens"] > 0

    _system, user, assistant = messages(client, cid)
    assert user["id"] == meta["user_message_id"] and user["content"] == question
    assert assistant["id"] == meta["assistant_message_id"]
    assert assistant["content"] == stream.text and assistant["status"] == "complete"
    assert assistant["model"] == MODEL and assistant["error"] is None
    assert assistant["prompt_tokens"] == usage["prompt_tokens"]
    assert assistant["completion_tokens"] == usage["completion_tokens"]

    title = client.get(f"/api/conversations/{cid}").json()["title"]
    assert title == meta["title"] == "Please explain how scale-to-zero endpoints wake up again…"


def test_the_next_turn_sends_the_whole_conversation(client: httpx.Client) -> None:
    cid = new_conversation(client, title="kept")["id"]
    first = chat(client, cid, content="one")
    second = chat(client, cid, content="two")
    assert first.usage and second.usage
    # system-less history: user, assistant, user — so the prompt grows by the first turn.
    assert second.usage["prompt_tokens"] > first.usage["prompt_tokens"]
    assert [m["role"] for m in messages(client, cid)] == ["user", "assistant"] * 2
    assert client.get(f"/api/conversations/{cid}").json()["title"] == "kept"


def test_regenerate_answers_the_last_question_again(client: httpx.Client) -> None:
    cid = new_conversation(client)["id"]
    refused = client.post(f"/api/conversations/{cid}/chat", json={"content": None})
    assert refused.status_code == 400, "no question yet: nothing to regenerate"
    assert "nothing to regenerate" in refused.json()["error"]["message"]
    original = chat(client, cid, content="tell me something")
    question, answer = messages(client, cid)

    # The answer deleted first (the workspace's older way): the question is answered again.
    assert client.delete(f"/api/conversations/{cid}/messages/{answer['id']}").status_code == 200
    again = chat(client, cid, content=None)
    assert again.done and again.hfgate is not None
    assert again.hfgate["user_message_id"] == question["id"]
    assert again.text == original.text, "the simulator answers the same prompt the same way"
    after = messages(client, cid)
    assert [m["id"] for m in after] == [question["id"], again.hfgate["assistant_message_id"]]
    assert after[1]["id"] != answer["id"] and after[1]["versions"] == [
        {k: v for k, v in after[1].items() if k not in ("version", "versions")}
    ]


def test_a_model_given_with_the_message_answers_and_becomes_the_default(
    workspace: Gateway, sim: SimHandle, client: httpx.Client
) -> None:
    other = "team/second-name"
    assert workspace.add(sim.credential(name=other)).status_code == 201
    cid = new_conversation(client)["id"]
    stream = chat(client, cid, content="hello", model=other)
    assert stream.done and stream.hfgate and stream.hfgate["model"] == other
    assert messages(client, cid)[-1]["model"] == other
    assert client.get(f"/api/conversations/{cid}").json()["model"] == other


def test_stop_stores_the_partial_answer_as_interrupted(
    sim: SimHandle, workspace: Gateway, client: httpx.Client
) -> None:
    sim.patch(token_delay=0.2, reply_tokens=40)
    cid = new_conversation(client)["id"]
    seen: list[str] = []
    with (
        workspace.client() as browser,
        browser.stream("POST", f"/api/conversations/{cid}/chat", json={"content": "hi"}) as reply,
    ):
        for event, data in events(reply):
            if event == "message":
                seen.append(data)
            if len(seen) == 2:
                break  # leaving both blocks closes the connection: the browser's Stop
    stored = wait_for(lambda: _last_answer(client, cid))
    assert stored["status"] == "interrupted" and stored["error"] is None
    # What is known of a cut-short answer is kept: one token per text event relayed (the
    # engine's own count never came), and the prompt's count when the fit counted it.
    assert 2 <= stored["completion_tokens"] < 40

    # The full answer to the same prompt, to compare with what was stored.
    sim.patch(token_delay=0.0)
    client.delete(f"/api/conversations/{cid}/messages/{stored['id']}")
    full = chat(client, cid, content=None).text
    client_saw = "".join(_content(data) for data in seen)
    assert client_saw and stored["content"].startswith(client_saw)
    assert full.startswith(stored["content"]) and len(stored["content"]) < len(full)
    assert sim.stats()["cancelled"] >= 1, "the endpoint's generation was cancelled too"


def _content(data: str) -> str:
    return json.loads(data)["choices"][0]["delta"]["content"]


def test_an_error_mid_stream_is_stored_with_the_partial_answer(
    sim: SimHandle, client: httpx.Client
) -> None:
    sim.patch(stream_error_after=3)
    cid = new_conversation(client)["id"]
    stream = chat(client, cid, content="this will fail")
    assert stream.done and len(stream.errors) == 1
    message = stream.errors[0]["error"]["message"]

    answer = messages(client, cid)[-1]
    assert answer["role"] == "assistant" and answer["status"] == "error"
    assert answer["error"] == message and answer["content"] == stream.text
    assert len(stream.text.split()) >= 2
    # Its tokens are kept too: the prompt, and the text events sent before the error.
    assert answer["completion_tokens"] == 3

    # The failed answer is not sent back to the model: the retry's prompt is the question only.
    sim.patch(stream_error_after=None)
    retry = chat(client, cid, content="try again")
    assert retry.done and not retry.errors
    roles = [(m["role"], m["status"]) for m in messages(client, cid)]
    assert roles == [
        ("user", "complete"), ("assistant", "error"), ("user", "complete"),
        ("assistant", "complete"),
    ]  # fmt: skip

    md = client.get(f"/api/conversations/{cid}/export").text
    assert f"*(error: {message})*" in md


def test_an_answer_whose_question_was_deleted_meanwhile_is_dropped(
    sim: SimHandle, client: httpx.Client
) -> None:
    sim.patch(token_delay=0.05, reply_tokens=10)
    cid = new_conversation(client)["id"]
    deleted = []
    with client.stream("POST", f"/api/conversations/{cid}/chat", json={"content": "hi"}) as reply:
        for event, data in events(reply):
            if event == "hfgate":
                question = json.loads(data)["user_message_id"]
                path = f"/api/conversations/{cid}/messages/{question}"
                deleted.append(client.delete(path).status_code)  # edit-and-resend, mid-answer
    assert deleted == [200]
    assert messages(client, cid) == []
    assert client.delete(f"/api/conversations/{cid}").status_code == 200


def test_a_cold_endpoint_is_announced_as_structured_waiting_events(
    sim: SimHandle, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workspace learns "waking" from a named event with numbers, never from prose."""
    monkeypatch.setattr("hfgate.chat.lifecycle.KEEPALIVE_SECONDS", 0.3)
    monkeypatch.setattr("hfgate.endpoints.waking.FIRST_HOLD", 1.0)  # found cold after 1 s
    sim.patch(state="scaled_to_zero", cold_start=2.5)
    cid = new_conversation(client)["id"]
    with client.stream("POST", f"/api/conversations/{cid}/chat", json={"content": "hi"}) as r:
        assert r.status_code == 200
        seen = list(events(r))

    names = [name for name, _ in seen]
    assert names[0] == "hfgate" and "waiting" in names, names
    assert names.index("waiting") < names.index("message"), "waiting comes before the answer"
    waiting = [json.loads(data) for name, data in seen if name == "waiting"]
    assert all(set(w) == {"reason", "elapsed"} for w in waiting)
    # "waiting" while the first attempt is held; "waking" once hfgate knows it is asleep.
    assert waiting[-1]["reason"] == "waking" and waiting[-1]["elapsed"] >= waiting[0]["elapsed"]
    assert _last_answer(client, cid)["status"] == "complete"
