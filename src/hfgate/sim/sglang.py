"""SGLang's OpenAI server (``engine="sglang"``): one of the engines new endpoints run.

Read from ``sgl-project/sglang`` (2025–2026 sources): ``srt/entrypoints/http_server.py``
(routes, ``/health``, ``/get_model_info``, ``/v1/models`` with ``max_model_len``, the 400 for
``RequestValidationError``, the JSON content-type check), ``entrypoints/openai/protocol.py``
(``ModelCard``, ``ErrorResponse``, ``UsageInfo``, ``TokenizeRequest``/``TokenizeResponse``),
``serving_base.py`` (``create_error_response``, ``create_streaming_error_response``),
``serving_chat.py`` (first chunk, finish chunk, usage chunk, errors before the stream starts
are plain 400s), ``sse_utils.py`` (chunk fields) and ``managers/tokenizer_manager.py``
(``_validate_one_request``: the two context-length messages).

* Errors are flat, not OpenAI's nesting: ``{"object": "error", "message", "type", "param",
  "code"}`` (``BadRequestError`` 400); a body that does not validate is 400 ``"type": "Bad
  Request"``; inside a stream ``data: {"error": {…that object…}}``, then ``data: [DONE]``.
  Unknown routes are FastAPI's ``{"detail": "Not Found"}``.
* A prompt of ``max_total_tokens`` tokens or more: "The input (N tokens) is longer than the
  model's context length (M tokens)."; prompt + ``max_tokens`` over it: "Requested token count
  exceeds the model's maximum context length of M tokens. You requested a total of T tokens:
  N tokens from the input messages and K tokens for the completion. Please reduce …". Without
  ``max_tokens`` a chat runs until the context is full (``length``); completions default to 16.
* ``model`` is not checked and is echoed back (``"default"`` when absent). A chat prompt is
  its template's tokens, with no special token added on top (``serving_chat.py`` encodes the
  template without them when the tokenizer would add a BOS); a completion's text gets BOS, as
  ``/tokenize`` gives it by default (``add_special_tokens``). Stop strings are cut from the
  text; ``matched_stop`` names what stopped it (EOS's id, or the string). ``loading`` seconds
  after the replica starts, ``/health`` is a bare 503.

Not modelled: the native ``/generate``, tool-call and reasoning parsers, constrained decoding,
``n`` > 1, logprobs, embeddings/rerank/score routes, ``/v1/responses``.
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
from hfgate.sim.http import empty, json_response, read_body
from hfgate.sim.llamacpp import loading
from hfgate.sim.sse import EventStream, Framing
from hfgate.sim.state import Runtime
from hfgate.sim.textgen import Reply, StreamShape
from hfgate.sim.validation import TGIError

Handler = Callable[[Request, Runtime], Awaitable[ASGIApp]]

SGLANG_VERSION = "0.5.3"
FRAMING = Framing(space=True)
DEFAULT_MODEL = "default"  # protocol.py DEFAULT_MODEL_NAME


class SglError(Exception):
    """``ErrorResponse``: flat, ``object: "error"``; the status is its ``code``."""

    def __init__(self, message: str, kind: str = "BadRequestError", code: int = 400) -> None:
        super().__init__(message)
        self.body = {
            "object": "error",
            "message": message,
            "type": kind,
            "param": None,
            "code": code,
        }
        self.code = code

    def response(self) -> Response:
        return json_response(self.body, self.code)


def _invalid(errors: list[dict[str, Any]]) -> SglError:
    """FastAPI's ``RequestValidationError``, made a 400 by SGLang's handler."""
    return SglError(str(errors), "Bad Request", 400)


async def _body(request: Request, runtime: Runtime, required: str) -> dict[str, Any]:
    """``validate_json_request``, then pydantic: a required field, an object."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        msg = "Unsupported Media Type: Only 'application/json' is allowed"
        raise _invalid([{"loc": ["header", "content-type"], "msg": msg, "type": "value_error"}])
    raw = await read_body(request, runtime.config.payload_limit)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        error = {"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error"}
        raise _invalid([error | {"input": {}, "ctx": {"error": exc.msg}}]) from None
    for field in required.split("|") if required else ():
        if not isinstance(body, dict) or field not in body:
            error = {"type": "missing", "loc": ("body", field), "msg": "Field required"}
            raise _invalid([error | {"input": body}])
    runtime.stats.last_request = body
    return body if isinstance(body, dict) else {}


# -- what the server says about itself ---------------------------------------------------------


async def health(request: Request, runtime: Runtime) -> Response:
    """``/health`` and ``/health_generate``: one token generated; a bare 503 while starting."""
    return empty(503 if loading(runtime) else 200)


async def ping(request: Request, runtime: Runtime) -> Response:
    return empty(200)


async def model_info(request: Request, runtime: Runtime) -> Response:
    model = runtime.config.model_id
    return json_response(
        {
            "model_path": model,
            "tokenizer_path": model,
            "is_generation": True,
            "preferred_sampling_params": None,
            "weight_version": "default",
        }
    )


