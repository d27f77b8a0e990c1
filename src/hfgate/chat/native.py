"""TGI's own routes through the gateway, for Hugging Face's clients.

``huggingface_hub.InferenceClient(base_url=…/tgi/{model})`` and ``text_generation.Client`` use
the gateway as if it were the endpoint: bodies go upstream as sent (after the context check),
answers come back as TGI wrote them — a stream as ``Relayed`` events carrying TGI's own bytes —
through the same call lifecycle as the OpenAI routes. ``/info`` is answered from what
validation learned (``hfgate.api.wire.tgi_info``) and ``/health`` from the status board, so
asking for either never wakes an endpoint. ``/tokenize`` is relayed: only the endpoint knows
its tokenizer.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from typing import Any

from hfgate.chat import tokens
from hfgate.chat.context import fit_prompt
from hfgate.chat.lifecycle import Caller, Tally
from hfgate.chat.service import ChatService
from hfgate.endpoints.state import ModelStatus, StatusEntry
from hfgate.errors import InvalidRequest, NotFound, UpstreamBadRequest, UpstreamProtocolError
from hfgate.upstream.base import Call
from hfgate.upstream.client import MAX_EVENT_BYTES, UpstreamStream
from hfgate.upstream.tgi import MESSAGES
from hfgate.values.events import Batch, Relayed, Usage
from hfgate.values.served import ServedModel

DETAILS = {"details": True}
TOKEN_KEY = b'"token":'  # in TGI's stream events; token text never holds it unescaped
# ``/health`` asks "will a call work?". It does in these states: a sleeping or starting
# endpoint is woken by the call itself, which hfgate holds (with keepalives) until it answers
# — slower, not broken (``X-Hfgate-Status`` says which). Saying "unhealthy" there would be
# worse than slow: health never wakes an endpoint (a probe is traffic that keeps it billed),
# so a client that waits for "healthy" before calling would wait forever. Paused, failed,
# deleted, unreachable or refusing hfgate's token: a call fails, so those are unhealthy.
USABLE = frozenset(
    {
        ModelStatus.READY,
        ModelStatus.IDLE,
        ModelStatus.SCALED_TO_ZERO,
        ModelStatus.WAKING,
        ModelStatus.INITIALIZING,
    }
)


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

    async def health(self, name: str) -> StatusEntry:
        """What hfgate knows of the model's endpoint (``USABLE`` or not); asks it nothing."""
        model = await self.chat.resolve(name)
        return self.chat.lifecycle.board.get(model.name)

    async def tokenize(self, model: ServedModel, body: Any, who: Caller) -> Any:
        """TGI's ``/tokenize``, relayed: the endpoint's own tokens of ``inputs``. A call to
        the endpoint (it may have to wake), so it runs through the lifecycle; it generates
        nothing, so it spends no tokens."""
        if model.tokenize_route is None:
            raise NotFound(
                f"the endpoint behind {model.name} runs a TGI without /tokenize (added in"
                " TGI 1.4.0)"
            )
        call = Call("/tokenize", generate_body(body)[0], stream=False)

        def attempt(hold: float) -> Awaitable[tuple[Any, Any]]:
            return self.chat.client.send(model, MESSAGES, call, hold)

        nothing = Usage(0, 0)
        lifecycle = self.chat.lifecycle
        answer, _ = await lifecycle.complete(model, who, attempt, lambda _: nothing, nothing)
        return answer

    async def fit(self, model: ServedModel, body: Any) -> tuple[dict[str, Any], int]:
        """Check the prompt against the context window; cap ``max_new_tokens`` when needed.
        Returns the body to send and the prompt's tokens."""
        body, parameters = generate_body(body)
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

        def attempt(hold: float) -> Awaitable[tuple[Any, Any]]:
            return self.chat.client.send(model, MESSAGES, call, hold)

        def usage_of(reply: tuple[Any, Any]) -> Usage:
            return Usage(prompt, generated_tokens(reply[0]))

        lifecycle = self.chat.lifecycle
        answer, _ = await lifecycle.complete(model, who, attempt, usage_of, Usage(prompt, 0))
        return answer if asked else without_details(answer)

    def stream(
        self, model: ServedModel, path: str, body: dict[str, Any], who: Caller, prompt: int
    ) -> AsyncGenerator[Batch, None]:
        """TGI's SSE events as sent, in ``Relayed`` events (and ``Waiting`` while it wakes)."""
        call = Call(path, body, stream=path != "/generate")

        def opener(hold: float) -> Awaitable[UpstreamStream]:
            return self.chat.client.open_stream(
                model, MESSAGES, call, hold, MESSAGES.parse_completion_event
            )

        tally = Tally(Usage(prompt, 0))
        return self.chat.lifecycle.stream(model, who, opener, _Relay(), tally)


class _Relay:
    """TGI's events as sent, cut at event boundaries, their tokens counted."""

    def items(self, upstream: UpstreamStream) -> AsyncGenerator[bytes, None]:
        return _whole_events(upstream.raw_chunks())

    def events(self, data: bytes, tally: Tally) -> Batch:
        if relayed := data.count(TOKEN_KEY):  # one token per event
            tally.usage.completion_tokens += relayed
            tally.first_token()
        return [Relayed(data, relayed)]

    def end(self, tally: Tally) -> Batch:
        return []


def generate_body(body: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """``body`` and its ``parameters``, if it has TGI's ``/generate`` shape."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), str):
        raise InvalidRequest(
            "the body must be a JSON object with a string `inputs`", param="inputs"
        )
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise InvalidRequest("`parameters` must be an object", param="parameters")
    return body, parameters


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


async def _whole_events(chunks: AsyncIterator[bytes]) -> AsyncGenerator[bytes, None]:
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
