"""The pure parts, without a network: TEI's bodies and errors (upstream/tei.py), the request
parsers (embeddings/requests.py), splitting and culprit-finding (embeddings/batching.py), the
truncation decision, and the wire bodies (api/routes/embeddings.py)."""

from __future__ import annotations

import asyncio
import base64
import struct
from typing import Any

import orjson
import pytest

from hfgate.api.routes.embeddings import as_base64, rerank_body
from hfgate.embeddings import batching
from hfgate.embeddings.requests import parse_embedding_request, parse_rerank_request
from hfgate.embeddings.service import Ranking, truncates
from hfgate.errors import (
    EndpointColdStart,
    EndpointPaused,
    HfgateError,
    InvalidRequest,
    UpstreamAuthFailed,
    UpstreamBadRequest,
    UpstreamError,
    UpstreamOverloaded,
    UpstreamProtocolError,
)
from hfgate.upstream import tei
from hfgate.values.events import Usage
from hfgate.values.request import ContextPolicy
from hfgate.values.served import ServedModel

JSON = "application/json"
TOO_LONG = "Input validation error: `inputs` must have less than 512 tokens. Given: 600"


def error(status: int, body: Any, content_type: str = JSON) -> HfgateError:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return tei.DIALECT.error(status, content_type, raw)


# -- TEI's bodies and answers ----------------------------------------------------------------------


def test_embed_body_always_says_whether_to_truncate() -> None:
    call = tei.embed_call(["a", [1, 2]], False, None)
    assert call.path == "/embed"
    assert call.body == {"inputs": ["a", [1, 2]], "truncate": False, "normalize": True}
    assert tei.embed_call(["a"], True, 64).body["dimensions"] == 64


def test_rerank_body_does_not_ask_for_the_texts_back() -> None:
    body = tei.rerank_call("q", ["a", "b"], True).body
    assert body == {
        "query": "q",
        "texts": ["a", "b"],
        "truncate": True,
        "raw_scores": False,
        "return_text": False,
    }


def test_answers_are_read_with_the_token_count_header() -> None:
    embedded = tei.parse_embed([[0.5, 1], [0.25, 0.0]], {"x-compute-tokens": "7"}, 2)
    assert embedded.vectors == [[0.5, 1], [0.25, 0.0]] and embedded.tokens == 7
    ranked = tei.parse_rerank([{"index": 1, "score": 0.9}, {"index": 0, "score": 0.1}], {}, 2)
    assert ranked.scores == [(1, 0.9), (0, 0.1)] and ranked.tokens is None
    assert tei.parse_tokenize([[{"id": 1}], [{"id": 1}, {"id": 2}]], 2) == [1, 2]


@pytest.mark.parametrize(
    "body",
    [{"embeddings": []}, [[0.1]], [[0.1], "x"], [[0.1, 0.2], [0.3]]],
    ids=["object", "too-few", "not-a-list", "ragged"],
)
def test_malformed_vectors_are_refused(body: Any) -> None:
    with pytest.raises(ValueError):
        tei.parse_embed(body, {}, 2)


def test_rerank_indexes_must_be_those_sent() -> None:
    with pytest.raises(ValueError):
        tei.parse_rerank([{"index": 0, "score": 1}, {"index": 0, "score": 1}], {}, 2)


# -- TEI's errors ------------------------------------------------------------------------------------


def test_the_platform_answers_first() -> None:
    assert isinstance(error(503, b"", "text/plain"), EndpointColdStart)
    assert isinstance(error(401, b"UNAUTHORIZED", "text/plain"), UpstreamAuthFailed)
    paused = b"Bad Request: The endpoint is paused, ask a maintainer to restart it"
    assert isinstance(error(400, paused, "text/plain"), EndpointPaused)


@pytest.mark.parametrize("status", [413, 422])
def test_too_long_keeps_the_numbers(status: int) -> None:
    exc = error(status, {"error": TOO_LONG, "error_type": "validation"})
    assert isinstance(exc, tei.InputTooLong)
    assert (exc.limit, exc.given, exc.unit, exc.status) == (512, 600, "tokens", 400)
    chars = "Input validation error: `inputs` must have less than 128000 characters. Given: 130000"
    exc = error(422, {"error": chars, "error_type": "validation"})
    assert isinstance(exc, tei.InputTooLong) and exc.unit == "characters"


