"""Embeddings and reranking: ``POST /v1/embeddings`` (OpenAI's shape) and ``POST /v1/rerank``
(Cohere's and Jina's shape, which Open WebUI and LibreChat send).

Both are served by the fast lane (``api/fastlane.py``), like chat: they take only the request.
Response headers say how the tokens were counted (``X-Hfgate-Token-Count: exact|estimate``)
and how many upstream calls the request took (``X-Hfgate-Upstream-Calls``).
"""

from __future__ import annotations

import base64
import sys
import uuid
from array import array
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from hfgate.api.bodies import OBJECT_BODY, json_body
from hfgate.api.deps import generation_caller, services
from hfgate.api.disconnect import cancel_on_disconnect
from hfgate.api.routes.openai import context_policy
from hfgate.chat.lifecycle import Caller
from hfgate.embeddings.requests import parse_embedding_request, parse_rerank_request
from hfgate.embeddings.service import Embeddings, Ranking, truncates
from hfgate.errors import UpstreamProtocolError

router = APIRouter(tags=["embeddings"])
LITTLE_ENDIAN = sys.byteorder == "little"


@router.post("/v1/embeddings", openapi_extra=OBJECT_BODY)
async def embeddings(request: Request) -> Response:
    principal = await generation_caller(request)
    parsed = parse_embedding_request(await json_body(request))
    principal.require_model(parsed.model)
    service = services(request).embeddings
    model = await service.resolve(parsed.model, "embed")
    truncate = truncates(parsed.truncate, context_policy(request, principal), model)
    work = service.embed(model, parsed, Caller(principal, "embeddings"), truncate)
    result = await cancel_on_disconnect(request, work)
    body = embeddings_body(model.name, result, parsed.encoding_format)
    return Response(body, media_type="application/json", headers=_headers(result))


@router.post("/v1/rerank", openapi_extra=OBJECT_BODY)
async def rerank(request: Request) -> Response:
    principal = await generation_caller(request)
    parsed = parse_rerank_request(await json_body(request))
    principal.require_model(parsed.model)
    service = services(request).embeddings
    model = await service.resolve(parsed.model, "rerank")
    truncate = truncates(parsed.truncate, context_policy(request, principal), model)
    work = service.rerank(model, parsed, Caller(principal, "rerank"), truncate)
    result = await cancel_on_disconnect(request, work)
    documents = parsed.documents if parsed.return_documents else None
    body = rerank_body(model.name, result, parsed.top_n, documents)
    return Response(body, media_type="application/json", headers=_headers(result))


def _headers(result: Embeddings | Ranking) -> dict[str, str]:
    return {
        "X-Hfgate-Token-Count": "exact" if result.exact else "estimate",
        "X-Hfgate-Upstream-Calls": str(result.calls),
    }


def as_base64(vector: list[float]) -> str:
    """OpenAI's base64: the float32 values, little-endian, one after another."""
    packed = array("f", vector)
    if not LITTLE_ENDIAN:
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")


def embeddings_body(model: str, result: Embeddings, encoding: str) -> bytes:
    vectors: list[Any] = result.vectors
    if encoding == "base64":
        try:
            vectors = [as_base64(vector) for vector in result.vectors]
        except (TypeError, OverflowError):
            raise UpstreamProtocolError(f"{model} sent vectors that are not numbers") from None
    tokens = result.usage.prompt_tokens
    return orjson.dumps(
        {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": vector}
                for i, vector in enumerate(vectors)
            ],
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


def rerank_body(
    model: str, result: Ranking, top_n: int | None, documents: list[str] | None
) -> bytes:
    """Cohere's fields (``id``, ``results``, ``meta.billed_units``) and Jina's (``model``,
    ``usage``): clients of either read what they know."""
    results = []
    for index, score in result.scores[:top_n]:
        entry: dict[str, Any] = {"index": index, "relevance_score": score}
        if documents is not None:
            entry["document"] = {"text": documents[index]}
        results.append(entry)
    tokens = result.usage.prompt_tokens
    return orjson.dumps(
        {
            "id": str(uuid.uuid4()),
            "model": model,
            "results": results,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            "meta": {"billed_units": {"input_tokens": tokens}},
        }
    )
