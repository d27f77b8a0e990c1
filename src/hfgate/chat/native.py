"""TGI's own routes through the gateway, for Hugging Face's clients (DESIGN §3, §7).

``huggingface_hub.InferenceClient(base_url=…/tgi/{model})`` and ``text_generation.Client`` use
the gateway as if it were the endpoint: bodies go upstream as sent (after the context check),
answers come back as TGI wrote them, and ``/info`` is answered from what validation learned,
so asking for it never wakes a sleeping endpoint.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from hfgate.catalog import ServedModel
from hfgate.chat import tokens
from hfgate.chat.coldstart import Waiting
from hfgate.chat.context import fit_prompt, token_limit
from hfgate.chat.service import KEEPALIVE_SECONDS, MESSAGES, Caller, ChatService
from hfgate.errors import (
    HfgateError,
    InvalidRequest,
    UpstreamBadRequest,
    UpstreamProtocolError,
)
from hfgate.upstream.base import Call, Usage
from hfgate.upstream.client import MAX_EVENT_BYTES, UpstreamStream

DETAILS = {"details": True}
TOKEN_KEY = b'"token":'  # in TGI's stream events; token text never holds it unescaped
ROUTES = ("v1/chat/completions", "v1/completions", "generate_stream", "generate", "info")
# hfgate's errors as TGI's ``error_type`` values, for the clients that read them.
ERROR_TYPES = {400: "validation", 422: "validation", 429: "overloaded", 424: "generation"}


def tgi_error(exc: HfgateError) -> tuple[int, dict[str, str]]:
    """``(status, {"error", "error_type"})``: TGI's own error shape."""
    status = 422 if exc.status == 400 else exc.status
    return status, {"error": exc.message, "error_type": ERROR_TYPES.get(status, exc.code)}


class NativeService:
    def __init__(self, chat: ChatService) -> None:
        self.chat = chat

    async def model(self, name: str) -> ServedModel:
        model = await self.chat.resolve(name)
        if model.engine != "tgi":
            raise UpstreamBadRequest(
                f"{name} runs on an OpenAI-compatible engine, which has no TGI routes:"
                " use /v1/chat/completions or /v1/completions"
            )
        return model

    def info(self, model: ServedModel) -> dict[str, Any]:
        limit = token_limit(model)
        return {
            "model_id": model.name,
            "model_sha": None,
            "model_pipeline_tag": "text-generation",
            "max_concurrent_requests": 128,
            "max_best_of": 2,
            "max_stop_sequences": 4,
            "max_input_tokens": min(limit - 1, model.max_input_tokens or limit - 1),
            "max_total_tokens": limit,
            "validation_workers": 2,
            "max_client_batch_size": 4,
            "router": "text-generation-router",
            "version": model.engine_version or "unknown",
            "sha": None,
            "docker_label": None,
        }

    async def fit(self, model: ServedModel, body: Any) -> tuple[dict[str, Any], int]:
        """Check the prompt against the context window; cap ``max_new_tokens`` when needed.
        Returns the body to send and the prompt's tokens."""
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), str):
            raise InvalidRequest(
                "the body must be a JSON object with a string `inputs`", param="inputs"
            )
        parameters = body.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise InvalidRequest("`parameters` must be an object", param="parameters")
        requested = parameters.get("max_new_tokens")
        requested = requested if isinstance(requested, int) and requested > 0 else None
        count = lambda text: self.chat.counter.count_text(model, text)  # noqa: E731
        fit = await fit_prompt(model, body["inputs"], requested, count)
        if fit.max_tokens is not None and fit.max_tokens != requested:
            body = body | {"parameters": parameters | {"max_new_tokens": fit.max_tokens}}
        # A prompt that surely fits is not counted (that would cost a call to the endpoint):
        # its usage is then estimated, BOS included.
        return body, fit.prompt_tokens or tokens.text_estimate(body["inputs"], 1)

    async def generate(
        self, model: ServedModel, path: str, body: dict[str, Any], who: Caller, prompt: int
    ) -> Any:
        """A non-streaming call. TGI counts the generated tokens only in ``details``: they are
        asked for, and taken out of the answer again if the caller did not ask for them."""
        asked = (body.get("parameters") or {}).get("details") is True
        sent = body if asked else body | {"parameters": (body.get("parameters") or {}) | DETAILS}
        call = Call(path, sent, stream=path != "/generate")
        usage, status = Usage(prompt, 0), 500
        try:
            answer, _ = await self.chat.coldstarts.run(
                model, lambda hold: self.chat.client.send(model, MESSAGES, call, hold)
            )
            self.chat.note(model, None)
            usage.completion_tokens, status = generated_tokens(answer), 200
        except HfgateError as exc:
            self.chat.note(model, exc)
            status = exc.status
            raise
        finally:
            self.chat.record(model.name, who, status, usage, None)
        return answer if asked else without_details(answer)

    async def stream(
        self, model: ServedModel, path: str, body: dict[str, Any], who: Caller, prompt: int
    ) -> AsyncIterator[bytes]:
        """Relay TGI's SSE bytes as sent; keep-alive comments while the endpoint wakes."""
        call = Call(path, body, stream=path != "/generate")
        upstream: UpstreamStream | None = None
        opener = lambda hold: self.chat.client.open_stream(  # noqa: E731
            model, MESSAGES, call, hold, MESSAGES.parse_completion_event
        )
        usage, status, first = Usage(prompt, 0), 200, None
        try:
            async for item in self.chat.coldstarts.attempts(model, opener, tick=KEEPALIVE_SECONDS):
                if isinstance(item, Waiting):
                    yield b":\n\n"
                else:
                    upstream = item.value
            assert upstream is not None
            async for events in _whole_events(upstream.raw_chunks()):
                if relayed := events.count(TOKEN_KEY):  # one token per event
                    usage.completion_tokens += relayed
                    first = first or time.perf_counter()
                yield events
            self.chat.note(model, None)
        except HfgateError as exc:  # TGI itself reports stream failures as one error event
            self.chat.note(model, exc)
            status = exc.status
            yield b"data: " + orjson.dumps(tgi_error(exc)[1]) + b"\n\n"
        finally:
            if upstream is not None:
                upstream.close()
            self.chat.record(model.name, who, status, usage, first)


