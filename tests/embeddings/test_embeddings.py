"""``POST /v1/embeddings`` against a simulated TEI: batches split and reassembled, over-long
inputs named or truncated, dimensions, cold starts, usage, keys and the wrong kind of model."""

from __future__ import annotations

from typing import Any

import httpx

from tests.chat.support import wait_for
from tests.embeddings.support import EMBEDDER, MAX_BATCH, MAX_INPUT, RERANKER, Peers, register
from tests.security.support import new_key


def embed(client: httpx.Client, inputs: Any, **body: Any) -> httpx.Response:
    return client.post("/v1/embeddings", json={"model": EMBEDDER, "input": inputs} | body)


def vectors(answer: httpx.Response) -> list[list[float]]:
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert [d["index"] for d in data] == list(range(len(data)))
    return [d["embedding"] for d in data]


def direct(peers: Peers, inputs: list[Any]) -> httpx.Response:
    return peers.embedder.direct("/embed", {"inputs": inputs})


def long_text(words: int) -> str:
    return " ".join(f"word{i}" for i in range(words))


# -- splitting -----------------------------------------------------------------------------------


def test_a_batch_over_the_limit_is_split_sent_together_and_reassembled(peers: Peers) -> None:
    texts = [f"text number {i}" for i in range(10)]
    peers.embedder.meter.hold = 0.3  # each call takes 0.3 s: sent together, they overlap
    with peers.client() as client:
        answer = embed(client, texts, encoding_format="float")
    peers.embedder.meter.hold = 0.0

    calls = peers.embedder.meter.posts("/embed")
    assert [call.body["inputs"] for call in calls] == [texts[0:4], texts[4:8], texts[8:10]]
    assert peers.embedder.meter.most == 3  # all three in flight at once, not one by one
    assert answer.headers["x-hfgate-upstream-calls"] == "3"
    expected = [v for start in (0, 4, 8) for v in direct(peers, texts[start : start + 4]).json()]
    assert vectors(answer) == expected  # in the caller's order


