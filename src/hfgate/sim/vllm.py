"""A vLLM-like OpenAI server (``engine="vllm"``): what Inference Endpoints now recommend over TGI.

It differs from TGI where a gateway notices: no ``/info`` (FastAPI's 404 ``{"detail": "Not
Found"}``); ``/v1/models`` carries ``max_model_len``; ``model`` must name the served model
(404 ``NotFoundError`` otherwise); errors are ``{"error": {"message", "type", "param",
"code"}}``; a prompt that does not fit is a 400 ``BadRequestError``; ``top_p: 1.0`` is fine;
EOS and stop sequences both finish with ``"stop"`` and the stop string is not kept; ids are
``chatcmpl-…``; the first stream chunk carries the role, later deltas only content.

Of the sim's faults, ``token_delay``, ``stream_error_after`` and ``drop_after`` apply here;
TGI's ``overloaded``/``max_concurrent_requests`` semaphore does not (vLLM queues instead).

Tool calls are ``vllm_tools.py``; ``response_format`` (``json_object``, ``json_schema``) and
guided decoding give grammar-constrained output (``grammar.py``); image parts are refused for
a text-only model and counted as image tokens for a vision one (``vision.py``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from hfgate.sim import chat, generation, grammar, tokenizer, vision, vllm_tools
from hfgate.sim.generation import Plan
from hfgate.sim.http import json_response, read_body
from hfgate.sim.inference import Faults, on_close, paced
from hfgate.sim.sse import EventStream, Frame, Framing
from hfgate.sim.state import Runtime
from hfgate.sim.validation import TGIError

VLLM_VERSION = "0.10.1.1"


def error(message: str, kind: str, code: int, param: str | None = None) -> Response:
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return json_response(body, code)


class VllmError(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _bad(message: str) -> VllmError:
    return VllmError(error(message, "BadRequestError", 400))


async def _body(request: Request, runtime: Runtime, required: str) -> dict[str, Any]:
    raw = await read_body(request, runtime.config.payload_limit)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _bad("JSON decode error") from None
    if not isinstance(body, dict) or not any(k in body for k in required.split("|")):
        raise _bad(f"Field required: {required}")
    model = body.get("model")
    if model is not None and model != runtime.config.model_id:
        message = f"The model `{model}` does not exist."
        raise VllmError(error(message, "NotFoundError", 404, "model"))
    runtime.stats.last_request = body
    return body


async def models(request: Request, runtime: Runtime) -> Response:
    model_id = runtime.config.model_id
    entry = {
        "id": model_id,
        "object": "model",
        "created": int(time.time()),
        "owned_by": "vllm",
        "root": model_id,
        "parent": None,
        "max_model_len": runtime.config.max_total_tokens,
    }
    return json_response({"object": "list", "data": [entry]})


async def version(request: Request, runtime: Runtime) -> Response:
    return json_response({"version": VLLM_VERSION})


def _plan(
    runtime: Runtime, prompt: str, body: dict[str, Any], add_bos: bool, script: str | None = None
) -> Plan:
    config = runtime.config
    length = tokenizer.input_length(prompt, add_bos)
    requested = body.get("max_completion_tokens") or body.get("max_tokens")
    budget = requested if requested is not None else config.max_total_tokens - length
    if length + budget > config.max_total_tokens:
        raise _bad(
            f"This model's maximum context length is {config.max_total_tokens} tokens. "
            f"However, you requested {length + budget} tokens ({length} in the messages, "
            f"{budget} in the completion). Please reduce the length of the messages or completion."
        )
    stop = body.get("stop") or []
    stop = [stop] if isinstance(stop, str) else stop
    sampling = body.get("temperature") != 0
    if script is not None:  # grammar-constrained output (tool calls, response_format)
        plan = generation.scripted(
            prompt, script, input_length=length, max_new_tokens=max(budget, 1), stop=stop,
            seed=body.get("seed"), sampling=sampling,
        )  # fmt: skip
        return _strip_stop(plan, stop)
    plan = generation.plan(
        prompt,
        input_length=length,
        max_new_tokens=max(budget, 1),
        natural=config.reply_tokens,
        stop=stop,
        seed=body.get("seed"),
        sampling=sampling,
        first_bare=not add_bos,
    )
    return _strip_stop(plan, stop)


def _strip_stop(plan: Plan, stop: list[str]) -> Plan:
    # vLLM leaves the matched stop string out of the text (include_stop_str_in_output=False).
    if plan.finish_reason == "stop_sequence":
        matched = next(s for s in stop if s and plan.text.endswith(s))
        plan.text = plan.text[: -len(matched)]
    return plan


def _reason(plan: Plan) -> str:
    return "length" if plan.finish_reason == "length" else "stop"


def _usage(plans: list[Plan]) -> dict[str, int]:
    prompt = sum(p.input_length for p in plans)
    completion = sum(p.generated_tokens for p in plans)
    return {
        "prompt_tokens": prompt,
        "total_tokens": prompt + completion,
        "completion_tokens": completion,
    }


async def chat_completions(request: Request, runtime: Runtime) -> Response | EventStream:
    try:
        body = await _body(request, runtime, "messages")
        refusal = vllm_tools.check(body, runtime.config.vllm_auto_tool_choice)
        if refusal is not None:
            raise _bad(refusal)
        calls = vllm_tools.decide(body)
        script = calls.raw() if calls is not None else _constrained(body)
        prompt = _render(runtime, body)
        plan = _plan(runtime, _counted(runtime, prompt), body, add_bos=False, script=script)
    except VllmError as exc:
        return exc.response
    if calls is not None and plan.finish_reason != "eos_token":
        calls = None  # cut short: the parser finds no complete call, the raw text is content
    head = _head("chatcmpl", "chat.completion", runtime)
    if body.get("stream"):
        head["object"] = "chat.completion.chunk"
        if calls is not None:
            return _tool_stream(runtime, body, plan, head, calls)
        return _stream(runtime, body, plan, head, _chat_chunk)
    message = {"role": "assistant", "content": plan.text, "tool_calls": []}
    reason = _reason(plan)
    if calls is not None:
        message, reason = vllm_tools.message(calls), vllm_tools.finish_reason(calls, reason)
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": reason}
    choice["stop_reason"] = None
    await _pace(runtime, plan)
    return json_response(
        {**head, "choices": [choice], "usage": _usage([plan]), "prompt_logprobs": None}
    )


def _constrained(body: dict[str, Any]) -> str | None:
    """The output ``response_format`` (or guided decoding) forces, if any (``grammar.py``)."""
    try:
        found = grammar.vllm_grammar(body)
        return None if found is None else grammar.output(found)
    except (ValueError, TGIError) as exc:
        raise _bad(exc.message if isinstance(exc, TGIError) else str(exc)) from None


def _counted(runtime: Runtime, prompt: str) -> str:
    """What the engine counts: a vision model's placeholders expand to the image's tokens."""
    return vision.vllm_expand(prompt) if runtime.config.vision else prompt


def _render(runtime: Runtime, body: dict[str, Any]) -> str:
    config = runtime.config
    messages = body["messages"]
    if vision.count_images(messages):
        if not config.vision:
            raise _bad(vision.vllm_refusal(config.model_id))
        messages = [vision.vllm_message(m) for m in messages]
    try:
        return chat.render(
            config.chat_template, messages, config.bos_token, config.eos_token, body.get("tools")
        )
    except TGIError as exc:
        if exc is chat.TEMPLATE_NOT_FOUND:
            raise _bad(
                "As of transformers v4.44, default chat template is no longer allowed, so you "
                "must provide a chat template if the tokenizer does not define one."
            ) from None
        raise _bad(exc.message) from None


def _head(prefix: str, kind: str, runtime: Runtime) -> dict[str, Any]:
    return {
        "id": f"{prefix}-{uuid.uuid4().hex}",
        "object": kind,
        "created": int(time.time()),
        "model": runtime.config.model_id,
    }


async def _pace(runtime: Runtime, plan: Plan) -> None:
    delay = runtime.config.token_delay
    if delay:
        await asyncio.sleep(delay * plan.generated_tokens)
    runtime.stats.completed += 1
    runtime.stats.generated_tokens += plan.generated_tokens


def _chat_chunk(plan: Plan, step: int) -> dict[str, Any]:
    token = plan.tokens[step]
    delta: dict[str, Any] = {"content": "" if token.special else token.text}
    if step == 0:
        delta = {"role": "assistant", **delta}
    final = step == plan.generated_tokens - 1
    return {
        "index": 0,
        "delta": delta,
        "logprobs": None,
        "finish_reason": _reason(plan) if final else None,
        "stop_reason": None,
    }


def _text_chunk(plan: Plan, step: int) -> dict[str, Any]:
    token = plan.tokens[step]
    final = step == plan.generated_tokens - 1
    return {
        "index": 0,
        "text": "" if token.special else token.text,
        "logprobs": None,
        "finish_reason": _reason(plan) if final else None,
        "stop_reason": None,
    }


def _stream(
    runtime: Runtime, body: dict[str, Any], plan: Plan, head: dict[str, Any], chunk: Any
) -> EventStream:
    runtime.in_flight += 1  # released by on_close, as for TGI streams
    faults = Faults.of(runtime)
    frames = _frames(body, plan, head, chunk, faults)
    close = on_close(runtime, [plan], faults)
    return EventStream(frames, keepalive=runtime.config.keepalive_interval, on_close=close)


_FAILURE = {
    "error": {
        "message": "simulated failure",
        "type": "InternalServerError",
        "param": None,
        "code": 500,
    }
}


def _failure(framing: Framing) -> list[Frame]:
    return [framing.event(_FAILURE), framing.done()]


def _frames(
    body: dict[str, Any], plan: Plan, head: dict[str, Any], chunk: Any, faults: Faults
) -> Iterator[Frame]:
    framing = Framing(space=True)
    finished = False
    for step in paced(plan.generated_tokens, faults, lambda: _failure(framing)):
        if not isinstance(step, int):
            yield step
            continue
        finished = step == plan.generated_tokens - 1
        yield framing.event({**head, "choices": [chunk(plan, step)]})
    if not finished:
        return
    if (body.get("stream_options") or {}).get("include_usage"):
        yield framing.event({**head, "choices": [], "usage": _usage([plan])})
    yield framing.done()


def _tool_stream(
    runtime: Runtime,
    body: dict[str, Any],
    plan: Plan,
    head: dict[str, Any],
    calls: vllm_tools.Calls,
) -> EventStream:
    runtime.in_flight += 1  # released by on_close, as for TGI streams
    faults = Faults.of(runtime)
    frames = _tool_frames(body, plan, head, calls, faults)
    close = on_close(runtime, [plan], faults)
    return EventStream(frames, keepalive=runtime.config.keepalive_interval, on_close=close)


def _tool_frames(
    body: dict[str, Any],
    plan: Plan,
    head: dict[str, Any],
    calls: vllm_tools.Calls,
    faults: Faults,
) -> Iterator[Frame]:
    """The role chunk, the calls' deltas (``vllm_tools.deltas``), the usage, ``[DONE]``."""
    framing = Framing(space=True)
    role = {"role": "assistant", "content": ""}
    yield framing.event({**head, "choices": [_tool_choice(role, None)]})
    deltas = vllm_tools.deltas(calls)
    finished = False
    for step in paced(len(deltas), faults, lambda: _failure(framing)):
        if not isinstance(step, int):
            yield step
            continue
        finished = step == len(deltas) - 1
        reason = "tool_calls" if finished else None
        yield framing.event({**head, "choices": [_tool_choice(deltas[step], reason)]})
    if not finished:
        return
    if (body.get("stream_options") or {}).get("include_usage"):
        yield framing.event({**head, "choices": [], "usage": _usage([plan])})
    yield framing.done()