def test_the_openai_routes_error_shape_is_read_too() -> None:
    exc = error(422, {"message": TOO_LONG, "code": 422, "type": "validation"})
    assert isinstance(exc, tei.InputTooLong)


def test_batch_size_error_says_the_limit() -> None:
    message = "batch size 64 > maximum allowed batch size 32"
    exc = error(422, {"error": message, "error_type": "validation"})
    assert isinstance(exc, tei.BatchTooLarge) and exc.limit == 32 and exc.status == 400


@pytest.mark.parametrize(
    ("status", "body", "kind", "status_out"),
    [
        (
            429,
            {"error": "Model is overloaded", "error_type": "Overloaded"},
            UpstreamOverloaded,
            429,
        ),
        (424, {"error": "Backend error: oops", "error_type": "backend"}, UpstreamError, 502),
        (
            400,
            {"error": "Input validation error: `inputs` cannot be empty", "error_type": "empty"},
            UpstreamBadRequest,
            400,
        ),
        (
            422,
            {"error": "tokenizer error boom", "error_type": "tokenizer"},
            UpstreamBadRequest,
            400,
        ),
        (422, b"Failed to deserialize the JSON body into the target type", UpstreamBadRequest, 400),
        (404, b"", UpstreamProtocolError, 502),
    ],
    ids=["overloaded", "backend", "empty", "tokenizer", "not-json", "no-route"],
)
def test_engine_errors(status: int, body: Any, kind: type, status_out: int) -> None:
    content_type = JSON if isinstance(body, dict) else "text/plain"
    exc = error(status, body, content_type)
    assert type(exc) is kind and exc.status == status_out


def test_dimensions_errors_name_the_parameter() -> None:
    message = "Input validation error: `dimensions` should be smaller than the maximum embedding dimension."
    exc = error(422, {"error": message, "error_type": "validation"})
    assert isinstance(exc, UpstreamBadRequest) and exc.param == "dimensions"


def test_the_dialect_generates_nothing() -> None:
    with pytest.raises(UpstreamProtocolError):
        tei.DIALECT.parse_event(b"{}")


# -- request bodies --------------------------------------------------------------------------------