def generated_tokens(answer: Any) -> int:
    """What TGI's ``details`` say was generated (``/generate`` answers one object, the
    compat route a list of them)."""
    total = 0
    for item in answer if isinstance(answer, list) else [answer]:
        details = item.get("details") if isinstance(item, dict) else None
        generated = details.get("generated_tokens") if isinstance(details, dict) else None
        total += generated if isinstance(generated, int) else 0
    return total


def without_details(answer: Any) -> Any:
    if isinstance(answer, list):
        return [without_details(item) for item in answer]
    if isinstance(answer, dict):
        return {key: value for key, value in answer.items() if key != "details"}
    return answer


async def _whole_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The bytes as sent, cut after the last complete event of each read: if the endpoint
    fails mid-event, the error event that follows is not glued to half an event."""
    pending = b""
    async for chunk in chunks:
        pending = pending + chunk if pending else chunk
        if cut := events_end(pending):
            yield pending[:cut]
            pending = pending[cut:]
        elif len(pending) > MAX_EVENT_BYTES:
            raise UpstreamProtocolError(
                f"the endpoint sent a stream event longer than {MAX_EVENT_BYTES:,} bytes"
            )
    if pending:
        yield pending


def events_end(data: bytes) -> int:
    """Where the last complete SSE event in ``data`` ends (after its blank line); 0 if none."""
    lf, crlf = data.rfind(b"\n\n"), data.rfind(b"\n\r\n")
    return max(lf + 2 if lf >= 0 else 0, crlf + 3 if crlf >= 0 else 0)


def split_path(rest: str) -> tuple[str, str]:
    """``meta-llama/Llama-2-7b-chat-hf/generate`` → (model, "generate"); no suffix → compat."""
    for route in ROUTES:
        if rest.endswith("/" + route):
            return rest[: -len(route) - 1], route
    return rest.rstrip("/"), ""
