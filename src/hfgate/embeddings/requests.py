"""Embeddings and rerank request bodies, checked once at the edge (pure).

``POST /v1/embeddings`` takes OpenAI's shape; ``POST /v1/rerank`` the shape Cohere and Jina
share (and Open WebUI and LibreChat send). Each refusal names its parameter the way OpenAI's
API does (``input[3]``). Fields other tools add — Open WebUI's configurable prefix field,
Cohere's ``max_chunks_per_doc`` or ``rank_fields`` — are accepted and not used, as ``user`` is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hfgate.upstream.tei import Input
from hfgate.values.request import as_object, bad, boolean_field, model_field

MAX_INPUTS = 2048  # OpenAI's limit per request; also bounds the documents of one rerank
MAX_TOKEN_ID = 2**32 - 1  # TEI reads token ids as u32
ENCODINGS = ("float", "base64")


@dataclass(frozen=True, slots=True)
class EmbeddingRequest:
    model: str
    inputs: list[Input]
    encoding_format: str = "float"
    dimensions: int | None = None
    truncate: bool | None = None  # hfgate's extension; None: the context policy decides


@dataclass(frozen=True, slots=True)
class RerankRequest:
    model: str
    query: str
    documents: list[str]
    top_n: int | None = None
    return_documents: bool = True  # as Jina's API; Cohere's v2 defaults to false
    truncate: bool | None = None


def _positive(body: Mapping[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise bad(f"{name} must be a positive integer; got {str(value)[:40]}", name)
    return value


def _token_ids(value: list[Any], param: str) -> list[int]:
    if not value:
        raise bad(f"{param} is an empty list of token ids", param)
    for token in value:
        if isinstance(token, bool) or not isinstance(token, int) or not 0 <= token <= MAX_TOKEN_ID:
            raise bad(f"{param} must hold token ids (integers from 0); got {token!r:.40}", param)
    return value


def _one_input(value: Any, param: str) -> Input:
    if isinstance(value, str):
        if not value:
            raise bad(f"{param} is an empty string: remove it (OpenAI's API refuses it too)", param)
        return value
    if isinstance(value, list):
        return _token_ids(value, param)
    raise bad(f"{param} must be a string or a list of token ids", param)


def _inputs(value: Any) -> list[Input]:
    """A string, a list of strings, one list of token ids, or a list of token-id lists."""
    if isinstance(value, str):
        return [_one_input(value, "input")]
    if not isinstance(value, list) or not value:
        raise bad("input must be a string or a non-empty list of strings or token ids", "input")
    if len(value) > MAX_INPUTS:
        raise bad(f"input holds {len(value)} items; at most {MAX_INPUTS} per request", "input")
    if all(isinstance(item, int) and not isinstance(item, bool) for item in value):
        return [_token_ids(value, "input")]  # OpenAI: one list of integers is one input
    return [_one_input(item, f"input[{i}]") for i, item in enumerate(value)]


def parse_embedding_request(body: Any) -> EmbeddingRequest:
    body = as_object(body)
    encoding = body.get("encoding_format")
    if encoding is not None and encoding not in ENCODINGS:
        raise bad(
            f"encoding_format must be float or base64; got {str(encoding)[:40]!r}",
            "encoding_format",
        )
    if "input" not in body:
        raise bad("input is required: a string or a list of strings", "input")
    return EmbeddingRequest(
        model=model_field(body),
        inputs=_inputs(body["input"]),
        encoding_format=encoding or "float",
        dimensions=_positive(body, "dimensions"),
        truncate=boolean_field(body, "truncate"),
    )


def _document(value: Any, i: int) -> str:
    text = value.get("text") if isinstance(value, Mapping) else value
    if not isinstance(text, str):
        raise bad(
            f"documents[{i}] must be a string or an object with a string text", f"documents[{i}]"
        )
    return text


def parse_rerank_request(body: Any) -> RerankRequest:
    body = as_object(body)
    query = body.get("query")
    if not isinstance(query, str) or not query:
        raise bad("query is required: a non-empty string", "query")
    documents = body.get("documents")
    if not isinstance(documents, list) or not documents:
        raise bad("documents must be a non-empty list of strings or {text} objects", "documents")
    if len(documents) > MAX_INPUTS:
        message = f"documents holds {len(documents)} items; at most {MAX_INPUTS} per request"
        raise bad(message, "documents")
    return_documents = boolean_field(body, "return_documents")
    return RerankRequest(
        model=model_field(body),
        query=query,
        documents=[_document(d, i) for i, d in enumerate(documents)],
        top_n=_positive(body, "top_n"),
        return_documents=True if return_documents is None else return_documents,
        truncate=boolean_field(body, "truncate"),
    )
