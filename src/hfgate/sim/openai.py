"""TGI's OpenAI-compatible routes: ``/v1/chat/completions``, ``/v1/completions``,
``/v1/models``, ``/chat_tokenize`` and ``/invocations`` (docs/protocols.md §2.5–§2.6).

TGI quirks kept on purpose: ``"id": ""``; every chat delta carries ``role``; EOS is
``finish_reason: "stop"`` on chat and on non-stream completions but ``"eos_token"`` in the final
streaming completion chunk (whose text is the EOS token's own text, ``</s>``); a stop sequence
gives the non-OpenAI ``"stop_sequence"``; errors inside a stream are an OpenAI-style event
``{"error": {"message", "http_status_code": 422}}`` followed by ``data: [DONE]``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from hfgate.sim import chat, prepare, tokenizer, tools
from hfgate.sim.generation import Plan, Token
from hfgate.sim.http import conform, error_response, json_response, read_json
from hfgate.sim.inference import Faults, admit, fail, on_close, paced, run_once, timing_headers
from hfgate.sim.sse import EventStream, Frame, Framing
from hfgate.sim.state import Runtime
from hfgate.sim.tgi import run_compat, served_model, system_fingerprint
from hfgate.sim.validation import (
    CHAT_REQUEST,
    COMPAT_REQUEST,
    COMPLETION_REQUEST,
    GENERATION_FAILED,
    TGIError,
)


def _framing(runtime: Runtime) -> Framing:
    return Framing(runtime.features.sse_space and not runtime.config.sse_no_space)


def error_event(runtime: Runtime, framing: Framing, error: TGIError) -> list[bytes]:
    """How an error inside a ``/v1/*`` stream looks in this TGI version (v2.4.0: not at all)."""
    style = runtime.features.stream_error
    if style == "openai":
        return [framing.event({"error": {"message": error.message, "http_status_code": 422}})]
    return [framing.event(error.body())] if style == "native" else []


def stream_error(runtime: Runtime, framing: Framing, error: TGIError) -> list[bytes]:
    """The error event, then ``[DONE]`` (which ends every ``/v1/*`` stream since v2.2.0)."""
    frames = error_event(runtime, framing, error)
    return [*frames, framing.done()] if runtime.features.done else frames


def chat_reason(plan: Plan, runtime: Runtime) -> str:
    if plan.finish_reason == "eos_token":
        return "stop" if runtime.features.chat_eos_stop else "eos_token"
    return plan.finish_reason


def _usage(plans: list[Plan]) -> dict[str, int]:
    prompt = sum(p.input_length for p in plans)
    completion = sum(p.generated_tokens for p in plans)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _logprob(token: Token, tops: list[Token]) -> dict[str, Any]:
    top = [{"token": t.text, "logprob": t.logprob} for t in tops]
    return {"token": token.text, "logprob": token.logprob, "top_logprobs": top}


def _logprobs(plan: Plan, indices: range) -> dict[str, Any]:
    tops = plan.top_tokens
    return {"content": [_logprob(plan.tokens[i], tops[i] if tops else []) for i in indices]}


def _chat_object(runtime: Runtime, chunk: bool) -> str:
    if not runtime.features.chat_object_chunk:
        return "text_completion"
    return "chat.completion.chunk" if chunk else "chat.completion"


async def chat_completions(request: Request, runtime: Runtime) -> Response | EventStream:
    body = await read_json(request, CHAT_REQUEST, runtime.config.payload_limit)
    runtime.stats.last_request = body
    return await run_chat(runtime, body)


async def run_chat(runtime: Runtime, body: dict[str, Any]) -> Response | EventStream:
    started = time.perf_counter()
    prepare.deserialize(body)
    try:
        prepared = prepare.prepare(runtime, body)  # HTTP 422, even when streaming
    except TGIError as exc:
        return error_response(exc)
    params = chat.generate_parameters(body)
    model = chat.response_model(body, served_model(runtime)[0])
    if body.get("stream"):
        return _chat_stream(runtime, body, prepared, params, model)
    try:
        plans = prepare.admit_all(runtime, prepared, params, stream=False)
        await _in_turn(runtime, plans)
        result = _chat_completion(runtime, body, plans[-1], model, prepared)
    except TGIError as exc:
        return error_response(exc)
    characters = len(prepared.prompt)
    return json_response(result, headers=timing_headers(plans[-1:], started, characters))


async def _in_turn(runtime: Runtime, plans: list[Plan]) -> None:
    """Run generations one after the other (no_tool: the second starts when the first ended);
    a failure gives back the permits of those that never ran."""
    pending = list(plans)
    try:
        while pending:
            await run_once(runtime, [pending.pop(0)])
    finally:
        for _ in pending:
            runtime.release()


def _chat_completion(
    runtime: Runtime, body: dict[str, Any], plan: Plan, model: str, prepared: prepare.Prepared
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": plan.text}
    if prepared.calls:
        try:
            message = tools.tool_call_message(*tools.parse_output(plan.text))
        except TGIError as exc:
            raise fail(runtime, exc) from None
    choice = {
        "index": 0,
        "message": message,
        "logprobs": _logprobs(plan, range(plan.generated_tokens)) if body.get("logprobs") else None,
        "finish_reason": chat_reason(plan, runtime),
    }
    head = _chat_head(runtime, model, chunk=False)
    return {**head, "choices": [choice], "usage": _usage([plan])}


def _chat_head(runtime: Runtime, model: str, chunk: bool) -> dict[str, Any]:
    return {
        "object": _chat_object(runtime, chunk),
        "id": "",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": system_fingerprint(runtime),
    }


def _chat_stream(
    runtime: Runtime,
    body: dict[str, Any],
    prepared: prepare.Prepared,
    params: dict[str, Any],
    model: str,
) -> EventStream:
    framing = _framing(runtime)
    characters = str(len(prepared.prompt))
    headers = {"x-compute-type": "gpu+optimized", "x-compute-characters": characters}
    keepalive = runtime.config.keepalive_interval
    try:
        plans = prepare.admit_all(runtime, prepared, params, stream=True)
    except TGIError as exc:
        refused = stream_error(runtime, framing, exc)
        return EventStream(refused, keepalive=keepalive, headers=headers)
    faults = Faults.of(runtime)
    if prepared.calls:
        call_id = tools.next_tool_call_id(body["messages"])
        frames = _tool_frames(runtime, body, plans[0], framing, faults, model, call_id)
    elif len(plans) > 1:
        frames = _no_tool_frames(runtime, body, plans, framing, faults, model)
    else:
        frames = _chat_frames(runtime, body, plans[0], framing, faults, model)
    close = on_close(runtime, plans, faults)
    return EventStream(frames, keepalive=keepalive, headers=headers, on_close=close)


def _chat_frames(
    runtime: Runtime, body: dict[str, Any], plan: Plan, framing: Framing, faults: Faults, model: str
) -> Iterator[Frame]:
    head = _chat_head(runtime, model, chunk=True)
    last = plan.generated_tokens - 1
    reason = chat_reason(plan, runtime)
    want_logprobs = bool(body.get("logprobs"))
    finished = False
    for step in paced(plan.generated_tokens, faults, _failure(runtime, framing)):
        if not isinstance(step, int):
            yield step
            continue
        finished = step == last
        token = plan.tokens[step]
        choice = {
            "index": 0,
            "delta": {"role": "assistant", "content": "" if token.special else token.text},
            "logprobs": _logprobs(plan, range(step, step + 1)) if want_logprobs else None,
            "finish_reason": reason if step == last else None,
        }
        yield framing.event({**head, "choices": [choice], "usage": None})
    if finished:
        yield from _chat_trailer(runtime, body, plan, framing, head)


def _no_tool_frames(
    runtime: Runtime,
    body: dict[str, Any],
    plans: list[Plan],
    framing: Framing,
    faults: Faults,
    model: str,
) -> Iterator[Frame]:
    """The model picked ``no_tool``: its tokens are read silently, then TGI streams a second
    generation without tools (``server.rs`` ``ChatEvent::NoTool``)."""
    count = plans[0].generated_tokens
    for step in paced(count, faults, _failure(runtime, framing)):
        if not isinstance(step, int):
            yield step
        elif step == count - 1:
            yield from _chat_frames(runtime, body, plans[1], framing, faults, model)


def _tool_frames(
    runtime: Runtime,
    body: dict[str, Any],
    plan: Plan,
    framing: Framing,
    faults: Faults,
    model: str,
    call_id: str,
) -> Iterator[Frame]:
    """A streamed tool call (``chat.rs`` ``ChatState``, v3.2+): no chunk of it carries a
    ``finish_reason`` unless the call was cut short."""
    head = _chat_head(runtime, model, chunk=True)
    state = tools.ToolStream()
    want_logprobs = bool(body.get("logprobs"))
    last = plan.generated_tokens - 1
    finished = False
    for step in paced(plan.generated_tokens, faults, _failure(runtime, framing)):
        if not isinstance(step, int):
            yield step
            continue
        finished = step == last
        token = plan.tokens[step]
        event = state.push(token.text, token.special)
        if not isinstance(event, tools.ToolDelta):
            continue
        logprobs = _logprobs(plan, range(step, step + 1)) if want_logprobs else None
        if logprobs is not None and event.arguments is not None:
            logprobs["content"][0]["token"] = event.arguments  # TGI rewrote the token's text
        choice = {
            "index": 0,
            "delta": _tool_delta(event, call_id),
            "logprobs": logprobs,
            "finish_reason": chat_reason(plan, runtime) if finished else None,
        }
        yield framing.event({**head, "choices": [choice], "usage": None})
    if finished:
        yield from _chat_trailer(runtime, body, plan, framing, head)


def _tool_delta(event: tools.ToolDelta, call_id: str) -> dict[str, Any]:
    if event.arguments is None:  # a special token inside the call: an empty text delta
        return {"role": "assistant", "content": ""}
    function = {"name": event.name, "arguments": event.arguments}
    call = {"index": 0, "id": call_id, "type": "function", "function": function}
    return {"role": "assistant", "tool_calls": [call]}


def _failure(runtime: Runtime, framing: Framing) -> Callable[[], list[bytes]]:
    return lambda: stream_error(runtime, framing, GENERATION_FAILED)


def _chat_trailer(
    runtime: Runtime, body: dict[str, Any], plan: Plan, framing: Framing, head: dict[str, Any]
) -> Iterator[bytes]:
    options = body.get("stream_options") or {}
    if options.get("include_usage") and runtime.features.stream_usage:
        yield framing.event({**head, "choices": [], "usage": _usage([plan])})
    if runtime.features.done:
        yield framing.done()


async def completions(request: Request, runtime: Runtime) -> Response | EventStream:
    body = await read_json(request, COMPLETION_REQUEST, runtime.config.payload_limit)
    runtime.stats.last_request = body
    return await run_completions(runtime, body)


def _completion_params(body: dict[str, Any]) -> dict[str, Any]:
    temperature = body.get("temperature")
    greedy = temperature == 0
    return {
        "temperature": None if greedy else temperature,
        "do_sample": not greedy,
        "repetition_penalty": body.get("repetition_penalty"),
        "frequency_penalty": body.get("frequency_penalty"),
        "top_p": body.get("top_p"),
        "max_new_tokens": body.get("max_tokens"),
        "stop": body.get("stop") or [],
        "seed": body.get("seed"),
        "details": True,
    }


def _completion_guard(
    runtime: Runtime, body: dict[str, Any], prompts: list[str]
) -> Response | None:
    if body.get("suffix") is not None:
        message = "Suffix is not supported and can be achieved by preprocessing the prompt."
        return error_response(fail(runtime, TGIError(message, "suffix not supported")))
    limit = runtime.config.max_client_batch_size
    if len(prompts) > limit:
        message = f"Number of prompts exceeds the maximum allowed batch size of {limit}"
        return error_response(fail(runtime, TGIError(message, "batch size exceeded")))
    return None


async def run_completions(runtime: Runtime, body: dict[str, Any]) -> Response | EventStream:
    started = time.perf_counter()
    prompt = body["prompt"]
    prompts = [prompt] if isinstance(prompt, str) else list(prompt)
    refused = _completion_guard(runtime, body, prompts)
    if refused is not None:
        return refused
    params = _completion_params(body)
    if body.get("stream"):
        return _completion_stream(runtime, prompts, params)
    plans: list[Plan] = []
    try:
        for text in prompts:
            plans += admit(runtime, text, params, add_bos=True)
    except TGIError as exc:
        for _ in plans:
            runtime.release()
        return error_response(exc)
    try:
        await run_once(runtime, plans)
    except TGIError as exc:
        return error_response(exc)
    choices = [
        {"index": i, "text": p.text, "logprobs": None, "finish_reason": chat_reason(p, runtime)}
        for i, p in enumerate(plans)
    ]
    result = {**_completion_head(runtime, "final"), "choices": choices, "usage": _usage(plans)}
    headers = timing_headers(plans, started, sum(len(p) for p in prompts))
    return json_response(result, headers=headers)


def _completion_head(runtime: Runtime, kind: str) -> dict[str, Any]:
    head = {"object": "text_completion", "id": "", "created": int(time.time())}
    if kind == "final":
        head |= {
            "model": served_model(runtime)[0],
            "system_fingerprint": system_fingerprint(runtime),
        }
    return head


def _completion_stream(runtime: Runtime, prompts: list[str], params: dict[str, Any]) -> EventStream:
    framing = _framing(runtime)
    errors: list[bytes] = []
    plans: list[tuple[int, Plan]] = []
    for index, text in enumerate(prompts):
        try:
            plans.append((index, admit(runtime, text, params, add_bos=True)[0]))
        except TGIError as exc:
            errors += error_event(runtime, framing, exc)
    faults = Faults.of(runtime)
    frames = _completion_frames(runtime, plans, framing, faults, errors)
    close = on_close(runtime, [p for _, p in plans], faults)
    headers = {
        "x-compute-type": "gpu+optimized",
        "x-compute-characters": str(sum(map(len, prompts))),
    }
    return EventStream(
        frames, keepalive=runtime.config.keepalive_interval, headers=headers, on_close=close
    )


def _completion_frames(
    runtime: Runtime,
    plans: list[tuple[int, Plan]],
    framing: Framing,
    faults: Faults,
    errors: list[bytes],
) -> Iterator[Frame]:
    """Prompts generate side by side: round ``r`` sends token ``r`` of every prompt."""
    yield from errors
    rounds = max((p.generated_tokens for _, p in plans), default=0)
    finished = rounds == 0
    for step in paced(rounds, faults, _failure(runtime, framing)):
        if not isinstance(step, int):
            yield step
            continue
        finished = step == rounds - 1
        for index, plan in plans:
            if step < plan.generated_tokens:
                yield framing.event(_completion_chunk(runtime, index, plan, step))
    if finished and runtime.features.done:
        yield framing.done()


def _completion_chunk(runtime: Runtime, index: int, plan: Plan, step: int) -> dict[str, Any]:
    token = plan.tokens[step]
    model, fingerprint = served_model(runtime)[0], system_fingerprint(runtime)
    final = step == plan.generated_tokens - 1 and runtime.features.stream_usage
    choice = {"index": index, "text": token.text, "logprobs": None, "finish_reason": ""}
    if not final:
        head = _completion_head(runtime, "chunk")
        return {**head, "choices": [choice], "model": model, "system_fingerprint": fingerprint}
    choice["finish_reason"] = plan.finish_reason  # to_string(): "eos_token", not "stop"
    return {**_completion_head(runtime, "final"), "choices": [choice], "usage": _usage([plan])}


async def models(request: Request, runtime: Runtime) -> Response:
    model_id = served_model(runtime)[0]
    entry = {"id": model_id, "object": "model", "created": 0, "owned_by": model_id}
    return json_response({"object": "list", "data": [entry]})


async def chat_tokenize(request: Request, runtime: Runtime) -> Response:
    """``get_chat_tokenize``: ``try_into_generate`` (tools and their prompt included), then the
    tokens generation would count (a vision model's images as image tokens)."""
    body = await read_json(request, CHAT_REQUEST, runtime.config.payload_limit)
    prepare.deserialize(body)
    try:
        prompt = prepare.prepare(runtime, body).prompt
        counted = prepare.counted(runtime, prompt)
    except TGIError as exc:
        return error_response(exc)
    tokens = [t.as_dict() for t in tokenizer.encode(counted, add_bos=False)]
    return json_response({"tokenize_response": tokens, "templated_text": prompt})


async def invocations(request: Request, runtime: Runtime) -> Response | EventStream:
    """SageMaker's route: an untagged union of the compat, chat and completion bodies."""
    body = await read_json(request, None, runtime.config.payload_limit)
    runtime.stats.last_request = body
    for spec, run in ((CHAT_REQUEST, run_chat), (COMPLETION_REQUEST, run_completions)):
        if isinstance(body, dict) and spec.required[0] in body:
            conform(body, spec)
            return await run(runtime, body)
    conform(body, COMPAT_REQUEST)
    return await run_compat(runtime, body)
