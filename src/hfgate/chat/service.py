"""Chat and completions over the catalog's endpoints: the gateway's hot path.

``prepare`` resolves the model, fits the prompt into the context window and builds the
upstream call; ``complete`` and ``stream`` run it through the cold-start guard and render
OpenAI's format. Upstream errors were translated once, by the dialect; here they only update
the model's status and, inside a stream, become an error event followed by ``[DONE]``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from hfgate import metrics
from hfgate.auth import Principal
from hfgate.auth.ratelimit import Limiter
from hfgate.catalog import Catalog, ModelStatus, ServedModel, StatusBoard
from hfgate.chat import openai_format
from hfgate.chat.coldstart import ColdStarts, Waiting
from hfgate.chat.context import Fit, fit_chat, fit_prompt
from hfgate.chat.openai_format import ChatFormat
from hfgate.chat.request import ChatRequest, CompletionRequest
from hfgate.chat.stops import StopTrimmer, trim_stop
from hfgate.chat.templates import ChatTemplate, Templates
from hfgate.chat.tokens import TokenCounter
from hfgate.chat.usage import UsageEvent, UsageRecorder
from hfgate.errors import (
    EndpointColdStartTimeout,
    EndpointPaused,
    HfgateError,
    NotFound,
    UpstreamAuthFailed,
    UpstreamProtocolError,
    UpstreamUnreachable,
)
from hfgate.upstream import tgi
from hfgate.upstream.base import Delta, Dialect, Usage
from hfgate.upstream.client import AnswerParser, EndpointClient, EventParser, UpstreamStream
from hfgate.upstream.openai_compat import OpenAIDialect

KEEPALIVE_SECONDS = 5.0
MESSAGES = tgi.MessagesDialect()
GENERATE = tgi.GenerateDialect()
STATUS_FOR_ERROR: dict[type[HfgateError], ModelStatus] = {
    EndpointPaused: ModelStatus.PAUSED,
    UpstreamAuthFailed: ModelStatus.AUTH_FAILED,
    UpstreamUnreachable: ModelStatus.UNREACHABLE,
    EndpointColdStartTimeout: ModelStatus.SCALED_TO_ZERO,
}


@dataclass(slots=True)
class Prepared:
    """Everything decided before the endpoint is called."""

    model: ServedModel
    dialect: Dialect
    call: Any
    fit: Fit
    kind: str  # chat | completion
    stops: list[str]
    include_usage: bool
    template: ChatTemplate | None = None

    def headers(self) -> dict[str, str]:
        headers = {"X-Hfgate-Token-Count": self.fit.counting}
        if self.fit.trimmed:
            headers["X-Hfgate-Trimmed-Messages"] = str(self.fit.trimmed)
        if self.fit.prompt_tokens is not None:
            headers["X-Hfgate-Prompt-Tokens"] = str(self.fit.prompt_tokens)
        if self.fit.clamped and self.fit.max_tokens is not None:
            headers["X-Hfgate-Max-Tokens-Clamped"] = str(self.fit.max_tokens)
        if self.template is not None:
            headers["X-Hfgate-Chat-Template"] = self.template.label
        return headers

    def no_output(self) -> Usage:
        """The usage of a call that produced nothing: the prompt, when it was counted."""
        return Usage(self.fit.prompt_tokens or 0, 0)

    @property
    def parse_answer(self) -> AnswerParser:
        if self.kind == "chat":
            return self.dialect.parse_chat
        return self.dialect.parse_completion

    @property
    def parse_event(self) -> EventParser:
        if self.kind == "chat":
            return self.dialect.parse_event
        return self.dialect.parse_completion_event


@dataclass(slots=True)
class Caller:
    principal: Principal
    route: str
    started: float = dataclasses.field(default_factory=time.perf_counter)


class ChatService:
    def __init__(
        self,
        catalog: Catalog,
        board: StatusBoard,
        client: EndpointClient,
        coldstarts: ColdStarts,
        counter: TokenCounter,
        templates: Templates,
        usage: UsageRecorder,
        limiter: Limiter,
    ) -> None:
        self.catalog, self.board, self.client = catalog, board, client
        self.coldstarts, self.counter, self.templates = coldstarts, counter, templates
        self.usage, self.limiter = usage, limiter

    # -- preparing ---------------------------------------------------------------------------

    def model(self, name: str) -> ServedModel:
        model = self.catalog.get(name)
        if model is None:
            available = ", ".join(self.catalog.names()) or "none yet: an admin adds them"
            shown = name if len(name) <= 200 else name[:200] + "…"
            raise NotFound(
                f"the model {shown!r} does not exist; available models: {available}",
                param="model",
                code="model_not_found",
            )
        return model

    async def resolve(self, name: str) -> ServedModel:
        """``model``, after checking whether another process just added it."""
        await self.catalog.find(name)
        return self.model(name)

    @staticmethod
    def dialect(model: ServedModel) -> Dialect:
        if model.engine == "openai":
            return OpenAIDialect(model.served_model)
        return GENERATE if model.chat_route == "generate" else MESSAGES

    async def prepare_chat(self, request: ChatRequest, *, strict: bool = False) -> Prepared:
        model = await self.resolve(request.model)
        dialect = self.dialect(model)
        template = await self.templates.for_model(model) if dialect is GENERATE else None
        count = self._chat_counter(model, template)
        fit = await fit_chat(
            model, request.messages, request.sampling.max_tokens, count, strict=strict
        )
        prompt = template.render(fit.messages) if template is not None else None
        trimmed = dataclasses.replace(request, messages=fit.messages)
        call = dialect.chat_call(trimmed, fit.max_tokens, prompt)
        stops = request.sampling.stop
        return Prepared(model, dialect, call, fit, "chat", stops, request.include_usage, template)

    def _chat_counter(
        self, model: ServedModel, template: ChatTemplate | None
    ) -> Callable[[list[dict[str, Any]]], Awaitable[int | None]]:
        if template is None:
            return lambda messages: self.counter.count_chat(model, messages)
        return lambda messages: self.counter.count_text(model, template.render(messages))

    async def prepare_completion(
        self, request: CompletionRequest, *, strict: bool = False
    ) -> Prepared:
        model = await self.resolve(request.model)
        dialect = self.dialect(model)
        count = lambda text: self.counter.count_text(model, text)  # noqa: E731
        fit = await fit_prompt(
            model, request.prompt, request.sampling.max_tokens, count, strict=strict
        )
        call = dialect.completion_call(request, fit.max_tokens)
        return Prepared(
            model, dialect, call, fit, "completion", request.sampling.stop, request.include_usage
        )

    # -- running -----------------------------------------------------------------------------

    async def complete(self, prepared: Prepared, caller: Caller) -> dict[str, Any]:
        model = prepared.model
        self.board.touch(model.name)
        status, result = 500, None
        try:
            result = await self.coldstarts.run(
                model,
                lambda hold: self.client.complete(
                    model, prepared.dialect, prepared.call, hold, prepared.parse_answer
                ),
            )
            self.note(model, None)
            status = 200
        except HfgateError as exc:
            self.note(model, exc)
            status = exc.status
            raise
        finally:
            usage = result.usage if result else None
            self.record(model.name, caller, status, usage or prepared.no_output(), None)
        text = trim_stop(result.text, prepared.stops) if result.text is not None else None
        return ChatFormat(model.name, prepared.kind).completion(result, text)

    async def stream(self, prepared: Prepared, caller: Caller) -> AsyncIterator[bytes]:
        """SSE bytes. A failure before the first byte is raised (the caller still can answer
        with an HTTP error); after it, it becomes an error event followed by ``[DONE]``."""
        model = prepared.model
        self.board.touch(model.name)
        relay = _Relay(prepared)
        upstream: UpstreamStream | None = None
        try:
            opener = lambda hold: self.client.open_stream(  # noqa: E731
                model, prepared.dialect, prepared.call, hold, prepared.parse_event
            )
            async for item in self.coldstarts.attempts(model, opener, tick=KEEPALIVE_SECONDS):
                if isinstance(item, Waiting):
                    relay.started = True
                    yield openai_format.keepalive(item.elapsed, self._waking(model))
                else:
                    upstream = item.value
            assert upstream is not None
            async for deltas in upstream.delta_batches():
                if chunks := [chunk for delta in deltas for chunk in relay.feed(delta)]:
                    yield b"".join(chunks)  # tokens that arrived together leave together
            yield b"".join(relay.finish())
            self.note(model, None)
        except HfgateError as exc:
            self.note(model, exc)
            relay.status = exc.status
            if not relay.started:
                raise
            yield openai_format.sse_error(exc)
            yield openai_format.DONE
        finally:
            if upstream is not None:
                upstream.close()  # a client that went away cancels the generation now
            usage = relay.usage or prepared.no_output()
            self.record(model.name, caller, relay.status, usage, relay.ttft)

    # -- bookkeeping -------------------------------------------------------------------------

    def _waking(self, model: ServedModel) -> bool:
        status = self.board.get(model.name).status
        asleep = status in (ModelStatus.SCALED_TO_ZERO, ModelStatus.WAKING)
        return asleep or self.coldstarts.is_waking(model.name)

    def note(self, model: ServedModel, error: HfgateError | None) -> None:
        """What a call's outcome says of the endpoint's status (traffic is the best probe)."""
        if error is None:
            if self.board.get(model.name).status is not ModelStatus.READY:
                self.board.set(model.name, ModelStatus.READY, "answered a request")
            return
        status = STATUS_FOR_ERROR.get(type(error))
        if status is not None:
            self.board.set(model.name, status, error.message)

    def record(
        self, model: str, caller: Caller, status: int, usage: Usage, ttft: float | None
    ) -> None:
        """Account for one finished call: tokens against the key's limits, metrics, usage."""
        self.limiter.spend(caller.principal, usage.prompt_tokens + usage.completion_tokens)
        seconds = time.perf_counter() - caller.started
        first = ttft - caller.started if ttft else None
        metrics.observe_request(
            model,
            caller.route,
            status,
            seconds,
            first,
            usage.prompt_tokens,
            usage.completion_tokens,
        )
        self.usage.record(
            UsageEvent(
                model=model,
                route=caller.route,
                status=status,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                latency_ms=seconds * 1000,
                ttft_ms=first * 1000 if first is not None else None,
                user_id=caller.principal.user_id,
                key_id=caller.principal.key_id,
            )
        )


