"""TGI's native routes: ``/info``, ``/health``, ``/metrics``, ``/generate``, ``/generate_stream``,
``POST /`` (compat), ``/tokenize`` — shapes from ``router/src/lib.rs`` (docs/protocols.md
§2.2–§2.7).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from hfgate.sim import generation, tokenizer
from hfgate.sim.generation import Plan
from hfgate.sim.http import error_response, json_response, read_json
from hfgate.sim.inference import Faults, admit, fail, on_close, paced, run_once, timing_headers
from hfgate.sim.sse import EventStream, Frame, Framing
from hfgate.sim.state import Runtime
from hfgate.sim.validation import (
    COMPAT_REQUEST,
    GENERATE_REQUEST,
    GENERATION_FAILED,
    TGIError,
    best_of_of,
    check_best_of,
    invalid,
)

TEXT_GENERATION_ROUTER = "text-generation-router"


def build_sha(text: str) -> str:
    """A stable fake git/Hub sha for ``text``."""
    return hashlib.sha1(text.encode()).hexdigest()


def served_model(runtime: Runtime) -> tuple[str, str | None, str | None]:
    """``(model_id, model_sha, model_pipeline_tag)`` as ``/info`` reports them.

    On Inference Endpoints the model is mounted at ``/repository`` and TGI skips the Hub.
    """
    config = runtime.config
    if config.model_id_repository:
        return "/repository", None, None
    return config.model_id, build_sha(config.model_id), config.task()


def system_fingerprint(runtime: Runtime) -> str:
    version = runtime.config.tgi_version
    return f"{version}-sha-{build_sha('tgi-' + version)[:7]}"


def info_body(runtime: Runtime) -> dict[str, Any]:
    config, f = runtime.config, runtime.features
    model_id, sha, tag = served_model(runtime)
    body: dict[str, Any] = {"model_id": model_id, "model_sha": sha}
    if f.info_legacy:
        body |= {"model_dtype": "torch.float16", "model_device_type": "cuda"}
    body |= {
        "model_pipeline_tag": tag,
        "max_concurrent_requests": config.max_concurrent_requests,
        "max_best_of": config.max_best_of,
        "max_stop_sequences": config.max_stop_sequences,
        (
            "max_input_tokens" if f.info_input_tokens else "max_input_length"
        ): config.max_input_tokens,
        "max_total_tokens": config.max_total_tokens,
    }
    if f.info_legacy:
        body |= {"waiting_served_ratio": 1.2, "max_batch_total_tokens": 16000}
        body["max_waiting_tokens"] = 20
    if f.info_batch_size:
        body["max_batch_size"] = None
    body["validation_workers"] = 2
    if f.info_client_batch:
        body["max_client_batch_size"] = config.max_client_batch_size
    if f.info_router:
        body["router"] = TEXT_GENERATION_ROUTER
    build = build_sha("tgi-" + config.tgi_version)
    return body | {"version": config.tgi_version, "sha": build, "docker_label": f"sha-{build[:7]}"}


async def info(request: Request, runtime: Runtime) -> Response:
    return runtime.cached("tgi_info", lambda: json_response(info_body(runtime)))


async def health(request: Request, runtime: Runtime) -> Response:
    return Response(b"", 200)


async def metrics(request: Request, runtime: Runtime) -> Response:
    stats = runtime.stats
    ended = stats.completed + stats.cancelled + stats.dropped + sum(stats.failures.values())
    lines = [
        "# TYPE tgi_request_count counter",
        f"tgi_request_count {ended + runtime.in_flight}",
        "# TYPE tgi_request_success counter",
        f"tgi_request_success {stats.completed}",
        "# TYPE tgi_request_failure counter",
        *(f'tgi_request_failure{{err="{k}"}} {v}' for k, v in sorted(stats.failures.items())),
        f'tgi_request_failure{{err="dropped"}} {stats.cancelled + stats.dropped}',
        "# TYPE tgi_queue_size gauge",
        "tgi_queue_size 0",
        "# TYPE tgi_batch_current_size gauge",
        f"tgi_batch_current_size {runtime.in_flight}",
        "# TYPE tgi_batch_max_total_tokens gauge",
        f"tgi_batch_max_total_tokens {runtime.config.max_total_tokens * 4}",
        "# TYPE tgi_request_generated_tokens_sum counter",
        f"tgi_request_generated_tokens_sum {stats.generated_tokens}",
    ]
    return Response("\n".join(lines) + "\n", 200, media_type="text/plain; version=0.0.4")


def parameters(body: dict[str, Any]) -> dict[str, Any]:
    # An omitted "parameters" means default_parameters(), which samples (lib.rs:436-458).
    params = body.get("parameters")
    return {"do_sample": True} if params is None else params


def _details(plans: list[Plan], params: dict[str, Any], inputs: str, prefix: str) -> dict[str, Any]:
    plan = plans[0]
    prefill = []
    if params.get("decoder_input_details"):
        pieces = [(t.id, t.text) for t in tokenizer.encode(inputs, add_bos=True)]
        pieces[0] = (tokenizer.BOS_ID, tokenizer.BOS)
        prefill = generation.prefill(pieces)
    details: dict[str, Any] = {
        "finish_reason": plan.finish_reason,
        "generated_tokens": plan.generated_tokens,
        "seed": plan.seed,
        "prefill": prefill,
        "tokens": [t.as_dict() for t in plan.tokens],
    }
    if plan.top_tokens:
        details["top_tokens"] = [[t.as_dict() for t in top] for top in plan.top_tokens]
    if len(plans) > 1:
        details["best_of_sequences"] = [_best_of(p, prefix, prefill) for p in plans[1:]]
    return details


def _best_of(plan: Plan, prefix: str, prefill: list[Any]) -> dict[str, Any]:
    return {
        "generated_text": prefix + plan.text,
        "finish_reason": plan.finish_reason,
        "generated_tokens": plan.generated_tokens,
        "seed": plan.seed,
        "prefill": prefill,
        "tokens": [t.as_dict() for t in plan.tokens],
    }


def _full_text(params: dict[str, Any], inputs: str) -> str:
    return inputs if params.get("return_full_text") else ""


async def generate(request: Request, runtime: Runtime) -> Response:
    body = await read_json(request, GENERATE_REQUEST, runtime.config.payload_limit)
    runtime.stats.last_request = body
    return await run_generate(runtime, body, parameters(body), wrap=False)


async def run_generate(
    runtime: Runtime, body: dict[str, Any], params: dict[str, Any], wrap: bool
) -> Response:
    started = time.perf_counter()
    inputs = body["inputs"]
    try:
        best_of = check_best_of(params, runtime.config) if best_of_of(params) > 1 else 1
    except TGIError as exc:
        return error_response(fail(runtime, exc))
    try:
        plans = admit(runtime, inputs, params, add_bos=True, best_of=best_of)
        await run_once(runtime, plans)
    except TGIError as exc:
        return error_response(exc)
    prefix = _full_text(params, inputs)
    result: dict[str, Any] = {"generated_text": prefix + plans[0].text}
    if params.get("details") or params.get("decoder_input_details"):
        result["details"] = _details(plans, params, inputs, prefix)
    headers = timing_headers(plans[:1], started, len(inputs))
    return json_response([result] if wrap else result, headers=headers)


async def generate_stream(request: Request, runtime: Runtime) -> Response | EventStream:
    body = await read_json(request, GENERATE_REQUEST, runtime.config.payload_limit)
    runtime.stats.last_request = body
    return run_generate_stream(runtime, body, parameters(body))


def run_generate_stream(
    runtime: Runtime, body: dict[str, Any], params: dict[str, Any]
) -> EventStream:
    framing = Framing(runtime.features.sse_space and not runtime.config.sse_no_space)
    inputs = body["inputs"]
    headers = {"x-compute-type": "gpu+optimized", "x-compute-characters": str(len(inputs))}
    keepalive = runtime.config.keepalive_interval
    try:
        if best_of_of(params) != 1:
            raise fail(runtime, invalid("`best_of` != 1 is not supported when streaming tokens"))
        if params.get("decoder_input_details"):
            message = "`decoder_input_details` == true is not supported when streaming tokens"
            raise fail(runtime, invalid(message))
        plans = admit(runtime, inputs, params, add_bos=True)
    except TGIError as exc:
        return EventStream([framing.event(exc.body())], keepalive=keepalive, headers=headers)
    faults = Faults.of(runtime)
    frames = native_frames(plans[0], framing, faults, bool(params.get("details")), params, inputs)
    close = on_close(runtime, plans, faults)
    return EventStream(frames, keepalive=keepalive, headers=headers, on_close=close)


def native_frames(
    plan: Plan,
    framing: Framing,
    faults: Faults,
    details: bool,
    params: dict[str, Any],
    inputs: str,
) -> Any:
    """``/generate_stream`` events: one per token, the last with text and details; no [DONE]."""
    last = plan.generated_tokens - 1
    final_text = _full_text(params, inputs) + plan.text

    def error() -> list[Frame]:
        return [framing.event(GENERATION_FAILED.body())]

    for step in paced(plan.generated_tokens, faults, error):
        if isinstance(step, int):
            yield framing.event(_stream_event(plan, step, step == last, final_text, details))
        else:
            yield step


def _stream_event(plan: Plan, i: int, is_last: bool, text: str, details: bool) -> dict[str, Any]:
    event: dict[str, Any] = {"index": i + 1, "token": plan.tokens[i].as_dict()}
    if plan.top_tokens:
        event["top_tokens"] = [t.as_dict() for t in plan.top_tokens[i]]
    event["generated_text"] = text if is_last else None
    event["details"] = None
    if is_last and details:
        event["details"] = {
            "finish_reason": plan.finish_reason,
            "generated_tokens": plan.generated_tokens,
            "seed": plan.seed,
            "input_length": plan.input_length,
        }
    return event


def return_full_text_default(runtime: Runtime) -> bool:
    """``POST /`` echoes the prompt unless told otherwise when the task is text-generation or
    unknown (``server.rs:1800-1806``) — which is the case on Inference Endpoints."""
    return served_model(runtime)[2] in ("text-generation", None)


async def compat(request: Request, runtime: Runtime) -> Response | EventStream:
    body = await read_json(request, COMPAT_REQUEST, runtime.config.payload_limit)
    runtime.stats.last_request = body
    return await run_compat(runtime, body)


async def run_compat(runtime: Runtime, body: dict[str, Any]) -> Response | EventStream:
    params = dict(parameters(body))
    if params.get("return_full_text") is None:
        params["return_full_text"] = return_full_text_default(runtime)
    if body.get("stream"):
        return run_generate_stream(runtime, body, params)
    return await run_generate(runtime, body, params, wrap=True)


async def tokenize(request: Request, runtime: Runtime) -> Response:
    body = await read_json(request, GENERATE_REQUEST, runtime.config.payload_limit)
    tokens = tokenizer.encode(body["inputs"], add_bos=True)
    return json_response([t.as_dict() for t in tokens])