async def server_info(request: Request, runtime: Runtime) -> Response:
    """``/get_server_info``: a few of the server arguments, the scheduler's limits, version."""
    config, model = runtime.config, runtime.config.model_id
    return json_response(
        {
            "model_path": model,
            "tokenizer_path": model,
            "served_model_name": model,
            "context_length": config.max_total_tokens,
            "max_total_num_tokens": config.max_total_tokens * 16,
            "max_req_input_len": config.max_total_tokens - 1,
            "version": SGLANG_VERSION,
        }
    )


def _card(runtime: Runtime) -> dict[str, Any]:
    model = runtime.config.model_id
    return {
        "id": model,
        "object": "model",
        "created": int(time.time()),
        "owned_by": "sglang",
        "root": model,
        "parent": None,
        "max_model_len": runtime.config.max_total_tokens,
    }


async def models(request: Request, runtime: Runtime) -> Response:
    return json_response({"object": "list", "data": [_card(runtime)]})


async def model(request: Request, runtime: Runtime) -> Response:
    return json_response(_card(runtime))


# -- tokens ----------------------------------------------------------------------------------


async def tokenize(request: Request, runtime: Runtime) -> Response:
    """``/tokenize`` ``{prompt | messages, add_special_tokens (true)}`` → ``{tokens, count,
    max_model_len}``; a list of prompts gives lists."""
    try:
        body = await _body(request, runtime, "")
        if ("prompt" in body) == ("messages" in body):
            message = "Value error, Exactly one of 'prompt' or 'messages' must be provided."
            raise _invalid([{"type": "value_error", "loc": ("body",), "msg": message}])
        prompt = body["prompt"] if "messages" not in body else _chat_prompt(runtime, body)
    except SglError as exc:
        return exc.response()
    # a chat is counted as it is run: the template's tokens, no special token added on top
    special = bool(body.get("add_special_tokens", True)) and "messages" not in body
    limit = runtime.config.max_total_tokens
    if isinstance(prompt, list):
        ids = [pieces.ids(str(p), special) for p in prompt]
        return json_response(
            {"tokens": ids, "count": [len(i) for i in ids], "max_model_len": limit}
        )
    ids_ = pieces.ids(str(prompt), special)
    return json_response({"tokens": ids_, "count": len(ids_), "max_model_len": limit})


async def detokenize(request: Request, runtime: Runtime) -> Response:
    try:
        body = await _body(request, runtime, "tokens")
    except SglError as exc:
        return exc.response()
    tokens, skip = body["tokens"], bool(body.get("skip_special_tokens", True))
    if tokens and isinstance(tokens[0], list):
        return json_response({"text": [pieces.decode(t, skip) for t in tokens]})
    return json_response({"text": pieces.decode(list(tokens), skip)})


# -- generation ------------------------------------------------------------------------------


def _chat_prompt(runtime: Runtime, body: dict[str, Any]) -> str:
    try:
        return textgen.render(runtime, body["messages"], body.get("tools"))
    except TGIError as exc:  # jinja2's TemplateError is a BadRequestError
        raise SglError(exc.message) from None


