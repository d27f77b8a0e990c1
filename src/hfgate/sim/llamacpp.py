"""llama.cpp's server (``engine="llamacpp"``): what Inference Endpoints run for GGUF models.

Read from ``ggml-org/llama.cpp`` (``tools/server/``, 2026 sources): ``server.cpp`` (the route
table), ``server-http.cpp`` (the loading middleware, the JSON 404), ``server-context.cpp``
(``server_routes::init_routes``: ``/health``, ``/props``, ``/v1/models``, ``/tokenize``,
``/detokenize``, ``/apply-template``; the context check in ``update_slots``),
``server-task.cpp`` (``to_json_*``: bodies, chunks, ``timings``, the error with
``n_prompt_tokens``/``n_ctx``), ``server-common.cpp`` (``format_error_response``,
``oaicompat_*_params_parse``) and ``README.md``.

* Errors are ``{"error": {"code", "message", "type"}}``: ``invalid_request_error`` 400 (a
  ``std::invalid_argument``), ``server_error`` 500 (any other exception: a body that is not
  JSON, ``echo``, images without an mmproj, a missing ``prompt``), ``not_found_error`` 404
  (any unknown path or method), ``exceed_context_size_error`` 400 when the prompt has
  ``n_ctx`` tokens or more: "request (N tokens) exceeds the available context size (M
  tokens), try increasing it", with ``n_prompt_tokens`` and ``n_ctx``.
* ``loading`` seconds after the replica starts, every route but ``/models`` and
  ``/v1/models`` (whose ``meta`` is then null) answers 503 ``Loading model``.
* ``n_ctx`` (one slot's context) is ``max_total_tokens``. The reply stops at the budget
  (``max_tokens``, or none) or when the context is full (context shift is off by default):
  ``finish_reason: "length"``, ``truncated: true``. Chat and ``/completion`` prompts are
  tokenized with special tokens (BOS added); ``/tokenize`` adds them only with
  ``add_special``. Stop strings are left out of the text. ``model`` in a request is ignored.
* Streams: ``data: {json}`` chunks; the chat stream opens with a ``{"role": "assistant",
  "content": null}`` delta, ends with an empty delta carrying ``finish_reason``, the usage
  chunk when asked, ``timings`` on the last one, then ``data: [DONE]``; ``/completion``
  (not OpenAI) sends no ``[DONE]``. A failure mid-stream is ``data: {"error": {…}}``, then the
  stream ends.

Not modelled: tool-call parsing, grammars and ``json_schema``, ``n_probs``/``logprobs``,
several prompts per request, ``/slots``, ``/embedding``, ``/rerank``, ``/infill``, the
Anthropic and Responses routes, router mode.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from hfgate.sim import pieces, textgen, tokenizer
from hfgate.sim.http import json_response, read_body
from hfgate.sim.sse import EventStream, Framing
from hfgate.sim.state import Runtime
from hfgate.sim.textgen import Reply, StreamShape
from hfgate.sim.validation import TGIError

Handler = Callable[[Request, Runtime], Awaitable[ASGIApp]]

BUILD = "b6660-9d1c5e8"  # build_info: "b{build number}-{commit}"; the system_fingerprint
TOTAL_SLOTS = 4  # --parallel auto
FRAMING = Framing(space=True)
_TYPES = {
    400: "invalid_request_error",
    404: "not_found_error",
    500: "server_error",
    501: "not_supported_error",
    503: "unavailable_error",
}


class LlamaError(Exception):
    """``format_error_response``: the HTTP status is the error's ``code``."""

    def __init__(self, message: str, code: int = 400, kind: str | None = None, **extra: int):
        super().__init__(message)
        self.body = {"code": code, "message": message, "type": kind or _TYPES[code], **extra}
        self.code = code

    def response(self) -> Response:
        return json_response({"error": self.body}, self.code)


def not_found() -> Response:
    # server-http.cpp set_error_handler: its own key order
    body = {"error": {"message": "File Not Found", "type": "not_found_error", "code": 404}}
    return json_response(body, 404)


def loading(runtime: Runtime) -> bool:
    """Within ``loading`` seconds of the replica starting (``server_http_context::is_ready``)."""
    lifecycle = runtime.lifecycle
    return lifecycle.clock() - lifecycle.running_since < runtime.config.loading


def guarded(handler: Handler, while_loading: Handler | None = None) -> Handler:
    """``middleware_server_state``: nothing is served while the model loads."""

    async def serve(request: Request, runtime: Runtime) -> ASGIApp:
        if not loading(runtime):
            return await handler(request, runtime)
        if while_loading is not None:
            return await while_loading(request, runtime)
        return LlamaError("Loading model", 503).response()

    return serve