class _Relay:
    """Turns upstream deltas into OpenAI chunks for one stream, remembering what it saw."""

    def __init__(self, prepared: Prepared) -> None:
        self.format = ChatFormat(prepared.model.name, prepared.kind)
        self.trimmer = StopTrimmer(prepared.stops)
        self.include_usage = prepared.include_usage
        self.first = True
        self.started = False  # has anything been sent to the caller yet?
        self.finished = False
        self.usage: Usage | None = None
        self.ttft: float | None = None
        self.status = 200

    def feed(self, delta: Delta) -> list[bytes]:
        if delta.usage is not None:
            self.usage = delta.usage
        text = self.trimmer.feed(delta.text)
        if delta.finish_reason:
            text += self.trimmer.flush()
        if not (text or delta.finish_reason or delta.tool_calls) or self.finished:
            return []
        if self.ttft is None:
            self.ttft = time.perf_counter()
        self.finished = delta.finish_reason is not None
        self.started = True
        chunk = self.format.chunk(text, delta, self.first)
        self.first = False
        return [chunk]

    def finish(self) -> list[bytes]:
        if not self.finished:
            raise UpstreamProtocolError(
                "the endpoint ended the stream before the answer was complete"
            )
        chunks = []
        if self.include_usage:
            chunks.append(self.format.usage_chunk(self.usage or Usage()))
        chunks.append(openai_format.DONE)
        return chunks
