"""Which routes the container serves, per engine and TGI version, and the small engines.

* ``tgi`` — the routes of the emulated TGI release (the version table of docs/protocols.md §2.1);
  unknown paths are axum's empty 404, wrong methods an empty 405.
* ``tei`` — text-embeddings-inference, see ``hfgate.sim.tei``; axum's empty 404/405.
* ``vllm`` — see ``hfgate.sim.vllm``; FastAPI's JSON 404/405.
* ``llamacpp`` — llama.cpp's server, see ``hfgate.sim.llamacpp``; its JSON 404 for any miss
  (503 ``Loading model`` while it loads).
* ``sglang`` — see ``hfgate.sim.sglang``; FastAPI's JSON 404/405.
* ``custom`` — a custom container / the Inference Toolkit: ``GET /health`` (and ``GET /``)
  answer ``Ok``, ``POST /predict`` answers ``{"response": …}``; Starlette's text 404 elsewhere.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from hfgate.sim import generation, llamacpp, openai, sglang, tei, tgi, tokenizer, vllm
from hfgate.sim.http import (
    Rejection,
    empty,
    json_response,
    read_body,
    text_response,
)
from hfgate.sim.state import Runtime
from hfgate.sim.versions import Features

Handler = Callable[[Request, Runtime], Awaitable[ASGIApp]]
Routes = dict[str, dict[str, Handler]]


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
        return tei.routes()
    if engine == "llamacpp":
        return llamacpp.routes()
    if engine == "sglang":
        return sglang.routes(runtime)
    if engine == "vllm":
        return vllm_routes()
    if engine == "custom":
        return custom_routes()
    return tgi_routes(runtime.features)


def _miss(runtime: Runtime, status: int) -> Response:
    engine = runtime.config.engine
    text = "Not Found" if status == 404 else "Method Not Allowed"
    if engine in ("vllm", "sglang"):
        return json_response({"detail": text}, status)
    if engine == "llamacpp":  # cpp-httplib: no handler is a 404, after the loading check
        return (
            llamacpp.LlamaError("Loading model", 503).response()
            if llamacpp.loading(runtime)
            else llamacpp.not_found()
        )
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
            response: ASGIApp = _miss(runtime, 405 if methods else 404)
        else:
            try:
                response = await handler(Request(scope, receive), runtime)
            except Rejection as rejection:
                response = rejection.response
        await response(scope, receive, send)