async def _body(request: Request, runtime: Runtime) -> dict[str, Any]:
    raw = await read_body(request, runtime.config.payload_limit)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:  # nlohmann's parse_error, let through to ex_wrapper
        where = f"line {exc.lineno}, column {exc.colno}"
        message = f"[json.exception.parse_error.101] parse error at {where}: syntax error"
        raise LlamaError(f"{message} while parsing value - invalid literal", 500) from None
    if not isinstance(body, dict):
        raise LlamaError("[json.exception.type_error.306] cannot use value() with array", 500)
    runtime.stats.last_request = body
    return body


# -- what the server says about itself ---------------------------------------------------------


def _model_path(runtime: Runtime) -> str:
    return f"/repository/{runtime.config.model_id.rsplit('/', 1)[-1]}-Q4_K_M.gguf"


def _meta(runtime: Runtime) -> dict[str, Any]:
    n_ctx = runtime.config.max_total_tokens
    return {
        "vocab_type": 1,
        "n_vocab": tokenizer.VOCAB_SIZE,
        "n_ctx": n_ctx,
        "n_ctx_train": max(n_ctx, 4096),
        "n_embd": 4096,
        "n_params": 6_738_415_616,
        "size": 4_081_004_224,
        "ftype": "Q4_K - Medium",
    }


async def models(request: Request, runtime: Runtime) -> Response:
    """``GET /v1/models`` (and ``/models``): one model, ``meta`` null while it loads."""
    name = runtime.config.model_id
    entry = {
        "id": name,
        "aliases": [name],
        "tags": [],
        "object": "model",
        "created": int(time.time()),
        "owned_by": "llamacpp",
        "meta": None if loading(runtime) else _meta(runtime),
    }
    ollama = {"name": name, "model": name, "modified_at": "", "size": "", "digest": "",
              "type": "model", "description": "", "tags": [""], "capabilities": ["completion"],
              "parameters": "", "details": {"parent_model": "", "format": "gguf", "family": "",
              "families": [""], "parameter_size": "", "quantization_level": ""}}  # fmt: skip
    return json_response({"models": [ollama], "object": "list", "data": [entry]})


def _params(runtime: Runtime, stop: list[str] | None = None, n_predict: int = -1) -> dict[str, Any]:
    # task_params::to_json, the fields a client reads
    return {
        "n_predict": n_predict, "seed": 4294967295, "temperature": 0.800000011920929,
        "top_k": 40, "top_p": 0.949999988079071, "min_p": 0.05000000074505806,
        "repeat_penalty": 1.0, "stop": stop or [], "max_tokens": n_predict, "n_keep": 0,
        "ignore_eos": False, "stream": True, "n_probs": 0,
        "samplers": ["penalties", "dry", "top_k", "typ_p", "top_p", "min_p", "xtc", "temperature"],
    }  # fmt: skip


async def props(request: Request, runtime: Runtime) -> Response:
    """``GET /props`` (``get_res_props``): the slot's ``n_ctx``, the GGUF's chat template."""
    config = runtime.config
    return json_response(
        {
            "default_generation_settings": {
                "params": _params(runtime),
                "n_ctx": config.max_total_tokens,
            },
            "total_slots": TOTAL_SLOTS,
            "model_alias": config.model_id,
            "model_ftype": "Q4_K - Medium",
            "model_path": _model_path(runtime),
            "modalities": {"vision": config.vision, "video": False, "audio": False},
            "endpoint_slots": True,
            "endpoint_props": False,
            "endpoint_metrics": False,
            "chat_template": config.chat_template or "",
            "bos_token": config.bos_token,
            "eos_token": config.eos_token,
            "build_info": BUILD,
            "is_sleeping": False,
        }
    )


async def health(request: Request, runtime: Runtime) -> Response:
    return json_response({"status": "ok"})


async def metrics(request: Request, runtime: Runtime) -> Response:
    message = "This server does not support metrics endpoint. Start it with `--metrics`"
    return LlamaError(message, 501).response()


# -- tokens and templates --------------------------------------------------------------------


