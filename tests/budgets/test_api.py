"""Budgets through the API: set on a key or a person, refused at the limit, shown with the
spending and the 80 % warning, changed (audited)."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from tests.chat.support import Peers, chat, sse_payloads

_names = itertools.count()


def _key(peers: Peers, **fields: Any) -> tuple[int, str]:
    body = {"name": f"budgeted-{next(_names)}", **fields}
    with peers.client() as admin:
        answer = admin.post("/api/keys", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()["id"], answer.json()["key"]


def _listed(peers: Peers, key_id: int) -> dict[str, Any]:
    with peers.client() as admin:
        keys = admin.get("/api/keys").json()["data"]
    return next(k for k in keys if k["id"] == key_id)


def _tokens(answer: httpx.Response) -> int:
    usage = answer.json()["usage"]
    return int(usage["prompt_tokens"] + usage["completion_tokens"])


def test_a_token_budget_refuses_the_call_after_the_one_that_reaches_it(peers: Peers) -> None:
    key_id, key = _key(peers, budget_tokens="60/day")
    spent = 0
    with peers.client(key=key) as client:
        while spent < 60:
            answer = chat(client, peers.model)
            assert answer.status_code == 200, answer.text
            spent += _tokens(answer)
        refused = chat(client, peers.model)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "budget_exceeded"
    assert error["message"].startswith(
        f"this API key's budget of 60 tokens per day is spent ({spent} used); it resets at"
    )
    assert int(refused.headers["retry-after"]) > 0
    shown = _listed(peers, key_id)["budgets"]
    assert shown[0] | {"resets_at": None} == {
        "kind": "tokens",
        "limit": 60,
        "period": "day",
        "spent": spent,
        "resets_at": None,
        "warning": True,
        "exhausted": True,
    }


def test_streams_count_and_a_raised_budget_lets_calls_through(peers: Peers) -> None:
    key_id, key = _key(peers, budget_tokens=10, budget_period="day")
    with peers.client(key=key) as client:
        streamed = chat(client, peers.model, stream=True)
        assert sse_payloads(streamed.text)[-1] == "[DONE]"
        assert chat(client, peers.model).json()["error"]["code"] == "budget_exceeded"
        with peers.client() as admin:
            raised = admin.patch(f"/api/keys/{key_id}", json={"budget_tokens": "1000000/day"})
        assert raised.status_code == 200, raised.text
        assert raised.json()["budgets"][0]["limit"] == 1_000_000
        assert raised.json()["budgets"][0]["warning"] is False
        assert chat(client, peers.model).status_code == 200
    with peers.client() as admin:
        actions = [e["action"] for e in admin.get("/api/audit").json()["data"]]
    assert "key.budgets" in actions


def test_bad_budgets_are_refused_with_their_field(peers: Peers) -> None:
    with peers.client() as admin:
        for body, param in [
            ({"budget_tokens": "5/week"}, "budget_tokens"),
            ({"budget_usd": -1}, "budget_usd"),
            ({"budget_usd": 5, "budget_period": "year"}, "budget_period"),
            ({"budget_period": "day"}, "budget_period"),
        ]:
            answer = admin.post("/api/keys", json={"name": "bad"} | body)
            assert answer.status_code == 400, answer.text
            assert answer.json()["error"]["param"] == param
        assert admin.patch("/api/keys/999999", json={"budget_usd": 5}).status_code == 404
        assert admin.patch("/api/keys/1", json={}).status_code == 400


def test_a_person_budget_counts_every_key_of_theirs(peers: Peers) -> None:
    email = f"budget-{next(_names)}@example.com"
    with peers.client() as admin:
        user = admin.post("/api/users", json={"email": email, "role": "member"}).json()
        first, second = (
            admin.post("/api/keys", json={"name": n, "user": email}).json()["key"]
            for n in ("one", "two")
        )
        put = admin.put(f"/api/users/{user['id']}/budgets", json={"budget_tokens": "30/month"})
        assert put.status_code == 200, put.text
        assert put.json()["budgets"][0] | {"resets_at": None} == {
            "kind": "tokens",
            "limit": 30,
            "period": "month",
            "spent": 0,
            "resets_at": None,
            "warning": False,
            "exhausted": False,
        }
        listed = next(u for u in admin.get("/api/users").json()["data"] if u["email"] == email)
        assert listed["budgets"] == [{"kind": "tokens", "limit": 30, "period": "month"}]
    with peers.client(key=first) as client:
        assert chat(client, peers.model).status_code == 200
        assert chat(client, peers.model).status_code == 200  # the first left it under 30
        mine = client.get("/api/me/budgets").json()["data"]
        assert mine[0]["spent"] >= 30 and mine[0]["warning"]
        # A member may not set their own budget as a person.
        assert client.put(f"/api/users/{user['id']}/budgets", json={}).status_code == 403
    with peers.client(key=second) as client:
        refused = chat(client, peers.model)
    assert refused.status_code == 429
    assert refused.json()["error"]["message"].startswith(f"{email}'s budget of 30 tokens per month")
