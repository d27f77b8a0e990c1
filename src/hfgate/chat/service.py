"""Chat and completions over the catalog's endpoints: the gateway's hot path.

``prepare_*`` resolves the model, fits the prompt into the context window and builds the
upstream call; ``complete`` and ``stream`` run it through the call lifecycle (``lifecycle``)
and speak typed values: a ``Completion``, or batches of events (``values.events``). Upstream
errors were translated once, by the dialect; the edges (``hfgate.api.wire``) serialise.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from hfgate.catalog import Catalog
from hfgate.chat import capabilities
from hfgate.chat.context import Fit, fit_chat, fit_prompt
from hfgate.chat.lifecycle import Caller, Lifecycle, Tally
from hfgate.chat.stops import StopTrimmer, trim_stop
from hfgate.chat.templates import ChatTemplate, Templates
from hfgate.chat.tokens import TokenCounter
from hfgate.errors import InvalidRequest, NotFound, UpstreamProtocolError
from hfgate.upstream.base import Completion, Delta, Dialect
from hfgate.upstream.client import AnswerParser, EndpointClient, EventParser, UpstreamStream
from hfgate.upstream.registry import dialect_for
from hfgate.values.events import Batch, Done, TextDelta, ToolCallDelta, Usage
from hfgate.values.request import (
    WORKSPACE_POLICY,
    ChatRequest,
    CompletionRequest,
    ContextPolicy,
)
from hfgate.values.served import ServedModel

NOT_CHAT = {
    "embed": "it embeds, use POST /v1/embeddings",
    "rerank": "it reranks, use POST /v1/rerank",
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
    echo: str = ""  # a completion's prompt that hfgate repeats before the answer

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


class ChatService:
    def __init__(
        self,
        catalog: Catalog,
        client: EndpointClient,
        lifecycle: Lifecycle,
        counter: TokenCounter,
        templates: Templates,
    ) -> None:
        self.catalog, self.client, self.lifecycle = catalog, client, lifecycle
        self.counter, self.templates = counter, templates

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
        if model.kind != "chat":  # a TEI endpoint: it embeds, reranks or classifies
            route = NOT_CHAT.get(model.kind, "no route of hfgate serves it yet")
            raise InvalidRequest(
                f"{name} is not a chat model: {route}", param="model", code="wrong_model_kind"
            )
        return model

    async def resolve(self, name: str) -> ServedModel:
        """``model``, after checking whether another process just added it."""
        await self.catalog.find(name)
        return self.model(name)

    async def prepare_chat(
        self, request: ChatRequest, policy: ContextPolicy = WORKSPACE_POLICY
    ) -> Prepared:
        model = await self.resolve(request.model)
        strict = policy.strict_for(model.context_policy)
        dialect = dialect_for(model)
        capabilities.check(model, request, dialect.renders_prompt)
        template = await self.templates.for_model(model) if dialect.renders_prompt else None
        count = self._chat_counter(model, template, capabilities.tool_fields(request))
        overhead = capabilities.tools_overhead(request)
        fit = await fit_chat(
            model,
            request.messages,
            request.sampling.max_tokens,
            count,
            strict=strict,
            overhead=overhead,
        )
        prompt = template.render(fit.messages) if template is not None else None
        trimmed = dataclasses.replace(request, messages=fit.messages)
        call = dialect.chat_call(trimmed, fit.max_tokens, prompt)
        stops = request.sampling.stop
        return Prepared(model, dialect, call, fit, "chat", stops, request.include_usage, template)

    def _chat_counter(
        self, model: ServedModel, template: ChatTemplate | None, tools: dict[str, Any] | None
    ) -> Callable[[list[dict[str, Any]]], Awaitable[int | None]]:
        if template is None:
            return lambda messages: self.counter.count_chat(model, messages, tools)
        return lambda messages: self.counter.count_text(model, template.render(messages))

    async def prepare_completion(
        self, request: CompletionRequest, policy: ContextPolicy = WORKSPACE_POLICY
    ) -> Prepared:
        model = await self.resolve(request.model)
        strict = policy.strict_for(model.context_policy)
        dialect = dialect_for(model)
        count = lambda text: self.counter.count_text(model, text)  # noqa: E731
        fit = await fit_prompt(
            model, request.prompt, request.sampling.max_tokens, count, strict=strict
        )
        call = dialect.completion_call(request, fit.max_tokens)
        stops, echo = request.sampling.stop, request.prompt if request.echo else ""
        return Prepared(
            model,
            dialect,
            call,
            fit,
            "completion",
            stops,
            request.include_usage,
            None,
            "" if dialect.echoes else echo,
        )

    # -- running -----------------------------------------------------------------------------

    async def complete(self, prepared: Prepared, caller: Caller) -> Completion:
        model = prepared.model

        def attempt(hold: float) -> Awaitable[Completion]:
            return self.client.complete(
                model, prepared.dialect, prepared.call, hold, prepared.parse_answer
            )

        result = await self.lifecycle.complete(
            model, caller, attempt, _usage_of, prepared.no_output()
        )
        if result.text is not None:
            result.text = prepared.echo + trim_stop(result.text, prepared.stops)
        return result

    def stream(self, prepared: Prepared, caller: Caller) -> AsyncGenerator[Batch, None]:
        """Batches of events: ``Waiting`` while the endpoint wakes, the answer's deltas,
        ``Done``, and ``Usage`` last; ``Error`` (then ``Usage``) if the call fails."""
        model = prepared.model

        def opener(hold: float) -> Awaitable[UpstreamStream]:
            return self.client.open_stream(
                model, prepared.dialect, prepared.call, hold, prepared.parse_event
            )

        tally = Tally(prepared.no_output())
        reader = _Reader(prepared.stops, prepared.echo)
        return self.lifecycle.stream(model, caller, opener, reader, tally)


def _usage_of(result: Completion) -> Usage:
    return result.usage


class _Reader:
    """Upstream deltas → events for one stream: stop sequences trimmed, the end checked."""

    def __init__(self, stops: list[str], echo: str = "") -> None:
        self.echo = echo
        self.trimmer = StopTrimmer(stops)
        self.plain = not self.trimmer.stops  # nothing to hold back: text passes as it comes
        self.finished = False
        self.called = False  # a tool call was streamed

    def items(self, upstream: UpstreamStream) -> AsyncGenerator[list[Delta], None]:
        return upstream.delta_batches()

    def events(self, deltas: list[Delta], tally: Tally) -> Batch:
        batch: Batch = []
        if self.echo:
            batch.append(TextDelta(self.echo))
            self.echo = ""
        for delta in deltas:
            if delta.usage is not None:
                tally.usage = delta.usage
            if self.finished:
                continue
            if self.plain and not (delta.finish_reason or delta.tool_calls):  # most tokens
                if delta.text:
                    batch.append(TextDelta(delta.text, delta.logprobs))
            else:
                self._add(delta, batch)
        if batch and tally.first_at is None:
            tally.first_token()
        return batch

    def end(self, tally: Tally) -> Batch:
        if self.finished:
            return [tally.usage]
        if self.called:
            # TGI ends a streamed tool call without any finish_reason (docs/protocols.md
            # §2.10): the call is complete; clients wait for "tool_calls" to run it.
            return [Done("tool_calls"), tally.usage]
        raise UpstreamProtocolError("the endpoint ended the stream before the answer was complete")

    def _add(self, delta: Delta, batch: Batch) -> None:
        text = self.trimmer.feed(delta.text)
        if delta.finish_reason:
            text += self.trimmer.flush()
        if text:
            batch.append(TextDelta(text, delta.logprobs))
        if delta.tool_calls:
            self.called = True
            batch.append(ToolCallDelta(delta.tool_calls, None if text else delta.logprobs))
        if delta.finish_reason:
            self.finished = True
            batch.append(Done("tool_calls" if self.called else delta.finish_reason))