async def tokenize(request: Request, runtime: Runtime) -> Response:
    """``POST /tokenize`` ``{content, add_special (false), with_pieces}`` → ``{"tokens"}``."""
    try:
        body = await _body(request, runtime)
    except LlamaError as exc:
        return exc.response()
    content = body.get("content")
    if content is None:
        return json_response({"tokens": []})
    text = content if isinstance(content, str) else pieces.decode(list(content), False)
    ids = pieces.ids(text, bool(body.get("add_special", False)))
    if body.get("with_pieces"):
        shown = [{"id": token, "piece": pieces.decode([token], False)} for token in ids]
        return json_response({"tokens": shown})
    return json_response({"tokens": ids})


async def detokenize(request: Request, runtime: Runtime) -> Response:
    """``POST /detokenize`` ``{tokens}`` → ``{"content"}`` (special tokens kept)."""
    try:
        body = await _body(request, runtime)
    except LlamaError as exc:
        return exc.response()
    return json_response({"content": pieces.decode(list(body.get("tokens") or []), False)})


def _check_messages(runtime: Runtime, messages: Any) -> None:
    """``oaicompat_chat_params_parse``'s checks, its messages."""
    if not isinstance(messages, list):
        raise LlamaError("Expected 'messages' to be an array")
    for message in messages:
        role = message.get("role") if isinstance(message, dict) else None
        if not isinstance(message, dict) or (role != "assistant" and "content" not in message):
            raise LlamaError("All non-assistant messages must contain 'content'")
        if not runtime.config.vision and _has_image(message.get("content")):
            hint = "hint: if this is unexpected, you may need to provide the mmproj"
            raise LlamaError(f"image input is not supported - {hint}", 500)


def _has_image(content: Any) -> bool:
    return isinstance(content, list) and any(
        isinstance(part, dict) and part.get("type") == "image_url" for part in content
    )


def chat_prompt(runtime: Runtime, body: dict[str, Any]) -> str:
    if "messages" not in body:
        raise LlamaError("'messages' is required")
    _check_messages(runtime, body["messages"])
    try:
        return textgen.render(runtime, body["messages"], body.get("tools"))
    except TGIError as exc:  # a template that fails throws out of common_chat_templates_apply
        raise LlamaError(exc.message, 500) from None


async def apply_template(request: Request, runtime: Runtime) -> Response:
    """``POST /apply-template`` ``{messages}`` → ``{"prompt"}``: the text a chat runs on."""
    try:
        return json_response({"prompt": chat_prompt(runtime, await _body(request, runtime))})
    except LlamaError as exc:
        return exc.response()


# -- generation ------------------------------------------------------------------------------


class Task:
    """One completion: its prompt, the reply planned for it, and how it ended."""

    def __init__(
        self, runtime: Runtime, prompt: str, tokens: int, n_predict: int, body: Any, chat: bool
    ) -> None:
        n_ctx = runtime.config.max_total_tokens
        if tokens >= n_ctx:
            message = (
                f"request ({tokens} tokens) exceeds the available context size ({n_ctx}"
                " tokens), try increasing it"
            )
            raise LlamaError(
                message, 400, "exceed_context_size_error", n_prompt_tokens=tokens, n_ctx=n_ctx
            )
        room = n_ctx - 1 - tokens  # generation stops once the context is full
        budget = room if n_predict < 0 else min(n_predict, room)
        self.reply: Reply = textgen.reply(runtime, prompt, tokens, budget, body, first_bare=chat)
        self.prompt, self.tokens = prompt, tokens
        self.truncated = self.reply.length and budget == room
        self.id = "chatcmpl-" + uuid.uuid4().hex
        self.stop = textgen.stops(body)
        self.n_predict = n_predict

    @property
    def finish_reason(self) -> str:
        return "length" if self.reply.length else "stop"

    @property
    def generated(self) -> int:
        return self.reply.plan.generated_tokens

    def usage(self) -> dict[str, int]:
        n = self.generated
        return {
            "completion_tokens": n,
            "prompt_tokens": self.tokens,
            "total_tokens": n + self.tokens,
        }

    def timings(self) -> dict[str, float | int]:
        """``result_timings::to_json``: nominal speeds (2 ms a prompt token, 20 ms a token)."""
        prompt_ms, predicted_ms = self.tokens * 2.0, self.generated * 20.0
        return {
            "cache_n": 0,
            "prompt_n": self.tokens,
            "prompt_ms": prompt_ms,
            "prompt_per_token_ms": 2.0,
            "prompt_per_second": 500.0,
            "predicted_n": self.generated,
            "predicted_ms": predicted_ms,
            "predicted_per_token_ms": 20.0,
            "predicted_per_second": 50.0,
        }


def _n_predict(body: dict[str, Any], *keys: str) -> int:
    for key in keys:
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return -1


