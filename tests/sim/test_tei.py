"""The simulator's TEI face (``engine="tei"``), route by route, against TEI's router source
(``text-embeddings-inference`` v1.9.3: ``router/src/http/server.rs``, ``types.rs``,
``router/src/lib.rs``, ``core/src/tokenization.rs``), and through the clients people use:
``huggingface_hub.InferenceClient`` and the ``openai`` SDK."""

from __future__ import annotations

import base64
import math
import struct
import time
from typing import Any

import httpx
import openai
import pytest
from huggingface_hub import InferenceClient

from hfgate.sim import semantic, tokenizer
from tests.sim.support import TOKEN, Sim

LIMITS = {"engine": "tei", "max_client_batch_size": 4, "max_input_tokens": 16}
CATS = "cats purr"
NEAR, FAR = "my cat purrs softly", "stock market crash"


def tei(sim: Sim, **changes: Any) -> httpx.Client:
    sim.patch(**(LIMITS | changes))
    return sim.client()


def norm(vector: list[float]) -> float:
    return math.sqrt(sum(v * v for v in vector))


def dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def words(n: int) -> str:
    return " ".join(f"w{i}" for i in range(n))  # n tokens, n + 1 with BOS


# -- /info, /health, /metrics -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "model_type"),
    [
        ("embed", {"embedding": {"pooling": "cls"}}),
        ("rerank", {"reranker": {"id2label": {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0}}}),
        (
            "classify",
            {
                "classifier": {
                    "id2label": {"0": "NEGATIVE", "1": "POSITIVE"},
                    "label2id": {"NEGATIVE": 0, "POSITIVE": 1},
                }
            },
        ),
    ],
)
def test_info_says_what_the_model_is(sim: Sim, kind: str, model_type: dict[str, Any]) -> None:
    with tei(sim, tei_kind=kind) as client:
        info = client.get("/info").json()
    assert info["model_type"] == model_type
    assert (info["max_input_length"], info["max_client_batch_size"]) == (16, 4)
    assert info["version"] == "1.9.3" and info["auto_truncate"] is True  # on since 1.9.0
    assert info["served_model_name"] == info["model_id"] == "meta-llama/Llama-2-7b-chat-hf"
    assert not {"router", "max_total_tokens", "model_pipeline_tag"} & set(info)


def test_info_of_older_releases(sim: Sim) -> None:
    with tei(sim, tei_version="1.8.0") as client:
        info = client.get("/info").json()
    assert "served_model_name" not in info and info["auto_truncate"] is False
    assert list(info)[:4] == ["model_id", "model_sha", "model_dtype", "model_type"]


def test_health_root_ping_and_metrics(sim: Sim) -> None:
    with tei(sim) as client:
        answers = [client.get(path) for path in ("/health", "/", "/ping")]
        client.post("/embed", json={"inputs": ["a", "b", "c", "d", "e"]})
        metrics = client.get("/metrics").text
        missing = client.get("/generate")
    assert [(a.status_code, a.content) for a in answers] == [(200, b"")] * 3
    assert "te_request_count 1" in metrics and 'te_request_failure{err="batch_size"} 1' in metrics
    assert (missing.status_code, missing.content) == (404, b"")  # axum's empty 404


# -- /embed ----------------------------------------------------------------------------------


def test_embed_vectors_are_unit_deterministic_and_meaningful(sim: Sim) -> None:
    with tei(sim) as client:
        answer = client.post("/embed", json={"inputs": [CATS, NEAR, FAR]})
        again = client.post("/embed", json={"inputs": CATS})
    cats, near, far = answer.json()
    assert answer.status_code == 200 and len(cats) == 384
    assert all(abs(norm(v) - 1) < 1e-9 for v in (cats, near, far))
    assert dot(cats, near) > 0.7 > 0.2 > dot(cats, far)  # similar texts are near
    assert again.json() == [cats]  # a single input is answered as a batch of one
    tokens = sum(tokenizer.input_length(t, add_bos=True) for t in (CATS, NEAR, FAR))
    assert answer.headers["x-compute-tokens"] == str(tokens)
    assert answer.headers["x-compute-characters"] == str(len(CATS + NEAR + FAR))
    assert {"x-compute-time", "x-total-time", "x-inference-time", "x-queue-time"} <= set(
        answer.headers
    )