def test_usage_is_exact_across_parts(peers: Peers) -> None:
    texts = [f"a text of some words, number {i}" for i in range(6)]
    with peers.client() as client:
        answer = embed(client, texts)
    assert answer.headers["x-hfgate-token-count"] == "exact"
    tokens = sum(
        int(direct(peers, part).headers["x-compute-tokens"]) for part in (texts[:4], texts[4:])
    )
    assert answer.json()["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}


def test_a_stale_batch_limit_is_learned_from_the_endpoint(peers: Peers) -> None:
    """The endpoint was reconfigured to take fewer inputs per call than hfgate was told: its
    422 says how many, and the request goes again in parts of that size."""
    register(peers.gateway, "stale-batch", peers.embedder.url, EMBEDDER, kind="embed", max_batch=8)
    texts = [f"t{i}" for i in range(8)]
    with peers.client() as client:
        answer = client.post("/v1/embeddings", json={"model": "stale-batch", "input": texts})
    assert answer.status_code == 200, answer.text
    sizes = [len(call.body["inputs"]) for call in peers.embedder.meter.posts("/embed")]
    assert sizes[0] == 8 and sizes[1:] == [MAX_BATCH, MAX_BATCH]


# -- over-long inputs -----------------------------------------------------------------------------


def test_an_input_over_the_limit_is_named_with_the_numbers(peers: Peers) -> None:
    texts = ["short", "also short", "fine", long_text(MAX_INPUT + 10), "short again"]
    with peers.client() as client:
        answer = embed(client, texts)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "context_length_exceeded"
    assert error["param"] == "input[3]"
    assert "input[3] has" in error["message"] and f"at most {MAX_INPUT}" in error["message"]
    assert error["max_input_tokens"] == MAX_INPUT and error["input_tokens"] > MAX_INPUT


def test_two_long_inputs_in_one_part_are_told_apart_by_tokenize(peers: Peers) -> None:
    """Both may be too long by their bytes; only the second is, by its tokens. TEI's message
    does not say which: hfgate asks ``/tokenize``."""
    fits = "x" * (MAX_INPUT * 2)  # one long word: few tokens, many bytes
    texts = ["a", fits, long_text(MAX_INPUT + 5), "b"]
    with peers.client() as client:
        answer = embed(client, texts)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == "input[2]"
    assert peers.embedder.meter.posts("/tokenize")


def test_truncate_true_cuts_instead(peers: Peers) -> None:
    texts = ["short", long_text(MAX_INPUT + 10)]
    with peers.client() as client:
        answer = embed(client, texts, truncate=True)
    assert len(vectors(answer)) == 2
    assert peers.embedder.meter.posts("/embed")[-1].body["truncate"] is True
    assert answer.json()["usage"]["prompt_tokens"] <= 2 * MAX_INPUT


def test_the_trim_policy_truncates_and_strict_refuses(peers: Peers) -> None:
    texts = [long_text(MAX_INPUT + 10)]
    with peers.client() as client:
        trimmed = client.post(
            "/v1/embeddings",
            json={"model": EMBEDDER, "input": texts},
            headers={"X-Hfgate-Context": "trim"},
        )
        refused = embed(client, texts)  # an API key: strict, as OpenAI
    assert trimmed.status_code == 200 and refused.status_code == 400
    sent = [call.body["truncate"] for call in peers.embedder.meter.posts("/embed")]
    assert sent == [True, False]


def test_token_ids_over_the_limit_are_refused_without_a_call(peers: Peers) -> None:
    with peers.client() as client:
        answer = embed(client, [[7] * 3, [7] * (MAX_INPUT + 1)])
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "input[1]"
    assert not peers.embedder.meter.posts("/embed")


# -- dimensions -----------------------------------------------------------------------------------


def test_dimensions_are_tei_s(peers: Peers) -> None:
    with peers.client() as client:
        answer = embed(client, ["shorter vectors"], dimensions=16)
    assert [len(v) for v in vectors(answer)] == [16]
    assert peers.embedder.meter.posts("/embed")[-1].body["dimensions"] == 16


def test_dimensions_on_an_old_tei_are_refused_precisely(peers: Peers) -> None:
    register(
        peers.gateway, "old-tei", peers.embedder.url, EMBEDDER, kind="embed", engine_version="1.5.0"
    )
    with peers.client() as client:
        answer = client.post(
            "/v1/embeddings", json={"model": "old-tei", "input": "x", "dimensions": 16}
        )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["param"] == "dimensions" and "TEI 1.8.0" in error["message"]


# -- the lifecycle: cold starts, usage, keys, status ----------------------------------------------


def test_a_cold_start_is_waited_out(peers: Peers) -> None:
    peers.embedder.patch(state="scaled_to_zero", cold_start=1.0)
    with peers.client() as client:
        answer = embed(client, ["wake up"])
    assert len(vectors(answer)) == 1
    assert peers.embedder.stats()["wakeups"] == 1
    with peers.client() as client:
        models = {m["id"]: m for m in client.get("/v1/models").json()["data"]}
    assert models[EMBEDDER]["status"] == "ready"


def test_usage_is_recorded(peers: Peers) -> None:
    before = peers.usage(EMBEDDER) or {"requests": 0, "prompt_tokens": 0}
    with peers.client() as client:
        tokens = embed(client, ["counted text", "and another"]).json()["usage"]["prompt_tokens"]

    def recorded() -> dict[str, Any] | None:
        row = peers.usage(EMBEDDER)
        return row if row and row["requests"] == before["requests"] + 1 else None

    row = wait_for(recorded, timeout=5)
    assert row["prompt_tokens"] == before["prompt_tokens"] + tokens
    assert row["completion_tokens"] == 0 or row["completion_tokens"] == before.get(
        "completion_tokens", 0
    )


def test_a_key_limited_to_other_models_is_refused(peers: Peers) -> None:
    key = new_key(peers.gateway, models=[peers.chat_model])["key"]
    with peers.client(key=key) as client:
        answer = embed(client, ["x"])
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "model_not_allowed"
    assert not peers.embedder.meter.posts("/embed")


def test_validation_s_facts_reach_the_catalog(peers: Peers) -> None:
    """The contract with integrations/: /info's limits become the served model's."""
    catalog = peers.gateway.services.catalog
    embedder, reranker = catalog.get(EMBEDDER), catalog.get(RERANKER)
    assert (embedder.kind, embedder.engine, embedder.max_batch) == ("embed", "tei", MAX_BATCH)
    assert embedder.context_window == MAX_INPUT
    assert (reranker.kind, reranker.max_batch) == ("rerank", MAX_BATCH)


def test_models_say_their_kind(peers: Peers) -> None:
    with peers.client() as client:
        kinds = {m["id"]: m["kind"] for m in client.get("/v1/models").json()["data"]}
    assert kinds[EMBEDDER] == "embed" and kinds[RERANKER] == "rerank"
    assert kinds[peers.chat_model] == "chat"


# -- the wrong kind of model ----------------------------------------------------------------------


def test_a_chat_model_on_embeddings_says_what_to_use(peers: Peers) -> None:
    with peers.client() as client:
        answer = client.post("/v1/embeddings", json={"model": peers.chat_model, "input": "x"})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "wrong_model_kind" and error["param"] == "model"
    assert "POST /v1/chat/completions" in error["message"]


def test_a_reranker_on_embeddings_says_what_to_use(peers: Peers) -> None:
    with peers.client() as client:
        answer = client.post("/v1/embeddings", json={"model": RERANKER, "input": "x"})
    assert answer.status_code == 400
    assert "POST /v1/rerank" in answer.json()["error"]["message"]


def test_an_embedder_on_chat_says_what_to_use(peers: Peers) -> None:
    body = {"model": EMBEDDER, "messages": [{"role": "user", "content": "hi"}]}
    with peers.client() as client:
        answer = client.post("/v1/chat/completions", json=body)
        native = client.post(f"/tgi/{EMBEDDER}/generate", json={"inputs": "hi"})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "wrong_model_kind" and "POST /v1/embeddings" in error["message"]
    assert native.status_code == 422  # TGI's shape: validation
    assert not peers.embedder.meter.calls


def test_an_unknown_model_lists_the_embedders(peers: Peers) -> None:
    with peers.client() as client:
        answer = client.post("/v1/embeddings", json={"model": "nope", "input": "x"})
    assert answer.status_code == 404
    message = answer.json()["error"]["message"]
    assert EMBEDDER in message and RERANKER not in message
