"""Text-embeddings-inference (TEI): its request bodies and what its answers mean (pure; no I/O).

Protocol facts (docs/protocols.md §3.3, read from TEI's ``router/src/http/{server,types}.rs``
and ``core/src/tokenization.rs``):

* ``POST /embed`` takes ``{inputs, truncate, normalize, dimensions}``; an input is a string or
  a list of token ids. It answers a bare list of vectors; the tokens it processed are only in
  the ``x-compute-tokens`` header (every TEI since 0.1). ``dimensions`` exists since 1.8.0:
  older versions ignore the field and answer full-size vectors.
* ``POST /rerank`` takes ``{query, texts, truncate, raw_scores, return_text}`` and answers a
  bare list ``[{index, score, text?}]``, highest score first; tokens in ``x-compute-tokens``.
* ``POST /tokenize`` takes ``{inputs: str | [str], add_special_tokens}`` and answers one list
  of tokens per input.
* Errors are ``{"error", "error_type"}`` (the type as serde names the variant, ``Validation``):
  ``validation`` and ``tokenizer`` 422 (413 before 1.9.0), ``empty`` 400,
  ``overloaded`` 429, ``backend`` 424, ``unhealthy`` 503. A batch larger than
  ``max_client_batch_size`` is a 422 ``batch size {n} > maximum allowed batch size {m}``; an
  input over ``max_input_length`` a 422 ``Input validation error: `inputs` must have less than
  {m} tokens. Given: {n}`` (exactly ``m`` passes), or ``… {m} characters …`` for inputs over
  250 characters per token. In a batch, the message is the *first* failing input's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hfgate.errors import (
    ContextLengthExceeded,
    HfgateError,
    UpstreamBadRequest,
    UpstreamError,
    UpstreamOverloaded,
    UpstreamProtocolError,
)
from hfgate.upstream.base import Call, Completion, Delta
from hfgate.upstream.platform import json_object, platform_error
from hfgate.values.request import ChatRequest, CompletionRequest

EMBED, RERANK, TOKENIZE = "/embed", "/rerank", "/tokenize"
DIMENSIONS_SINCE = (1, 8, 0)
DEFAULT_MAX_BATCH = 32  # TEI's default --max-client-batch-size

Input = str | list[int]  # a text, or the token ids of one


# -- request bodies --------------------------------------------------------------------------


def embed_call(inputs: Sequence[Input], truncate: bool, dimensions: int | None) -> Call:
    """``truncate`` is always sent: left out, TEI would apply its ``--auto-truncate`` default,
    and hfgate's own policy (the caller's, the key's, the model's) decides instead."""
    body: dict[str, Any] = {"inputs": list(inputs), "truncate": truncate, "normalize": True}
    if dimensions is not None:
        body["dimensions"] = dimensions
    return Call(EMBED, body, False)


def rerank_call(query: str, texts: Sequence[str], truncate: bool) -> Call:
    # The texts stay with hfgate: asking TEI to send them back would only cost bytes.
    body = {
        "query": query,
        "texts": list(texts),
        "truncate": truncate,
        "raw_scores": False,
        "return_text": False,
    }
    return Call(RERANK, body, False)


def tokenize_call(texts: Sequence[str]) -> Call:
    return Call(TOKENIZE, {"inputs": list(texts), "add_special_tokens": True}, False)


# -- answers ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Embedded:
    vectors: list[list[float]]
    tokens: int | None  # None: the endpoint (or a proxy) did not say


@dataclass(frozen=True, slots=True)
class Ranked:
    scores: list[tuple[int, float]]  # (index in the texts sent, score)
    tokens: int | None


def compute_tokens(headers: Mapping[str, str]) -> int | None:
    value = headers.get("x-compute-tokens")
    return int(value) if value is not None and value.strip().isdigit() else None


def parse_embed(body: Any, headers: Mapping[str, str], count: int) -> Embedded:
    """A vector per input, in order, all of one size; anything else is the endpoint's fault.
    The numbers themselves are not checked one by one (a batch holds hundreds of thousands):
    the JSON parser made them numbers or strings, and the base64 encoder refuses strings."""
    if not isinstance(body, list) or len(body) != count:
        raise ValueError("not one vector per input")
    size = len(body[0]) if body and isinstance(body[0], list) else -1
    if not all(isinstance(vector, list) and len(vector) == size for vector in body):
        raise ValueError("vectors that are not lists of one size")
    return Embedded(body, compute_tokens(headers))


def parse_rerank(body: Any, headers: Mapping[str, str], count: int) -> Ranked:
    if not isinstance(body, list) or len(body) != count:
        raise ValueError("not one score per text")
    scores = [(int(rank["index"]), float(rank["score"])) for rank in body]
    if sorted(index for index, _ in scores) != list(range(count)):
        raise ValueError("the indexes are not those of the texts sent")
    return Ranked(scores, compute_tokens(headers))


def parse_tokenize(body: Any, count: int) -> list[int]:
    """The number of tokens of each input, special tokens included."""
    if not isinstance(body, list) or len(body) != count:
        raise ValueError("not one token list per input")
    return [len(tokens) for tokens in body]


# -- errors ----------------------------------------------------------------------------------


class InputTooLong(ContextLengthExceeded):
    """One input of a call is over the model's limit; the message is the engine's numbers
    until the service knows which input it was."""

    def __init__(self, limit: int, given: int, unit: str) -> None:
        super().__init__(
            f"an input has {given:,} {unit}; the model takes at most {limit:,}", param="input"
        )
        self.limit, self.given, self.unit = limit, given, unit


class BatchTooLarge(UpstreamBadRequest):
    """The endpoint takes fewer inputs per call than hfgate was told (it was reconfigured)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"the endpoint takes at most {limit} inputs per call, and hfgate sent {size}:"
            " an admin can revalidate the integration"
        )
        self.limit = limit


