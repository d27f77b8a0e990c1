"""Which routes the container serves, per engine and TGI version, and the small engines.

* ``tgi`` — the routes of the emulated TGI release (the version table of docs/protocols.md §2.1);
  unknown paths are axum's empty 404, wrong methods an empty 405.
* ``tei`` — text-embeddings-inference: ``/info`` in TEI's shape (``model_type``,
  ``max_input_length``, no ``router``/``max_total_tokens``), ``/embed``, ``/health``.
* ``vllm`` — see ``hfgate.sim.vllm``; FastAPI's JSON 404/405.
* ``custom`` — a custom container / the Inference Toolkit: ``GET /health`` (and ``GET /``)
  answer ``Ok``, ``POST /predict`` answers ``{"response": …}``; Starlette's text 404 elsewhere.
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from hfgate.sim import generation, openai, tgi, tokenizer, vllm
from hfgate.sim.http import (
    Rejection,
    empty,
    json_response,
    read_body,
    read_json,
    text_response,
)
from hfgate.sim.state import Runtime
from hfgate.sim.versions import Features

Handler = Callable[[Request, Runtime], Awaitable[ASGIApp]]
Routes = dict[str, dict[str, Handler]]

TEI_VERSION = "1.8.0"
EMBEDDING_DIM = 384


def tgi_routes(f: Features) -> Routes:
    routes: Routes = {
        "/": {"GET": tgi.health, "POST": tgi.compat},
        "/health": {"GET": tgi.health},
        "/ping": {"GET": tgi.health},
        "/info": {"GET": tgi.info},
        "/metrics": {"GET": tgi.metrics},
        "/generate": {"POST": tgi.generate},
        "/generate_stream": {"POST": tgi.generate_stream},
        "/invocations": {"POST": openai.invocations},
    }
    if f.chat:
        routes["/v1/chat/completions"] = {"POST": openai.chat_completions}
        routes["/tokenize"] = {"POST": tgi.tokenize}
    if f.completions:
        routes["/v1/completions"] = {"POST": openai.completions}
    if f.models:
        routes["/v1/models"] = {"GET": openai.models}
        routes["/chat_tokenize"] = {"POST": openai.chat_tokenize}
    return routes


def tei_info(runtime: Runtime) -> dict[str, Any]:
    config = runtime.config
    model_id, sha, _ = tgi.served_model(runtime)
    build = tgi.build_sha("tei-" + TEI_VERSION)
    return {
        "model_id": model_id,
        "model_sha": sha,
        "model_dtype": "float16",
        "model_type": {"embedding": {"pooling": "cls"}},
        "max_concurrent_requests": 512,
        "max_input_length": config.max_input_tokens,
        "max_batch_tokens": 16384,
        "max_batch_requests": None,
        "max_client_batch_size": 32,
        "auto_truncate": False,
        "tokenization_workers": 4,
        "version": TEI_VERSION,
        "sha": build,
        "docker_label": f"sha-{build[:7]}",
    }


async def tei_info_route(request: Request, runtime: Runtime) -> Response:
    return runtime.cached("tei_info", lambda: json_response(tei_info(runtime)))


def embedding(text: str) -> list[float]:
    """A deterministic unit vector for ``text``."""
    rng = random.Random(zlib.crc32(text.encode()))
    vector = [rng.uniform(-1.0, 1.0) for _ in range(EMBEDDING_DIM)]
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [round(v / norm, 6) for v in vector]


async def tei_embed(request: Request, runtime: Runtime) -> Response:
    body = await read_json(request, None, runtime.config.payload_limit)
    runtime.stats.last_request = body
    inputs = body.get("inputs") if isinstance(body, dict) else None
    texts = [inputs] if isinstance(inputs, str) else inputs
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        return text_response("Failed to deserialize the JSON body into the target type", 422)
    limit = runtime.config.max_input_tokens
    for text in texts:
        length = tokenizer.input_length(text, add_bos=True)
        if length > limit:
            message = (
                "Input validation error: "
                f"`inputs` must have less than {limit} tokens. Given: {length}"
            )
            return json_response({"error": message, "error_type": "validation"}, 413)
    return json_response([embedding(t) for t in texts])


def tei_routes() -> Routes:
    return {
        "/": {"GET": tgi.health},
        "/health": {"GET": tgi.health},
        "/info": {"GET": tei_info_route},
        "/embed": {"POST": tei_embed},
    }


def vllm_routes() -> Routes:
    return {
        "/health": {"GET": vllm.health},
        "/ping": {"GET": vllm.health},
        "/version": {"GET": vllm.version},
        "/v1/models": {"GET": vllm.models},
        "/v1/chat/completions": {"POST": vllm.chat_completions},
        "/v1/completions": {"POST": vllm.completions},
        "/tokenize": {"POST": vllm.tokenize},
    }


async def custom_ok(request: Request, runtime: Runtime) -> Response:
    return text_response("Ok", 200)


async def custom_predict(request: Request, runtime: Runtime) -> Response:
    try:
        body = orjson.loads(await read_body(request, runtime.config.payload_limit))
    except orjson.JSONDecodeError as exc:
        return json_response({"error": str(exc)}, 400)
    runtime.stats.last_request = body
    prompt = body.get("inputs", body.get("prompt")) if isinstance(body, dict) else None
    if not isinstance(prompt, str):
        return json_response({"error": "Body needs to provide a inputs key"}, 400)
    length = tokenizer.input_length(prompt, add_bos=True)
    plan = generation.plan(
        prompt,
        input_length=length,
        max_new_tokens=runtime.config.reply_tokens,
        natural=runtime.config.reply_tokens,
    )
    return json_response({"response": plan.text})


def custom_routes() -> Routes:
    return {
        "/": {"GET": custom_ok},
        "/health": {"GET": custom_ok},
        "/predict": {"POST": custom_predict},
    }


def routes_for(runtime: Runtime) -> Routes:
    engine = runtime.config.engine
    if engine == "tei":
        return tei_routes()
    if engine == "vllm":
        return vllm_routes()
    if engine == "custom":
        return custom_routes()
    return tgi_routes(runtime.features)


def _miss(engine: str, status: int) -> Response:
    text = "Not Found" if status == 404 else "Method Not Allowed"
    if engine == "vllm":
        return json_response({"detail": text}, status)
    if engine == "custom":
        return text_response(text, status)
    return empty(status)


class EngineRouter:
    """The container behind the proxy: dispatches on (path, method) for the current engine."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        runtime = self.runtime
        table: Routes = runtime.cached("routes", lambda: routes_for(runtime))
        methods = table.get(scope["path"])
        handler = methods.get(scope["method"]) if methods else None
        if handler is None:
            response: ASGIApp = _miss(runtime.config.engine, 405 if methods else 404)
        else:
            try:
                response = await handler(Request(scope, receive), runtime)
            except Rejection as rejection:
                response = rejection.response
        await response(scope, receive, send)
