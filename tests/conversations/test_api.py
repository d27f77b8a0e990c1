"""``/api/conversations`` over real HTTP: CRUD, bad input, isolation between people, export."""

from __future__ import annotations

import json

import httpx

from tests.conversations.support import add_member, chat, messages, new_conversation
from tests.support.peers import MODEL, Gateway, SimHandle


def test_create_get_list_update_delete(client: httpx.Client) -> None:
    created = new_conversation(client, title="Trip plans", system="You are terse.")
    assert created["title"] == "Trip plans" and created["model"] == MODEL
    assert created["message_count"] == 1
    assert [(m["role"], m["content"]) for m in created["messages"]] == [
        ("system", "You are terse.")
    ]

    fetched = client.get(f"/api/conversations/{created['id']}").json()
    assert fetched == created

    newer = new_conversation(client, system="  ")
    assert newer["title"] is None and newer["messages"] == [], "a blank system prompt is none"
    listed = client.get("/api/conversations").json()["data"]
    assert [c["id"] for c in listed] == [newer["id"], created["id"]]
    assert listed[1]["message_count"] == 1 and "messages" not in listed[1]

    patched = client.patch(f"/api/conversations/{created['id']}", json={"title": "  Rome  "})
    assert patched.status_code == 200 and patched.json()["title"] == "Rome"
    listed = client.get("/api/conversations").json()["data"]
    assert listed[0]["id"] == created["id"], "an edited conversation moves to the top"
    assert client.patch(f"/api/conversations/{newer['id']}", json={}).status_code == 200
    assert client.get("/api/conversations").json()["data"] == listed, "an empty edit: no change"

    deleted = client.delete(f"/api/conversations/{created['id']}")
    assert deleted.status_code == 200 and deleted.json() == {"id": created["id"], "deleted": True}
    gone = client.get(f"/api/conversations/{created['id']}")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "conversation_not_found"
    assert [c["id"] for c in client.get("/api/conversations").json()["data"]] == [newer["id"]]