def _tool_choice(delta: dict[str, Any], reason: str | None) -> dict[str, Any]:
    return {
        "index": 0,
        "delta": delta,
        "logprobs": None,
        "finish_reason": reason,
        "stop_reason": None,
    }


async def completions(request: Request, runtime: Runtime) -> Response | EventStream:
    try:
        body = await _body(request, runtime, "prompt")
        prompt = body["prompt"]
        if not isinstance(prompt, str):
            raise _bad("Only a single string prompt is simulated")
        plan = _plan(runtime, prompt, body, add_bos=True)
    except VllmError as exc:
        return exc.response
    head = _head("cmpl", "text_completion", runtime)
    if body.get("stream"):
        return _stream(runtime, body, plan, head, _text_chunk)
    choice = {"index": 0, "text": plan.text, "logprobs": None, "finish_reason": _reason(plan)}
    choice["stop_reason"] = None
    await _pace(runtime, plan)
    return json_response({**head, "choices": [choice], "usage": _usage([plan])})


async def tokenize(request: Request, runtime: Runtime) -> Response:
    try:
        body = await _body(request, runtime, "prompt|messages")
        if "messages" in body:
            prompt = _counted(runtime, _render(runtime, body))
            ids = [t.id for t in tokenizer.encode(prompt, add_bos=False)]
        else:
            ids = [t.id for t in tokenizer.encode(str(body.get("prompt", "")), add_bos=True)]
    except VllmError as exc:
        return exc.response
    count = len(ids)
    return json_response(
        {"count": count, "max_model_len": runtime.config.max_total_tokens, "tokens": ids}
    )


async def health(request: Request, runtime: Runtime) -> Response:
    return Response(b"", 200)