def test_every_input_shape_openai_takes() -> None:
    def inputs(value: Any) -> Any:
        return parse_embedding_request({"model": "m", "input": value}).inputs

    assert inputs("hi") == ["hi"]
    assert inputs(["a", "b"]) == ["a", "b"]
    assert inputs([1, 2, 3]) == [[1, 2, 3]]  # one list of ids is one input
    assert inputs([[1, 2], [3]]) == [[1, 2], [3]]
    parsed = parse_embedding_request(
        {
            "model": "m",
            "input": "x",
            "encoding_format": "base64",
            "dimensions": 8,
            "user": "u",
            "truncate": True,
            "prefix": "query: ",
        }
    )
    assert (parsed.encoding_format, parsed.dimensions, parsed.truncate) == ("base64", 8, True)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "x"}, "model"),
        ({"model": "m"}, "input"),
        ({"model": "m", "input": []}, "input"),
        ({"model": "m", "input": ["a", ""]}, "input[1]"),
        ({"model": "m", "input": ["a", 3.5]}, "input[1]"),
        ({"model": "m", "input": [[1, -2]]}, "input[0]"),
        ({"model": "m", "input": [[]]}, "input[0]"),
        ({"model": "m", "input": ["a"] * 2049}, "input"),
        ({"model": "m", "input": "a", "encoding_format": "int8"}, "encoding_format"),
        ({"model": "m", "input": "a", "dimensions": 0}, "dimensions"),
        ({"model": "m", "input": "a", "dimensions": True}, "dimensions"),
        ({"model": "m", "input": "a", "truncate": "yes"}, "truncate"),
    ],
)
def test_embedding_request_refusals_name_the_parameter(body: Any, param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_embedding_request(body)
    assert caught.value.param == param


def test_rerank_request_takes_strings_and_text_objects() -> None:
    parsed = parse_rerank_request(
        {
            "model": "r",
            "query": "q",
            "documents": ["a", {"text": "b", "id": 7}],
            "top_n": 1,
            "return_documents": False,
            "rank_fields": ["text"],
            "max_chunks_per_doc": 3,
        }
    )
    assert parsed.documents == ["a", "b"] and parsed.top_n == 1 and not parsed.return_documents
    assert parse_rerank_request({"model": "r", "query": "q", "documents": ["a"]}).return_documents


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "r", "documents": ["a"]}, "query"),
        ({"model": "r", "query": "q", "documents": []}, "documents"),
        ({"model": "r", "query": "q", "documents": ["a", {"title": "b"}]}, "documents[1]"),
        ({"model": "r", "query": "q", "documents": ["a"], "top_n": 0}, "top_n"),
        (
            {"model": "r", "query": "q", "documents": ["a"], "return_documents": 1},
            "return_documents",
        ),
    ],
)
def test_rerank_request_refusals_name_the_parameter(body: Any, param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_rerank_request(body)
    assert caught.value.param == param


# -- splitting ----------------------------------------------------------------------------------------


def test_parts_cover_everything_in_order() -> None:
    assert batching.parts(list(range(10)), 4) == [(0, [0, 1, 2, 3]), (4, [4, 5, 6, 7]), (8, [8, 9])]


async def test_in_order_runs_together_and_keeps_the_order() -> None:
    running, most = 0, 0

    def call(i: int) -> Any:
        async def run() -> int:
            nonlocal running, most
            running += 1
            most = max(most, running)
            await asyncio.sleep(0.01 * (5 - i))  # later parts finish first
            running -= 1
            return i

        return run

    assert await batching.in_order([call(i) for i in range(5)], parallel=3) == [0, 1, 2, 3, 4]
    assert most == 3


async def test_the_first_failure_cancels_the_rest() -> None:
    cancelled = []

    async def slow() -> int:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return 0

    async def fail() -> int:
        raise UpstreamOverloaded("busy")

    with pytest.raises(UpstreamOverloaded):
        await batching.in_order([slow, fail, slow])
    await asyncio.sleep(0)
    assert len(cancelled) == 2


def test_only_inputs_that_may_be_too_long_are_suspects() -> None:
    items: list[Any] = ["short", "x" * 600, "é" * 300, [1] * 10]
    assert batching.suspects(items, 512) == [1, 2]  # "é" is two bytes
    assert batching.first_over([3, 700, 900], 512) == 1


# -- decisions and wire ------------------------------------------------------------------------------


def model(**fields: Any) -> ServedModel:
    return ServedModel("m", "1", "org/m", "https://x", "t", kind="embed", engine="tei", **fields)


def test_truncation_follows_the_request_then_the_policy() -> None:
    strict_key = ContextPolicy(None, None, "strict")
    assert truncates(True, strict_key, model()) is True
    assert truncates(None, strict_key, model()) is False
    assert truncates(None, strict_key, model(auto_truncate=True)) is False  # TEI's default
    assert truncates(None, ContextPolicy("strict", None, "trim"), model()) is False
    assert truncates(None, ContextPolicy(None, None, "trim"), model()) is True  # the workspace
    assert truncates(None, ContextPolicy(None, "trim", "strict"), model()) is True
    assert truncates(None, strict_key, model(context_policy="trim")) is True


def test_base64_is_little_endian_float32() -> None:
    encoded = as_base64([0.5, -1.25, 3.0])
    assert struct.unpack("<3f", base64.b64decode(encoded)) == (0.5, -1.25, 3.0)


def test_rerank_body_is_cohere_and_jina_shaped() -> None:
    ranking = Ranking([(1, 0.9), (0, 0.4), (2, 0.1)], Usage(12, 0), True, 1)
    body = orjson.loads(rerank_body("r", ranking, 2, ["a", "b", "c"]))
    assert body["results"] == [
        {"index": 1, "relevance_score": 0.9, "document": {"text": "b"}},
        {"index": 0, "relevance_score": 0.4, "document": {"text": "a"}},
    ]
    assert body["usage"] == {"prompt_tokens": 12, "total_tokens": 12}
    assert body["meta"] == {"billed_units": {"input_tokens": 12}} and body["model"] == "r"
    assert "document" not in orjson.loads(rerank_body("r", ranking, None, None))["results"][0]