def test_embed_without_normalize_is_the_pooled_vector(sim: Sim) -> None:
    with tei(sim) as client:
        raw = client.post("/embed", json={"inputs": NEAR, "normalize": False}).json()[0]
    assert raw == semantic.pooled(NEAR) and norm(raw) > 1


@pytest.mark.parametrize(
    ("version", "status"), [("1.9.3", 422), ("1.8.0", 413)]
)  # "Fix HTTP error code for validation (#818)", in 1.9.0
def test_a_batch_over_the_limit(sim: Sim, version: str, status: int) -> None:
    with tei(sim, tei_version=version) as client:
        answer = client.post("/embed", json={"inputs": ["a"] * 5})
    assert answer.status_code == status
    assert answer.json() == {
        "error": "batch size 5 > maximum allowed batch size 4",
        "error_type": "Validation",  # serde's variant name: ErrorType has no rename_all
    }


def test_empty_inputs(sim: Sim) -> None:
    with tei(sim) as client:
        empty_list = client.post("/embed", json={"inputs": []})  # Single(Ids([])): one empty input
        empty_text = client.post("/embed", json={"inputs": ["fine", ""]})
    expected = {"error": "Input validation error: `inputs` cannot be empty", "error_type": "Empty"}
    assert (empty_list.status_code, empty_list.json()) == (400, expected)
    assert (empty_text.status_code, empty_text.json()) == (400, expected)


def test_input_length_in_tokens(sim: Sim) -> None:
    with tei(sim) as client:
        at_limit = client.post("/embed", json={"inputs": words(15), "truncate": False})
        over = client.post("/embed", json={"inputs": [words(3), words(16)], "truncate": False})
        cut = client.post("/embed", json={"inputs": words(40), "truncate": True})
        left = client.post(
            "/embed", json={"inputs": words(40), "truncate": True, "truncation_direction": "Left"}
        )
        auto = client.post("/embed", json={"inputs": words(40)})  # --auto-truncate (default on)
    assert at_limit.status_code == 200 and at_limit.headers["x-compute-tokens"] == "16"
    assert over.status_code == 422
    assert over.json()["error"] == (
        "Input validation error: `inputs` must have less than 16 tokens. Given: 17"
    )
    assert cut.headers["x-compute-tokens"] == "16" == auto.headers["x-compute-tokens"]
    assert cut.json() == auto.json() != left.json()  # left keeps the end of the text
    assert cut.json()[0] == semantic.unit(semantic.pooled(words(15)))


def test_input_length_in_characters(sim: Sim) -> None:
    long = "x" * (16 * 250 + 1)  # max_input_length × 250 characters (MAX_CHAR_MULTIPLIER)
    with tei(sim) as client:
        refused = client.post("/embed", json={"inputs": long, "truncate": False})
        cut = client.post("/embed", json={"inputs": long, "truncate": True})
    assert refused.status_code == 422
    assert refused.json()["error"] == (
        "Input validation error: `inputs` must have less than 4000 characters. Given: 4001"
    )
    assert cut.status_code == 200


def test_dimensions(sim: Sim) -> None:
    with tei(sim) as client:
        short = client.post("/embed", json={"inputs": [CATS, NEAR, FAR], "dimensions": 16})
        zero = client.post("/embed", json={"inputs": CATS, "dimensions": 0})
        big = client.post("/embed", json={"inputs": CATS, "dimensions": 385})
    cats, near, far = short.json()
    assert len(cats) == 16 and abs(norm(cats) - 1) < 1e-9  # cut, then normalised
    assert dot(cats, near) > dot(cats, far)  # still meaningful when cut (Matryoshka)
    assert zero.json()["error"] == "Input validation error: `dimensions` should be positive"
    assert big.json()["error"] == (
        "Input validation error: `dimensions` should be smaller than the maximum embedding"
        " dimension."
    )
    sim.patch(tei_version="1.7.0")  # before 1.8.0 the field does not exist: serde drops it
    with sim.client() as client:
        full = client.post("/embed", json={"inputs": CATS, "dimensions": 16}).json()
    assert len(full[0]) == 384