def _failure() -> list[bytes]:
    error = LlamaError("decode() failed: simulated failure (stream_error_after)", 500)
    return [FRAMING.event({"error": error.body})]


async def _finish(runtime: Runtime, task: Task, answer: Callable[[], dict[str, Any]]) -> Response:
    if not await textgen.run(runtime, task.reply.plan):
        return LlamaError("decode() failed: simulated failure (stream_error_after)", 500).response()
    return json_response(answer())


# -- POST /v1/chat/completions -----------------------------------------------------------------


def _chat_head(runtime: Runtime, task: Task, kind: str) -> dict[str, Any]:
    return {
        "created": int(time.time()),
        "model": runtime.config.model_id,  # the server's model name, not the request's
        "system_fingerprint": BUILD,
        "object": kind,
        "id": task.id,
    }


def _chat_body(runtime: Runtime, task: Task) -> dict[str, Any]:
    message = {"role": "assistant", "content": task.reply.text}
    choice = {"finish_reason": task.finish_reason, "index": 0, "message": message}
    head = _chat_head(runtime, task, "chat.completion")
    return {"choices": [choice], **head, "usage": task.usage(), "timings": task.timings()}


def _chunk(
    runtime: Runtime, task: Task, delta: dict[str, Any], reason: str | None = None
) -> dict[str, Any]:
    choice = {"finish_reason": reason, "index": 0, "delta": delta}
    return {"choices": [choice], **_chat_head(runtime, task, "chat.completion.chunk")}


def _chat_shape(runtime: Runtime, task: Task, body: dict[str, Any]) -> StreamShape:
    def step(i: int) -> list[bytes]:
        chunks = [_chunk(runtime, task, {"role": "assistant", "content": None})] if i == 0 else []
        if task.reply.texts[i]:
            chunks.append(_chunk(runtime, task, {"content": task.reply.texts[i]}))
        return [FRAMING.event(c) for c in chunks]

    def tail() -> list[bytes]:
        chunks = [_chunk(runtime, task, {}, task.finish_reason)]
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {**_chat_head(runtime, task, "chat.completion.chunk"), "usage": task.usage()}
            chunks.append({"choices": [], **usage})
        chunks[-1]["timings"] = task.timings()
        return [*(FRAMING.event(c) for c in chunks), FRAMING.done()]

    return StreamShape(step, tail, _failure)


async def chat_completions(request: Request, runtime: Runtime) -> Response | EventStream:
    try:
        body = await _body(request, runtime)
        prompt = chat_prompt(runtime, body)
        tokens = tokenizer.input_length(prompt, add_bos=True)
        n_predict = _n_predict(body, "n_predict", "max_completion_tokens", "max_tokens")
        task = Task(runtime, prompt, tokens, n_predict, body, chat=True)
    except LlamaError as exc:  # in a stream too: the first result is an error (PR #16486)
        return exc.response()
    if body.get("stream"):
        return textgen.stream(runtime, task.reply.plan, _chat_shape(runtime, task, body), [])
    return await _finish(runtime, task, lambda: _chat_body(runtime, task))


# -- POST /v1/completions and /completion ------------------------------------------------------


def _prompt_of(body: dict[str, Any]) -> tuple[str, int]:
    """A prompt string (BOS added) or token ids; several prompts are not simulated."""
    prompt = body["prompt"]
    if isinstance(prompt, str):  # BOS added: the prompt as the server reports it has it
        return tokenizer.BOS + prompt, tokenizer.input_length(prompt, add_bos=True)
    if isinstance(prompt, list) and all(isinstance(t, int) for t in prompt):
        return pieces.decode(prompt, False), len(prompt)
    raise LlamaError("(sim) one prompt per request: a string or a list of token ids")


def _oai_prompt(body: dict[str, Any]) -> tuple[str, int]:
    """``oaicompat_completion_params_parse``: its ``runtime_error``s reach ex_wrapper (500)."""
    if "prompt" not in body:
        raise LlamaError('"prompt" is required', 500)
    if body.get("echo"):
        raise LlamaError("Only no echo is supported", 500)
    for param in ("best_of", "suffix"):
        if param in body:
            raise LlamaError(f"Unsupported param: {param}", 500)
    return _prompt_of(body)


def _text_chunk(runtime: Runtime, task: Task, text: str, final: bool) -> dict[str, Any]:
    choice = {
        "text": text,
        "index": 0,
        "logprobs": None,
        "finish_reason": task.finish_reason if final else None,
    }
    head = _chat_head(runtime, task, "text_completion")
    chunk = {"choices": [choice], **head}
    return chunk | {"usage": task.usage(), "timings": task.timings()} if final else chunk


