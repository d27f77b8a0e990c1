"""``POST /v1/rerank`` (Cohere's and Jina's shape) translated to TEI's ``/rerank``: results sorted
by relevance, ``top_n``, ``return_documents``, documents as objects, splitting, over-long
documents, usage."""

from __future__ import annotations

from typing import Any

import httpx

from tests.embeddings.support import MAX_INPUT, RERANKER, Peers

QUERY = "which animals live in the andes"
DOCS = [
    "the giant panda lives in china",
    "the llama lives in the andes",
    "camels live in deserts",
    "guanacos are animals of the andes",
    "tea grows on hills",
    "the vicuna lives high in the andes",
]


def rerank(client: httpx.Client, **body: Any) -> httpx.Response:
    return client.post("/v1/rerank", json={"model": RERANKER, "query": QUERY} | body)


def direct_scores(peers: Peers, docs: list[str]) -> dict[int, float]:
    answer = peers.reranker.direct("/rerank", {"query": QUERY, "texts": docs})
    assert answer.status_code == 200, answer.text
    return {rank["index"]: rank["score"] for rank in answer.json()}


def test_results_are_sorted_and_carry_the_documents(peers: Peers) -> None:
    docs = DOCS[:4]
    with peers.client() as client:
        answer = rerank(client, documents=docs)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    sent = peers.reranker.meter.posts("/rerank")[-1].body
    expected = direct_scores(peers, docs)
    order = sorted(expected, key=lambda i: (-expected[i], i))
    assert [r["index"] for r in body["results"]] == order
    assert [r["relevance_score"] for r in body["results"]] == [expected[i] for i in order]
    assert [r["document"]["text"] for r in body["results"]] == [docs[i] for i in order]
    assert body["model"] == RERANKER and body["id"]
    assert body["usage"]["prompt_tokens"] == body["meta"]["billed_units"]["input_tokens"] > 0
    assert sent == {
        "query": QUERY,
        "texts": docs,
        "truncate": False,
        "raw_scores": False,
        "return_text": False,
    }


def test_top_n_and_return_documents(peers: Peers) -> None:
    with peers.client() as client:
        answer = rerank(client, documents=DOCS[:4], top_n=2, return_documents=False)
    results = answer.json()["results"]
    assert len(results) == 2 and all(set(r) == {"index", "relevance_score"} for r in results)


def test_documents_as_text_objects(peers: Peers) -> None:
    documents = [{"text": d, "id": i} for i, d in enumerate(DOCS[:3])]
    with peers.client() as client:
        answer = rerank(client, documents=documents)
    assert answer.status_code == 200, answer.text
    assert {r["document"]["text"] for r in answer.json()["results"]} == set(DOCS[:3])


def test_many_documents_are_split_and_ranked_together(peers: Peers) -> None:
    """6 documents, 4 per call: two calls, one ranking across both."""
    with peers.client() as client:
        answer = rerank(client, documents=DOCS)
    calls = peers.reranker.meter.posts("/rerank")
    assert [call.body["texts"] for call in calls] == [DOCS[:4], DOCS[4:]]
    expected = {
        **direct_scores(peers, DOCS[:4]),
        **{4 + i: s for i, s in direct_scores(peers, DOCS[4:]).items()},
    }
    order = sorted(expected, key=lambda i: (-expected[i], i))
    assert [r["index"] for r in answer.json()["results"]] == order
    assert answer.headers["x-hfgate-upstream-calls"] == "2"


def test_a_document_over_the_limit_is_named(peers: Peers) -> None:
    long_doc = " ".join(f"word{i}" for i in range(MAX_INPUT + 10))
    with peers.client() as client:
        refused = rerank(client, documents=["short", long_doc])
        truncated = rerank(client, documents=["short", long_doc], truncate=True)
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["param"] == "documents[1]" and "the query with documents[1]" in error["message"]
    assert truncated.status_code == 200, truncated.text


def test_an_embedder_on_rerank_says_what_to_use(peers: Peers) -> None:
    from tests.embeddings.support import EMBEDDER

    with peers.client() as client:
        answer = client.post(
            "/v1/rerank", json={"model": EMBEDDER, "query": "q", "documents": ["d"]}
        )
    assert answer.status_code == 400
    assert "POST /v1/embeddings" in answer.json()["error"]["message"]