_TOO_LONG = re.compile(r"must have less than (\d+) (tokens|characters)\. Given: (\d+)")
_BATCH = re.compile(r"batch size (\d+) > maximum allowed batch size (\d+)")


def engine_error(status: int, message: str, error_type: str | None = None) -> HfgateError:
    """TEI's own errors (after the platform's); the message is TEI's text."""
    # serde writes ErrorType's variant names ("Overloaded"); TEI's OpenAPI examples lowercase
    if (error_type or "").lower() == "overloaded" or status == 429:
        return UpstreamOverloaded(
            "the endpoint is at its concurrency limit (TEI: Model is overloaded): retry shortly",
            retry_after=1,
        )
    if too_long := _TOO_LONG.search(message):
        limit, unit, given = too_long.groups()
        return InputTooLong(int(limit), int(given), unit)
    if batch := _BATCH.search(message):
        return BatchTooLarge(int(batch.group(1)), int(batch.group(2)))
    if "`dimensions`" in message:
        return UpstreamBadRequest(f"the endpoint refused dimensions: {message}", param="dimensions")
    if status in (400, 413, 415, 422):
        return UpstreamBadRequest(f"the endpoint refused the request: {message}")
    if status == 404:
        return UpstreamProtocolError(
            "the endpoint has no such route (HTTP 404): it may run another engine now;"
            " an admin can revalidate the integration"
        )
    return UpstreamError(f"the endpoint failed (HTTP {status}): {message or 'no details'}")


def error_from_reply(status: int, content_type: str, body: bytes) -> HfgateError:
    text = body[:2000].decode("utf-8", "replace")
    platform = platform_error(status, text)
    if platform is not None:
        return platform
    payload = json_object(content_type, body)
    if payload is not None:
        # /embed and /rerank: {"error", "error_type"}; /v1/embeddings: {"message", "type"}
        message = payload.get("error", payload.get("message"))
        if isinstance(message, str):
            return engine_error(status, message, payload.get("error_type", payload.get("type")))
    return engine_error(status, text.strip()[:300])


# -- the dialect -----------------------------------------------------------------------------


class TeiDialect:
    """What ``EndpointClient`` needs to call a TEI endpoint: its error translation. TEI has no
    chat or completion route; the embeddings service never asks for one."""

    name = "tei"
    renders_prompt = False
    echoes = False

    def chat_call(self, request: ChatRequest, max_tokens: int | None, prompt: str | None) -> Call:
        raise _no_generation()

    def completion_call(self, request: CompletionRequest, max_tokens: int | None) -> Call:
        raise _no_generation()

    def parse_chat(self, body: Any, headers: Mapping[str, str] | None = None) -> Completion:
        raise _no_generation()

    def parse_completion(self, body: Any, headers: Mapping[str, str] | None = None) -> Completion:
        raise _no_generation()

    def parse_event(self, data: bytes) -> Delta | None:
        raise _no_generation()

    def parse_completion_event(self, data: bytes) -> Delta | None:
        raise _no_generation()

    def error(self, status: int, content_type: str, body: bytes) -> HfgateError:
        return error_from_reply(status, content_type, body)


def _no_generation() -> UpstreamProtocolError:
    return UpstreamProtocolError("a text-embeddings-inference endpoint does not generate text")


DIALECT = TeiDialect()