async def completions(request: Request, runtime: Runtime) -> Response | EventStream:
    """``POST /v1/completions``: OpenAI's shape, with ``timings``."""
    try:
        body = await _body(request, runtime)
        prompt, tokens = _oai_prompt(body)
        n_predict = _n_predict(body, "n_predict", "max_tokens")
        task = Task(runtime, prompt, tokens, n_predict, body, chat=False)
    except LlamaError as exc:
        return exc.response()
    task.id = "cmpl-" + task.id.removeprefix("chatcmpl-")
    if body.get("stream"):
        step = lambda i: [FRAMING.event(_text_chunk(runtime, task, task.reply.texts[i], False))]  # noqa: E731
        tail = lambda: [FRAMING.event(_text_chunk(runtime, task, "", True)), FRAMING.done()]  # noqa: E731
        return textgen.stream(runtime, task.reply.plan, StreamShape(step, tail, _failure), [])
    return await _finish(runtime, task, lambda: _text_chunk(runtime, task, task.reply.text, True))


def _stop_type(task: Task) -> str:
    reason = task.reply.plan.finish_reason
    return {"eos_token": "eos", "stop_sequence": "word"}.get(reason, "limit")


def _native(runtime: Runtime, task: Task, stream: bool) -> dict[str, Any]:
    """``to_json_non_oaicompat`` (``/completion``): in a stream, content came in the chunks."""
    matched = task.reply.matched or ""
    return {
        "index": 0, "content": "" if stream else task.reply.text, "tokens": [], "id_slot": 0,
        "stop": True, "model": runtime.config.model_id, "tokens_predicted": task.generated,
        "tokens_evaluated": task.tokens,
        "generation_settings": _params(runtime, task.stop, task.n_predict),
        "prompt": task.prompt, "has_new_line": "\n" in task.reply.text,
        "truncated": task.truncated, "stop_type": _stop_type(task), "stopping_word": matched,
        "tokens_cached": task.tokens + task.generated, "timings": task.timings(),
    }  # fmt: skip


async def completion(request: Request, runtime: Runtime) -> Response | EventStream:
    """``POST /completion`` (not OpenAI): ``content``, ``stop_type``, ``timings``…; its stream
    ends with the final object, without ``[DONE]``."""
    try:
        body = await _body(request, runtime)
        if "prompt" not in body:  # data.at("prompt") inside handle_completions_impl's try
            raise LlamaError("[json.exception.out_of_range.403] key 'prompt' not found")
        prompt, tokens = _prompt_of(body)
        n_predict = _n_predict(body, "n_predict", "max_tokens")
        task = Task(runtime, prompt, tokens, n_predict, body, chat=False)
    except LlamaError as exc:
        return exc.response()
    if not body.get("stream"):
        return await _finish(runtime, task, lambda: _native(runtime, task, False))
    plan = task.reply.plan

    def step(i: int) -> list[bytes]:
        partial = {"index": 0, "content": task.reply.texts[i], "tokens": [plan.tokens[i].id],
                   "stop": False, "id_slot": -1, "tokens_predicted": i + 1,
                   "tokens_evaluated": task.tokens}  # fmt: skip
        return [FRAMING.event(partial)]

    tail = lambda: [FRAMING.event(_native(runtime, task, True))]  # noqa: E731
    return textgen.stream(runtime, plan, StreamShape(step, tail, _failure), [])


# -- the routes ------------------------------------------------------------------------------


def routes() -> dict[str, dict[str, Handler]]:
    """``server.cpp``'s table (the routes simulated); everything behind the loading check."""
    chat, text, native = (guarded(chat_completions), guarded(completions), guarded(completion))
    listing = guarded(models, models)  # /models answers while loading, its meta null
    return {
        "/health": {"GET": guarded(health)},
        "/v1/health": {"GET": guarded(health)},
        "/metrics": {"GET": guarded(metrics)},
        "/props": {"GET": guarded(props)},
        "/models": {"GET": listing},
        "/v1/models": {"GET": listing},
        "/completion": {"POST": native},
        "/completions": {"POST": native},
        "/v1/completions": {"POST": text},
        "/chat/completions": {"POST": chat},
        "/v1/chat/completions": {"POST": chat},
        "/tokenize": {"POST": guarded(tokenize)},
        "/detokenize": {"POST": guarded(detokenize)},
        "/apply-template": {"POST": guarded(apply_template)},
    }