def test_prompt_name(sim: Sim) -> None:
    with tei(sim) as client:
        none = client.post("/embed", json={"inputs": CATS, "prompt_name": "query"})
    assert none.json()["error"] == (
        "Input validation error: `default-prompt-name` is set to `query` but no prompts were"
        " found in the Sentence Transformers configuration"
    )
    with tei(sim, tei_prompts={"query": "query: ", "passage": "passage: "}) as client:
        query = client.post("/embed", json={"inputs": CATS, "prompt_name": "query"})
        plain = client.post("/embed", json={"inputs": CATS})
        unknown = client.post("/embed", json={"inputs": CATS, "prompt_name": "doc"})
    prompted = tokenizer.input_length("query: " + CATS, add_bos=True)  # the prompt goes first
    assert query.headers["x-compute-tokens"] == str(prompted) != plain.headers["x-compute-tokens"]
    assert query.json() == [semantic.unit(semantic.pooled("query: " + CATS))]
    assert unknown.json()["error"].endswith(
        'not found in the Sentence Transformers prompts. Available prompts: ["query", "passage"]'
    )


def test_token_ids_are_inputs_too(sim: Sim) -> None:
    with tei(sim) as client:
        tokens = client.post("/tokenize", json={"inputs": NEAR, "add_special_tokens": False})
        ids = [token["id"] for token in tokens.json()[0]]
        by_ids = client.post("/embed", json={"inputs": [ids]})
        by_text = client.post("/embed", json={"inputs": [NEAR]})
    assert by_ids.json() == by_text.json()
    assert by_ids.headers["x-compute-tokens"] == str(len(ids))  # ids: no special token added


def test_bodies_that_do_not_deserialize(sim: Sim) -> None:
    with tei(sim) as client:
        wrong = client.post("/embed", json={"inputs": [{"text": "a"}]})
        missing = client.post("/embed", json={"input": "a"})
        not_json = client.post("/embed", content=b"a", headers={"content-type": "text/plain"})
    assert wrong.status_code == 422 and wrong.headers["content-type"].startswith("text/plain")
    assert wrong.text == (
        "Failed to deserialize the JSON body into the target type: inputs: data did not match"
        " any variant of untagged enum Input"
    )
    assert missing.text.endswith("missing field `inputs`")
    assert not_json.status_code == 415


def test_overloaded(sim: Sim) -> None:
    with tei(sim, overloaded=True) as client:
        answer = client.post("/embed", json={"inputs": "a"})
    assert (answer.status_code, answer.json()) == (
        429,
        {"error": "Model is overloaded", "error_type": "Overloaded"},
    )


def test_embed_all_gives_every_token(sim: Sim) -> None:
    with tei(sim) as client:
        answer = client.post("/embed_all", json={"inputs": [CATS, NEAR]})
    cats, near = answer.json()
    assert len(cats) == tokenizer.input_length(CATS, add_bos=True) and len(cats[0]) == 384
    assert len(near) == tokenizer.input_length(NEAR, add_bos=True)


def test_wrong_kind_of_model_is_a_424(sim: Sim) -> None:
    with tei(sim, tei_kind="classify") as client:
        embed = client.post("/embed", json={"inputs": "a"})
        rerank = client.post("/rerank", json={"query": "q", "texts": ["a"]})
        sparse = client.post("/embed_sparse", json={"inputs": "a"})
    assert (embed.status_code, embed.json()) == (
        424,
        {"error": "Backend error: Model is not an embedding model", "error_type": "Backend"},
    )
    assert rerank.json()["error"] == "Backend error: model is not a re-ranker model"
    assert (
        sparse.json()["error"]
        == "Backend error: Model is not an embedding model with SPLADE pooling"
    )
    with tei(sim, tei_kind="embed") as client:
        predict = client.post("/predict", json={"inputs": "a"})
    assert predict.json()["error"] == "Backend error: Model is not a classifier model"


