"""The clients people point at hfgate, unchanged: the OpenAI SDK, LangChain's OpenAIEmbeddings,
and the exact requests Open WebUI's RAG sends for embeddings and for its external reranker
(``backend/open_webui/retrieval/utils.py``, ``retrieval/models/external.py``). Every vector and
score is compared with what the simulated TEI answers when called directly."""

from __future__ import annotations

import base64
import struct
from typing import Any

import pytest

from tests.embeddings.support import EMBEDDER, RERANKER, Peers
from tests.support.peers import ADMIN_KEY

TEXTS = ["the gateway embeds", "cold starts are waited out", "reranking orders documents"]


def direct_vectors(peers: Peers, texts: list[str]) -> list[list[float]]:
    answer = peers.embedder.direct("/embed", {"inputs": texts})
    assert answer.status_code == 200, answer.text
    return answer.json()


def float32(values: list[float]) -> list[float]:
    """What a float32 wire format (base64) makes of ``values``."""
    return list(struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values)))


def close(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= 1e-6 for x, y in zip(a, b, strict=True))


def test_openai_sdk_float_and_base64(peers: Peers) -> None:
    client = peers.openai()
    as_floats = client.embeddings.create(model=EMBEDDER, input=TEXTS, encoding_format="float")
    # The SDK asks for base64 when no format is given, and decodes it itself.
    as_base64 = client.embeddings.create(model=EMBEDDER, input=TEXTS)
    expected = direct_vectors(peers, TEXTS)

    assert [d.embedding for d in as_floats.data] == expected
    assert [d.index for d in as_floats.data] == [0, 1, 2]
    assert [d.embedding for d in as_base64.data] == [float32(v) for v in expected]
    assert as_floats.model == EMBEDDER and as_floats.object == "list"
    assert as_floats.usage.prompt_tokens == as_floats.usage.total_tokens > 0
    assert as_base64.usage.prompt_tokens == as_floats.usage.prompt_tokens


def test_base64_on_the_wire_is_little_endian_float32(peers: Peers) -> None:
    with peers.client() as client:
        body = {"model": EMBEDDER, "input": "one text", "encoding_format": "base64"}
        answer = client.post("/v1/embeddings", json=body).json()
    raw = base64.b64decode(answer["data"][0]["embedding"])
    decoded = list(struct.unpack(f"<{len(raw) // 4}f", raw))
    assert decoded == float32(direct_vectors(peers, ["one text"])[0])


def test_openai_sdk_single_string_and_token_ids(peers: Peers) -> None:
    client = peers.openai()
    one = client.embeddings.create(model=EMBEDDER, input="hello", encoding_format="float")
    assert one.data[0].embedding == direct_vectors(peers, ["hello"])[0]
    ids = client.embeddings.create(model=EMBEDDER, input=[[5, 6, 7], [8]], encoding_format="float")
    assert len(ids.data) == 2
    assert peers.embedder.meter.posts("/embed")[-1].body["inputs"] == [[5, 6, 7], [8]]


def test_langchain_openai_embeddings(peers: Peers) -> None:
    from langchain_openai import OpenAIEmbeddings

    embeddings = OpenAIEmbeddings(
        model=EMBEDDER,
        base_url=peers.gateway.url + "/v1",
        api_key=ADMIN_KEY,  # type: ignore[arg-type]
        check_embedding_ctx_length=False,
        max_retries=0,
    )
    documents = embeddings.embed_documents(TEXTS)
    query = embeddings.embed_query("which text is about cold starts?")

    expected = direct_vectors(peers, [*TEXTS, "which text is about cold starts?"])
    assert all(close(got, want) for got, want in zip(documents, expected[:3], strict=True))
    assert close(query, expected[3])


@pytest.mark.parametrize("extra", [{}, {"prefix": "query: "}], ids=["plain", "prefix-field"])
def test_open_webui_embeddings_request(peers: Peers, extra: dict[str, Any]) -> None:
    """``generate_openai_batch_embeddings``: ``POST {url}/embeddings`` with ``{input, model}``
    (and, when configured, a prefix under a field name of the admin's choice)."""
    json_data = {"input": TEXTS, "model": EMBEDDER} | extra
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {ADMIN_KEY}"}
    with peers.client() as client:
        r = client.post(f"{peers.gateway.url}/v1/embeddings", headers=headers, json=json_data)
    r.raise_for_status()
    data = r.json()
    assert [elem["embedding"] for elem in data["data"]] == direct_vectors(peers, TEXTS)


def test_open_webui_external_reranker_request(peers: Peers) -> None:
    """``ExternalReranker.predict``: ``{model, query, documents, top_n: len(docs)}``, then the
    ``relevance_score`` of each result, sorted by ``index``."""
    query = "how are documents ordered?"
    docs = ["cold starts are waited out", "reranking orders documents", "the gateway embeds"]
    payload = {"model": RERANKER, "query": query, "documents": docs, "top_n": len(docs)}
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {ADMIN_KEY}"}
    with peers.client() as client:
        r = client.post(f"{peers.gateway.url}/v1/rerank", headers=headers, json=payload)
    r.raise_for_status()
    data = r.json()
    sorted_results = sorted(data["results"], key=lambda x: x["index"])
    scores = [result["relevance_score"] for result in sorted_results]

    direct = peers.reranker.direct("/rerank", {"query": query, "texts": docs}).json()
    assert scores == [rank["score"] for rank in sorted(direct, key=lambda x: x["index"])]
    assert [r["relevance_score"] for r in data["results"]] == sorted(scores, reverse=True)
    assert data["results"][0]["index"] == 1  # the document that shares the query's words