def test_delete_from_a_message_removes_it_and_everything_after(client: httpx.Client) -> None:
    conversation = new_conversation(client, system="Be kind.")
    cid = conversation["id"]
    assert chat(client, cid, content="first question").done
    assert chat(client, cid, content="second question").done
    history = messages(client, cid)
    assert [m["role"] for m in history] == ["system", "user", "assistant", "user", "assistant"]

    response = client.delete(f"/api/conversations/{cid}/messages/{history[3]['id']}")
    assert response.status_code == 200
    assert response.json() == {"deleted": [history[3]["id"], history[4]["id"]]}
    assert [m["id"] for m in messages(client, cid)] == [m["id"] for m in history[:3]]

    missing = client.delete(f"/api/conversations/{cid}/messages/{history[4]['id']}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "message_not_found"


BAD_CREATIONS: list[tuple[object, str | None, str]] = [
    ([MODEL], None, "must be a JSON object"),
    ({}, "model", "model is required"),
    ({"model": "org/unknown"}, "model", "does not exist"),
    ({"model": 7}, "model", "must be a string, not int"),
    ({"model": MODEL, "title": "x" * 201}, "title", "201 characters long; the limit is 200"),
    ({"model": MODEL, "title": "   "}, "title", "must be a non-empty string"),
    ({"model": MODEL, "system": ["be brief"]}, "system", "must be a string"),
    ({"model": MODEL, "titel": "typo"}, "titel", "unknown field 'titel'"),
]


def test_bad_creations_are_400_and_name_the_field(client: httpx.Client) -> None:
    # One gateway for every case: starting one per case would dominate the run time.
    for body, param, fragment in BAD_CREATIONS:
        response = client.post("/api/conversations", json=body)
        assert response.status_code == 400, (body, response.text)
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error" and error["param"] == param, body
        assert fragment in error["message"], (body, error)
    assert client.get("/api/conversations").json()["data"] == []


def test_bad_updates_chats_and_exports_are_400(client: httpx.Client) -> None:
    cid = new_conversation(client)["id"]
    cases = [
        client.patch(f"/api/conversations/{cid}", json={"model": "org/unknown"}),
        client.patch(f"/api/conversations/{cid}", json={"title": None, "model": ""}),
        client.patch(f"/api/conversations/{cid}", content=b"not json"),
        client.post(f"/api/conversations/{cid}/chat", json={"content": None}),
        client.post(f"/api/conversations/{cid}/chat", json={}),
        client.post(f"/api/conversations/{cid}/chat", json={"content": " \n"}),
        client.post(f"/api/conversations/{cid}/chat", json={"content": 42}),
        client.post(f"/api/conversations/{cid}/chat", json={"content": "hi", "model": "x/y"}),
        client.post(f"/api/conversations/{cid}/chat", json={"content": "hi", "temperature": 9}),
        client.post(f"/api/conversations/{cid}/chat", json={"content": "hi", "stream": True}),
        client.get(f"/api/conversations/{cid}/export", params={"format": "pdf"}),
    ]
    params = [r.json()["error"]["param"] for r in cases]
    assert [r.status_code for r in cases] == [400] * len(cases), [r.text for r in cases]
    assert params == [
        "model", "model", None, "content", "content", "content", "content", "model",
        "temperature", "stream", "format",
    ]  # fmt: skip
    assert "nothing to regenerate" in cases[3].json()["error"]["message"]
    after = client.get(f"/api/conversations/{cid}").json()
    assert after["messages"] == [] and after["title"] is None, "a refused turn stores nothing"


def test_unknown_conversations_are_404(client: httpx.Client) -> None:
    unknown = "00000000-0000-0000-0000-000000000000"
    responses = [
        client.get(f"/api/conversations/{unknown}"),
        client.patch(f"/api/conversations/{unknown}", json={"title": "x"}),
        client.delete(f"/api/conversations/{unknown}"),
        client.post(f"/api/conversations/{unknown}/chat", json={"content": "hi"}),
        client.get(f"/api/conversations/{unknown}/export"),
    ]
    for response in responses:
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "conversation_not_found"


def test_every_route_needs_a_caller(workspace: Gateway) -> None:
    with httpx.Client(base_url=workspace.url) as anonymous:
        assert anonymous.get("/api/conversations").status_code == 401
        assert anonymous.post("/api/conversations", json={"model": MODEL}).status_code == 401


def test_people_see_only_their_own_conversations(workspace: Gateway, client: httpx.Client) -> None:
    mine = new_conversation(client, title="mine")
    assert chat(client, mine["id"], content="a private question").done
    with workspace.client(add_member(workspace)) as other:
        theirs = new_conversation(other, title="theirs")
        assert [c["id"] for c in other.get("/api/conversations").json()["data"]] == [theirs["id"]]
        cid = mine["id"]
        first = messages(client, cid)[0]["id"]
        attempts = [
            other.get(f"/api/conversations/{cid}"),
            other.patch(f"/api/conversations/{cid}", json={"title": "stolen"}),
            other.post(f"/api/conversations/{cid}/chat", json={"content": "hi"}),
            other.delete(f"/api/conversations/{cid}/messages/{first}"),
            other.get(f"/api/conversations/{cid}/export"),
            other.delete(f"/api/conversations/{cid}"),
        ]
        for response in attempts:
            assert response.status_code == 404, response.text
            assert response.json()["error"]["code"] == "conversation_not_found"
    assert [c["id"] for c in client.get("/api/conversations").json()["data"]] == [cid]
    after = client.get(f"/api/conversations/{cid}").json()
    assert after["title"] == "mine" and after["message_count"] == 2


def test_export_markdown_and_json(client: httpx.Client) -> None:
    conversation = new_conversation(client, title="Café notes!", system="Answer briefly.")
    cid = conversation["id"]
    answer = chat(client, cid, content="What should I order?")

    md = client.get(f"/api/conversations/{cid}/export")
    assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown")
    assert md.headers["content-disposition"] == f'attachment; filename="caf-notes-{cid[:8]}.md"'
    text = md.text
    assert text.startswith("# Café notes!\n")
    assert "## System\n\nAnswer briefly." in text
    assert "## User\n\nWhat should I order?" in text
    assert f"## Assistant ({MODEL})\n\n{answer.text}" in text

    js = client.get(f"/api/conversations/{cid}/export", params={"format": "json"})
    assert js.status_code == 200 and js.headers["content-type"] == "application/json"
    assert js.headers["content-disposition"].endswith(f'-{cid[:8]}.json"')
    document = json.loads(js.content)
    assert document["hfgate_export"] == 1
    exported = document["conversation"]
    assert exported == client.get(f"/api/conversations/{cid}").json()
    assert "user_id" not in exported and all("user_id" not in m for m in exported["messages"])


def test_the_system_prompt_is_set_changed_and_removed_by_patch(
    sim: SimHandle, client: httpx.Client
) -> None:
    cid = new_conversation(client)["id"]
    assert chat(client, cid, content="first question").done

    def system_of(reply: httpx.Response) -> list[tuple[str, str]]:
        assert reply.status_code == 200, reply.text
        return [(m["role"], m["content"]) for m in reply.json()["messages"][:2]]

    path = f"/api/conversations/{cid}"
    # Added to a conversation that has turns already: it goes first.
    added = system_of(client.patch(path, json={"system": "Be terse."}))
    assert added == [("system", "Be terse."), ("user", "first question")]
    changed = system_of(client.patch(path, json={"system": "Be verbose."}))
    assert changed == [("system", "Be verbose."), ("user", "first question")]
    assert len(messages(client, cid)) == 3, "changed in place, not added again"

    # The model is sent it, and the workspace's sampling with it.
    assert chat(client, cid, content="second", temperature=1.5).done
    sent = sim.stats()["last_request"]
    assert sent["messages"][0] == {"role": "system", "content": "Be verbose."}
    assert sent["temperature"] == 1.5

    removed = system_of(client.patch(path, json={"system": " "}))
    assert removed[0] == ("user", "first question"), "a blank system prompt removes it"
    refused = client.patch(path, json={"system": 3})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "system"