# -- /v1/embeddings --------------------------------------------------------------------------


def test_openai_route_float_and_base64(sim: Sim) -> None:
    with tei(sim) as client:
        floats = client.post("/v1/embeddings", json={"input": [CATS, NEAR], "model": "x"}).json()
        b64 = client.post(
            "/v1/embeddings", json={"input": [CATS, NEAR], "encoding_format": "base64"}
        ).json()
        direct = client.post("/embed", json={"inputs": [CATS, NEAR]}).json()
    assert [d["index"] for d in floats["data"]] == [0, 1]
    assert [d["embedding"] for d in floats["data"]] == direct
    decoded = base64.b64decode(b64["data"][0]["embedding"])
    assert struct.unpack("<384f", decoded) == pytest.approx(direct[0], abs=1e-6)
    tokens = sum(tokenizer.input_length(t, add_bos=True) for t in (CATS, NEAR))
    assert floats["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}
    assert floats["object"] == "list" and floats["model"] == "meta-llama/Llama-2-7b-chat-hf"


def test_openai_route_truncates_only_with_auto_truncate(sim: Sim) -> None:
    with tei(sim, auto_truncate=False) as client:
        refused = client.post("/v1/embeddings", json={"input": words(20)})
        batch = client.post("/v1/embeddings", json={"input": ["a"] * 5})
    assert refused.status_code == 422
    assert refused.json() == {  # OpenAICompatErrorResponse
        "message": "Input validation error: `inputs` must have less than 16 tokens. Given: 21",
        "code": 422,
        "type": "Validation",
    }
    assert batch.json()["message"] == "batch size 5 > maximum allowed batch size 4"
    sim.patch(auto_truncate=True)
    with sim.client() as client:
        cut = client.post("/v1/embeddings", json={"input": words(20)}).json()
    assert cut["usage"]["prompt_tokens"] == 16


def test_openai_sdk_embeddings(sim: Sim) -> None:
    tei(sim).close()
    client = openai.OpenAI(base_url=sim.url + "/v1", api_key=TOKEN, max_retries=0)
    floats = client.embeddings.create(model="tei", input=[CATS, NEAR, FAR], encoding_format="float")
    assert sim.stats()["last_request"]["encoding_format"] == "float"
    default = client.embeddings.create(model="tei", input=[CATS, NEAR, FAR])  # base64 on the wire
    assert sim.stats()["last_request"]["encoding_format"] == "base64"
    cats, near, far = (d.embedding for d in floats.data)
    assert dot(cats, near) > dot(cats, far)
    for decoded, floated in zip(default.data, (cats, near, far), strict=True):
        assert decoded.embedding == pytest.approx(floated, abs=1e-6)
    assert floats.usage.prompt_tokens == default.usage.total_tokens > 0
    with pytest.raises(openai.UnprocessableEntityError):
        client.embeddings.create(model="tei", input=[CATS] * 5)


# -- /similarity and the root route -----------------------------------------------------------


def test_similarity(sim: Sim) -> None:
    body = {"inputs": {"source_sentence": CATS, "sentences": [FAR, NEAR]}}
    with tei(sim) as client:
        scores = client.post("/similarity", json=body).json()
        empty = client.post(
            "/similarity", json={"inputs": {"source_sentence": CATS, "sentences": []}}
        )
        over = client.post(
            "/similarity", json={"inputs": {"source_sentence": CATS, "sentences": ["a"] * 4}}
        )
    assert scores[1] > 0.7 and scores[1] > scores[0]
    assert (empty.status_code, empty.json()["error"]) == (400, "`inputs.sentences` cannot be empty")
    assert over.json()["error"] == "batch size 5 > maximum allowed batch size 4"  # +1: the source


def test_root_route_follows_the_model(sim: Sim) -> None:
    with tei(sim) as client:
        embedded = client.post("/", json={"inputs": CATS}).json()
    sim.patch(pipeline_tag="sentence-similarity")  # TEI's TASK variable
    with sim.client() as client:
        similar = client.post("/", json={"inputs": {"source_sentence": CATS, "sentences": [NEAR]}})
    sim.patch(tei_kind="rerank")
    with sim.client() as client:
        ranked = client.post("/invocations", json={"query": CATS, "texts": [FAR, NEAR]}).json()
    assert len(embedded) == 1 and len(embedded[0]) == 384
    assert similar.json()[0] > 0.7
    assert [r["index"] for r in ranked] == [1, 0]


class _Numpy:
    """Stands in for numpy when it is not installed (feature_extraction only wraps the JSON it
    received in ``np.array``): the HTTP exchange is what is under test."""

    @staticmethod
    def array(value: Any, dtype: str) -> Any:
        return _Array(value)


class _Array(list[Any]):
    @property
    def shape(self) -> tuple[int, int]:
        return (len(self), len(self[0]))


def test_inference_client_feature_extraction_and_similarity(
    sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        import numpy  # noqa: F401
    except ImportError:
        monkeypatch.setattr("huggingface_hub.inference._client._import_numpy", lambda: _Numpy)
    tei(sim).close()
    client = InferenceClient(model=sim.url, token=TOKEN)
    vector = client.feature_extraction(CATS)  # POST / {"inputs": …}
    assert sim.stats()["requests"] == {"POST /": 1} and vector.shape == (1, 384)
    with sim.client() as http:
        direct = http.post("/embed", json={"inputs": CATS}).json()[0]
    assert list(vector[0]) == pytest.approx(direct, abs=1e-6)
    on_similarity = InferenceClient(model=sim.url + "/similarity", token=TOKEN)
    scores = on_similarity.sentence_similarity(CATS, [FAR, NEAR])  # {"inputs": {…}, "parameters"}
    assert scores[1] > scores[0]
    sim.patch(pipeline_tag="sentence-similarity")  # then the endpoint's own URL works as well
    assert client.sentence_similarity(CATS, [FAR, NEAR]) == pytest.approx(scores)


# -- /rerank and /predict --------------------------------------------------------------------


def test_rerank_sorts_by_score(sim: Sim) -> None:
    texts = [FAR, NEAR, "the weather is nice"]
    with tei(sim, tei_kind="rerank") as client:
        answer = client.post("/rerank", json={"query": "Do cats purr?", "texts": texts})
        with_text = client.post(
            "/rerank", json={"query": "Do cats purr?", "texts": texts, "return_text": True}
        ).json()
        raw = client.post(
            "/rerank", json={"query": "Do cats purr?", "texts": texts, "raw_scores": True}
        ).json()
    ranks = answer.json()
    assert ranks[0]["index"] == 1 and list(ranks[0]) == ["index", "score"]
    assert [r["score"] for r in ranks] == sorted((r["score"] for r in ranks), reverse=True)
    assert all(0 < r["score"] < 1 for r in ranks)  # sigmoid
    assert [r["text"] for r in with_text] == [texts[r["index"]] for r in with_text]
    assert list(with_text[0]) == ["index", "text", "score"]
    assert raw[-1]["score"] < 0 < raw[0]["score"]  # logits
    pairs = sum(1 + tokenizer.count("Do cats purr?") + tokenizer.count(t) for t in texts)
    assert answer.headers["x-compute-tokens"] == str(pairs)


def test_rerank_refusals(sim: Sim) -> None:
    with tei(sim, tei_kind="rerank") as client:
        empty = client.post("/rerank", json={"query": "q", "texts": []})
        over = client.post("/rerank", json={"query": "q", "texts": ["a"] * 5})
        long = client.post(
            "/rerank", json={"query": words(10), "texts": [words(10)], "truncate": False}
        )
    assert (empty.status_code, empty.json()) == (
        400,
        {"error": "`texts` cannot be empty", "error_type": "Empty"},
    )
    assert over.json()["error"] == "batch size 5 > maximum allowed batch size 4"
    assert long.json()["error"].endswith("must have less than 16 tokens. Given: 21")


def test_predict_classifier(sim: Sim) -> None:
    with tei(sim, tei_kind="classify") as client:
        one = client.post("/predict", json={"inputs": "I love it, great work"}).json()
        batch = client.post(
            "/predict", json={"inputs": [["terrible and awful"], ["a", "b"]]}
        ).json()
        raw = client.post("/predict", json={"inputs": "good", "raw_scores": True}).json()
        three = client.post("/predict", json={"inputs": ["a", "b", "c"]})
    assert [p["label"] for p in one] == ["POSITIVE", "NEGATIVE"]
    assert sum(p["score"] for p in one) == pytest.approx(1) and one[0]["score"] > 0.9
    assert batch[0][0]["label"] == "NEGATIVE" and len(batch) == 2
    assert raw == [{"score": 1.0, "label": "POSITIVE"}, {"score": -1.0, "label": "NEGATIVE"}]
    assert three.status_code == 422 and "invalid length" in three.text


def test_predict_on_a_reranker_scores_pairs(sim: Sim) -> None:
    with tei(sim, tei_kind="rerank") as client:
        near = client.post("/predict", json={"inputs": ["Do cats purr?", NEAR]}).json()
        far = client.post("/predict", json={"inputs": ["Do cats purr?", FAR]}).json()
    assert near[0]["label"] == "LABEL_0" and near[0]["score"] > far[0]["score"]


# -- /tokenize and /decode -------------------------------------------------------------------


def test_tokenize(sim: Sim) -> None:
    with tei(sim) as client:
        one = client.post("/tokenize", json={"inputs": "hello world"}).json()
        bare = client.post(
            "/tokenize", json={"inputs": ["hello world", "hi"], "add_special_tokens": False}
        ).json()
        empty = client.post("/tokenize", json={"inputs": []})
        over = client.post("/tokenize", json={"inputs": ["a"] * 5})
    assert one == [
        [
            {"id": 1, "text": "<s>", "special": True, "start": None, "stop": None},
            {
                "id": tokenizer.token_id("hello"),
                "text": "hello",
                "special": False,
                "start": 0,
                "stop": 5,
            },
            {
                "id": tokenizer.token_id(" world"),
                "text": " world",
                "special": False,
                "start": 5,
                "stop": 11,
            },
        ]
    ]
    assert [len(tokens) for tokens in bare] == [2, 1]
    assert (empty.status_code, empty.json()["error"]) == (400, "`inputs` cannot be empty")
    assert over.json()["error"] == "batch size 5 > maximum allowed batch size 4"


def test_decode(sim: Sim) -> None:
    with tei(sim) as client:
        ids = [t["id"] for t in client.post("/tokenize", json={"inputs": NEAR}).json()[0]]
        text = client.post("/decode", json={"ids": ids}).json()
        kept = client.post("/decode", json={"ids": [ids], "skip_special_tokens": False}).json()
        empty = client.post("/decode", json={"ids": []})
    assert text == [NEAR] and kept == ["<s>" + NEAR]
    assert empty.json()["error"] == "Input validation error: `input_ids` cannot be empty"


# -- the proxy in front ------------------------------------------------------------------------


def test_cold_start_and_scale_up_header(sim: Sim) -> None:
    with tei(sim, state="scaled_to_zero", cold_start=0.3) as client:
        cold = client.post("/embed", json={"inputs": CATS})
        started = time.monotonic()
        held = client.post("/embed", json={"inputs": CATS}, headers={"X-Scale-Up-Timeout": "5"})
    assert cold.status_code == 503 and cold.headers["content-type"].startswith("text/html")
    assert held.status_code == 200 and time.monotonic() - started < 3
    assert sim.stats()["wakeups"] == 1