class Task:
    """One request after ``_validate_one_request``: its prompt, tokens and planned reply."""

    def __init__(self, runtime: Runtime, prompt: str, body: dict[str, Any], max_new: int | None):
        context = runtime.config.max_total_tokens
        chat = "messages" in body
        tokens = tokenizer.input_length(prompt, add_bos=not chat)
        if tokens >= context:
            raise SglError(
                f"The input ({tokens} tokens) is longer than the model's context length"
                f" ({context} tokens)."
            )
        if max_new is not None and max_new + tokens > context:
            raise SglError(
                "Requested token count exceeds the model's maximum context length of"
                f" {context} tokens. You requested a total of {max_new + tokens} tokens:"
                f" {tokens} tokens from the input messages and {max_new} tokens for the"
                " completion. Please reduce the number of tokens in the input messages or the"
                " completion to fit within the limit."
            )
        budget = context - tokens if max_new is None else max_new
        self.reply: Reply = textgen.reply(runtime, prompt, tokens, budget, body, first_bare=chat)
        self.tokens = tokens
        self.id = uuid.uuid4().hex  # the request id (GenerateReqInput.rid)
        self.model = str(body.get("model") or DEFAULT_MODEL)

    @property
    def finish_reason(self) -> str:
        return "length" if self.reply.length else "stop"

    @property
    def matched_stop(self) -> int | str | None:
        if self.reply.length:
            return None
        return self.reply.matched if self.reply.matched is not None else tokenizer.EOS_ID

    def usage(self) -> dict[str, Any]:
        n = self.reply.plan.generated_tokens
        return {
            "prompt_tokens": self.tokens,
            "total_tokens": self.tokens + n,
            "completion_tokens": n,
            "prompt_tokens_details": None,
            "reasoning_tokens": 0,
        }

    def head(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": int(time.time()), "model": self.model}


def _max_new(body: dict[str, Any], default: int | None) -> int | None:
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            if value <= 0:
                error = {
                    "type": "value_error",
                    "loc": ("body", key),
                    "msg": f"Value error, {key} must be positive",
                }
                raise _invalid([error])
            return value
    return default


def _failure() -> list[bytes]:
    # an abort with a status: create_streaming_error_response(message, code.name, code.value)
    error = SglError("simulated failure (stream_error_after)", "INTERNAL_SERVER_ERROR", 500)
    return [FRAMING.event({"error": error.body}), FRAMING.done()]


async def _finish(runtime: Runtime, task: Task, answer: Callable[[], dict[str, Any]]) -> Response:
    if not await textgen.run(runtime, task.reply.plan):
        error = SglError("simulated failure (stream_error_after)", "InternalServerError", 500)
        return error.response()
    return json_response(answer())


def _choice(task: Task, key: str, value: Any, final: bool = True) -> dict[str, Any]:
    return {
        "index": 0,
        key: value,
        "logprobs": None,
        "finish_reason": task.finish_reason if final else None,
        "matched_stop": task.matched_stop if final else None,
    }


def _chunk(task: Task, kind: str, choice: dict[str, Any]) -> bytes:
    return FRAMING.event({**task.head(kind), "choices": [choice]})


def _tail(task: Task, kind: str, body: dict[str, Any], last: dict[str, Any]) -> list[bytes]:
    """The finish chunk, the usage chunk when asked, ``[DONE]``."""
    frames = [_chunk(task, kind, last)]
    if (body.get("stream_options") or {}).get("include_usage"):
        frames.append(FRAMING.event({**task.head(kind), "choices": [], "usage": task.usage()}))
    return [*frames, FRAMING.done()]


def _chat_shape(task: Task, body: dict[str, Any]) -> StreamShape:
    kind = "chat.completion.chunk"

    def step(i: int) -> list[bytes]:
        text = task.reply.texts[i]
        return (
            [_chunk(task, kind, _choice(task, "delta", {"content": text}, False))] if text else []
        )

    def tail() -> list[bytes]:
        return _tail(task, kind, body, _choice(task, "delta", {}))

    return StreamShape(step, tail, _failure)


async def chat_completions(request: Request, runtime: Runtime) -> Response | EventStream:
    """``POST /v1/chat/completions``: validation errors are 400s, even when streaming (the
    generator is started before the 200 goes out)."""
    try:
        body = await _body(request, runtime, "messages")
        task = Task(runtime, _chat_prompt(runtime, body), body, _max_new(body, None))
    except SglError as exc:
        return exc.response()
    if body.get("stream"):
        first = _choice(task, "delta", {"role": "assistant", "content": ""}, False)
        head = [_chunk(task, "chat.completion.chunk", first)]
        return textgen.stream(runtime, task.reply.plan, _chat_shape(task, body), head)
    message = {"role": "assistant", "content": task.reply.text, "reasoning_content": None,
               "tool_calls": None}  # fmt: skip
    return await _finish(
        runtime, task, lambda: _response(task, "chat.completion", "message", message)
    )


def _response(task: Task, kind: str, key: str, value: Any) -> dict[str, Any]:
    answer = {**task.head(kind), "choices": [_choice(task, key, value)], "usage": task.usage()}
    return answer | {"metadata": {"weight_version": "default"}}


async def completions(request: Request, runtime: Runtime) -> Response | EventStream:
    """``POST /v1/completions``: one prompt string; ``echo`` puts the prompt first."""
    try:
        body = await _body(request, runtime, "prompt")
        prompt = body["prompt"]
        if not isinstance(prompt, str):
            raise SglError("(sim) one prompt per request, as a string")
        task = Task(runtime, prompt, body, _max_new(body, 16))
    except SglError as exc:
        return exc.response()
    kind = "text_completion"
    if body.get("stream"):
        step = lambda i: [_chunk(task, kind, _choice(task, "text", task.reply.texts[i], False))]  # noqa: E731
        tail = lambda: _tail(task, kind, body, _choice(task, "text", ""))  # noqa: E731
        return textgen.stream(runtime, task.reply.plan, StreamShape(step, tail, _failure), [])
    text = (prompt if body.get("echo") else "") + task.reply.text
    return await _finish(runtime, task, lambda: _response(task, kind, "text", text))


# -- the routes ------------------------------------------------------------------------------


def routes(runtime: Runtime) -> dict[str, dict[str, Handler]]:
    """``http_server.py``'s routes (those simulated)."""
    return {
        "/health": {"GET": health},
        "/health_generate": {"GET": health},
        "/ping": {"GET": ping},
        "/get_model_info": {"GET": model_info},
        "/get_server_info": {"GET": server_info},
        "/v1/models": {"GET": models},
        f"/v1/models/{runtime.config.model_id}": {"GET": model},
        "/v1/chat/completions": {"POST": chat_completions},
        "/invocations": {"POST": chat_completions},
        "/v1/completions": {"POST": completions},
        "/v1/tokenize": {"POST": tokenize},
        "/tokenize": {"POST": tokenize},
        "/v1/detokenize": {"POST": detokenize},
        "/detokenize": {"POST": detokenize},
    }
