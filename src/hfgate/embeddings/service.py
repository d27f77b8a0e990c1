"""Embeddings and reranking on TEI endpoints, through the same call lifecycle as chat.

A request runs as one ``Lifecycle.complete`` call — the status board, the cold-start guard,
the key's token limits, metrics and one usage record — whose attempt sends the request's
parts to the endpoint together (``batching``). Upstream errors were translated once, by
``upstream.tei``; what is left here is telling the caller *which* input was too long.

TEI routes used (docs/protocols.md §3.3): ``/embed`` rather than ``/v1/embeddings``, because it
takes ``truncate`` per request (``/v1/embeddings`` truncates only when the server was started
with ``--auto-truncate``, so hfgate could neither refuse nor truncate as asked), and it exists
in every TEI version; its exact token count is the ``x-compute-tokens`` header, which
``/rerank`` (whose body has no usage at all) reports the same way. ``/tokenize`` only when an
input was too long and TEI did not say which.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from hfgate.catalog import Catalog
from hfgate.chat.lifecycle import Caller, Lifecycle
from hfgate.embeddings import batching
from hfgate.embeddings.requests import EmbeddingRequest, RerankRequest
from hfgate.errors import (
    ContextLengthExceeded,
    HfgateError,
    InvalidRequest,
    NotFound,
    UpstreamBadRequest,
    UpstreamProtocolError,
)
from hfgate.upstream import tei
from hfgate.upstream.base import Call
from hfgate.upstream.client import UNREADABLE, EndpointClient, unreadable
from hfgate.upstream.tgi import version_tuple
from hfgate.values.events import Usage
from hfgate.values.request import ContextPolicy
from hfgate.values.served import ServedModel

R = TypeVar("R")
# kind → (one of them, several, the route that serves them)
KINDS = {
    "chat": ("a chat model", "chat models", "POST /v1/chat/completions"),
    "embed": ("an embedding model", "embedding models", "POST /v1/embeddings"),
    "rerank": ("a reranker", "rerankers", "POST /v1/rerank"),
    "classify": ("a classifier", "classifiers", None),
}


@dataclass(frozen=True, slots=True)
class Embeddings:
    vectors: list[list[float]]
    usage: Usage
    exact: bool  # the endpoint counted the tokens (else: an estimate)
    calls: int  # upstream calls the request took


@dataclass(frozen=True, slots=True)
class Ranking:
    scores: list[tuple[int, float]]  # (document index, relevance), most relevant first
    usage: Usage
    exact: bool
    calls: int


def truncates(asked: bool | None, policy: ContextPolicy, model: ServedModel) -> bool:
    """Whether over-long inputs are cut rather than refused: the request's ``truncate``, else
    the context policy (header, key, the model's setting), else the caller's default (refuse
    for API keys, as OpenAI does). The endpoint's own ``--auto-truncate`` is not a policy: it
    is on by default since TEI 1.9.0, and would make every endpoint cut silently."""
    if asked is not None:
        return asked
    return not policy.strict_for(model.context_policy)


def estimate(items: Sequence[tei.Input]) -> int:
    """Tokens of inputs when the endpoint did not count them: one per token id, or about one
    per four bytes of text plus two special tokens."""
    return sum(len(i) if isinstance(i, list) else len(i.encode()) // 4 + 2 for i in items)


class EmbeddingService:
    def __init__(self, catalog: Catalog, client: EndpointClient, lifecycle: Lifecycle) -> None:
        self.catalog, self.client, self.lifecycle = catalog, client, lifecycle

    async def resolve(self, name: str, kind: str) -> ServedModel:
        """The model, if it serves ``kind``; otherwise a 404 or a 400 naming the right route."""
        model = await self.catalog.find(name)
        shown = name if len(name) <= 200 else name[:200] + "…"
        if model is None:
            names = [m.name for m in self.catalog.all() if m.kind == kind]
            raise NotFound(
                f"the model {shown!r} does not exist; {KINDS[kind][1]} served:"
                f" {', '.join(names) or 'none yet: an admin adds them'}",
                param="model",
                code="model_not_found",
            )
        if model.kind != kind:
            what, _, route = KINDS.get(model.kind, (f"a {model.kind} model", "", None))
            use = f"use {route}" if route else "hfgate has no route for it yet"
            raise InvalidRequest(
                f"{shown} is {what}, not {KINDS[kind][0]}: {use}",
                param="model",
                code="wrong_model_kind",
            )
        if model.engine != "tei":
            raise UpstreamProtocolError(f"{shown} runs on {model.engine!r}, not TEI")
        return model

    # -- embeddings ----------------------------------------------------------------------------

    async def embed(
        self, model: ServedModel, request: EmbeddingRequest, caller: Caller, truncate: bool
    ) -> Embeddings:
        _check_dimensions(model, request.dimensions)
        if not truncate:
            _check_token_ids(model, request.inputs)
        inputs, dimensions = request.inputs, request.dimensions

        def part(start: int, items: Sequence[tei.Input], hold: float) -> Awaitable[tei.Embedded]:
            return self._embed_part(model, start, items, truncate, dimensions, hold)

        async def attempt(hold: float) -> list[tei.Embedded]:
            return await self._in_parts(model, inputs, lambda s, items: part(s, items, hold))

        results = await self.lifecycle.complete(
            model, caller, attempt, lambda done: _usage(done, inputs), Usage()
        )
        vectors = [vector for result in results for vector in result.vectors]
        if dimensions is not None and vectors and len(vectors[0]) != dimensions:
            raise _dimensions_ignored(model, dimensions, len(vectors[0]))
        exact = all(result.tokens is not None for result in results)
        return Embeddings(vectors, _usage(results, inputs), exact, len(results))

    async def _embed_part(
        self,
        model: ServedModel,
        start: int,
        items: Sequence[tei.Input],
        truncate: bool,
        dimensions: int | None,
        hold: float,
    ) -> tei.Embedded:
        call = tei.embed_call(items, truncate, dimensions)
        body, headers = await self._send(model, call, hold, start, items, None)
        return _read(model, lambda: tei.parse_embed(body, headers, len(items)))

    # -- reranking -----------------------------------------------------------------------------

    async def rerank(
        self, model: ServedModel, request: RerankRequest, caller: Caller, truncate: bool
    ) -> Ranking:
        query, documents = request.query, request.documents

        def part(start: int, texts: Sequence[str], hold: float) -> Awaitable[tei.Ranked]:
            return self._rerank_part(model, query, start, texts, truncate, hold)

        async def attempt(hold: float) -> list[tei.Ranked]:
            return await self._in_parts(model, documents, lambda s, texts: part(s, texts, hold))

        def usage_of(done: list[tei.Ranked]) -> Usage:
            return _usage(done, [query + document for document in documents])

        results = await self.lifecycle.complete(model, caller, attempt, usage_of, Usage())
        scores = [pair for result in results for pair in result.scores]
        scores.sort(key=lambda pair: (-pair[1], pair[0]))  # most relevant first, then in order
        exact = all(result.tokens is not None for result in results)
        return Ranking(scores, usage_of(results), exact, len(results))

    async def _rerank_part(
        self,
        model: ServedModel,
        query: str,
        start: int,
        texts: Sequence[str],
        truncate: bool,
        hold: float,
    ) -> tei.Ranked:
        call = tei.rerank_call(query, texts, truncate)
        body, headers = await self._send(model, call, hold, start, texts, query)
        ranked = _read(model, lambda: tei.parse_rerank(body, headers, len(texts)))
        return tei.Ranked([(start + i, score) for i, score in ranked.scores], ranked.tokens)

    # -- shared --------------------------------------------------------------------------------

    async def _in_parts(
        self,
        model: ServedModel,
        items: Sequence[Any],
        run: Callable[[int, Sequence[Any]], Awaitable[R]],
    ) -> list[R]:
        """``run`` on each part of at most the endpoint's batch size, together, in order. If
        the endpoint now takes fewer inputs per call than hfgate knew, once more in smaller
        parts."""
        size = model.max_batch or tei.DEFAULT_MAX_BATCH
        try:
            return await _run_parts(items, size, run)
        except tei.BatchTooLarge as exc:
            if not 0 < exc.limit < size:
                raise
            return await _run_parts(items, exc.limit, run)

    async def _send(
        self,
        model: ServedModel,
        call: Call,
        hold: float,
        start: int,
        items: Sequence[tei.Input],
        query: str | None,
    ) -> tuple[Any, Any]:
        try:
            return await self.client.send(model, tei.DIALECT, call, hold)
        except tei.InputTooLong as exc:
            where = await self._culprit(model, exc, items, query, hold)
            raise _too_long(model, exc, start, len(items), where, query is not None) from None

    async def _culprit(
        self,
        model: ServedModel,
        exc: tei.InputTooLong,
        items: Sequence[tei.Input],
        query: str | None,
        hold: float,
    ) -> int | None:
        """Which of ``items`` TEI refused (its message has the numbers, not the position)."""
        extra = len(query) if query is not None else 0
        if exc.unit == "characters":
            return batching.first_over([batching.chars(i) + extra for i in items], exc.limit)
        extra = batching.bound(query) if query is not None else 0
        suspects = batching.suspects(items, exc.limit, extra)
        if len(suspects) <= 1:
            return suspects[0] if suspects else None
        counts = await self._count(model, [items[i] for i in suspects], query, hold)
        found = batching.first_over(counts, exc.limit) if counts is not None else None
        return suspects[found] if found is not None else None

    async def _count(
        self, model: ServedModel, items: list[tei.Input], query: str | None, hold: float
    ) -> list[int] | None:
        """Tokens of each item (with the query, for a pair: TEI's /tokenize takes single
        texts, and a pair has about one special token fewer than its two halves)."""
        texts = [item for item in items if isinstance(item, str)]
        if query is not None:
            texts.append(query)
        try:
            counted = await _run_parts(
                texts,
                model.max_batch or tei.DEFAULT_MAX_BATCH,
                lambda _, part: self._tokenize(model, part, hold),
            )
        except HfgateError:
            return None  # an old TEI without /tokenize: the caller hears of the whole part
        by_text = iter([count for counts in counted for count in counts])
        counts = [len(item) if isinstance(item, list) else next(by_text) for item in items]
        if query is not None:
            extra = next(by_text) - 1
            counts = [count + extra for count in counts]
        return counts

    async def _tokenize(self, model: ServedModel, texts: Sequence[str], hold: float) -> list[int]:
        body, _ = await self.client.send(model, tei.DIALECT, tei.tokenize_call(texts), hold)
        return _read(model, lambda: tei.parse_tokenize(body, len(texts)))


async def _run_parts(
    items: Sequence[Any], size: int, run: Callable[[int, Sequence[Any]], Awaitable[R]]
) -> list[R]:
    pieces = batching.parts(items, size)
    return await batching.in_order([_bind(run, start, part) for start, part in pieces])


def _bind(
    run: Callable[[int, Sequence[Any]], Awaitable[R]], start: int, part: Sequence[Any]
) -> Callable[[], Awaitable[R]]:
    return lambda: run(start, part)


def _read(model: ServedModel, parse: Callable[[], R]) -> R:
    try:
        return parse()
    except UNREADABLE as exc:
        host = model.endpoint.split("://", 1)[-1].split("/", 1)[0]
        raise unreadable(host, "an answer", exc) from None


def _usage(results: Sequence[tei.Embedded | tei.Ranked], items: Sequence[tei.Input]) -> Usage:
    if all(result.tokens is not None for result in results):
        return Usage(sum(result.tokens or 0 for result in results), 0)
    return Usage(estimate(items), 0)


def _too_long(
    model: ServedModel, exc: tei.InputTooLong, start: int, size: int, where: int | None, pair: bool
) -> ContextLengthExceeded:
    name = "documents" if pair else "input"
    if where is None:
        param = f"{name}[{start}:{start + size}]"
        what = f"one of {name}[{start}] to {name}[{start + size - 1}]"
    else:
        param = what = f"{name}[{start + where}]"
    if pair:
        what = f"the query with {what}"
    return ContextLengthExceeded(
        f"{what} has {exc.given:,} {exc.unit}; {model.name} takes at most {exc.limit:,}"
        ' per input: shorten it, or send "truncate": true to have it cut to the limit',
        param=param,
        extra={f"input_{exc.unit}": exc.given, f"max_input_{exc.unit}": exc.limit},
    )


def _check_dimensions(model: ServedModel, dimensions: int | None) -> None:
    if dimensions is not None and version_tuple(model.engine_version) < tei.DIMENSIONS_SINCE:
        raise InvalidRequest(
            f"dimensions needs TEI 1.8.0 or later; {model.name} runs TEI {model.engine_version}:"
            " leave dimensions out, or ask an admin to update the endpoint",
            param="dimensions",
        )


def _dimensions_ignored(model: ServedModel, asked: int, got: int) -> UpstreamBadRequest:
    return UpstreamBadRequest(
        f"{model.name} answered {got}-dimension vectors although dimensions={asked} was asked:"
        " its TEI ignores dimensions (1.8.0 and later take it); leave dimensions out",
        param="dimensions",
    )


def _check_token_ids(model: ServedModel, inputs: Sequence[tei.Input]) -> None:
    """Token ids are counted without asking: too many is a 400 before any call."""
    limit = model.context_window
    for i, item in enumerate(inputs):
        if isinstance(item, list) and limit and len(item) > limit:
            raise ContextLengthExceeded(
                f"input[{i}] has {len(item):,} tokens; {model.name} takes at most {limit:,}"
                ' per input: shorten it, or send "truncate": true to have it cut to the limit',
                param=f"input[{i}]",
                extra={"input_tokens": len(item), "max_input_tokens": limit},
            )
