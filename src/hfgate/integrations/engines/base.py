"""What every engine's checks share: the endpoint's answers (``Probe``) and the ``Engine`` hooks.

An engine is recognised from what the container answers to cheap ``GET`` routes; once it is, the
later checks (task, context, chat route) ask it what holds for its kind of server. Engines are
stateless: what they learn goes into the report's facts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hfgate.catalog.catalog import VISION_TASK
from hfgate.errors import UpstreamUnreachable
from hfgate.integrations.report import Report, Status
from hfgate.upstream.transport import Reply

TEXT_GENERATION = "text-generation"
HELLO = [{"role": "user", "content": "hello"}]  # what the tokenize probes count

# (method, path, JSON body) → the endpoint's answer
Ask = Callable[[str, str, Any], Awaitable[Reply]]


def json_or_none(reply: Reply | None) -> Any:
    if reply is None:
        return None
    try:
        return reply.json()
    except Exception:
        return None


class Probe:
    """The endpoint's answers during one validation; a ``GET`` is sent at most once, so the
    recognisers tried one after the other share what the earlier ones asked."""

    def __init__(self, ask: Ask, info: Reply) -> None:
        self._ask = ask
        self.info = info
        self._got: dict[str, Reply | None] = {"/info": info}

    async def get(self, path: str) -> Reply | None:
        """The answer, or None when the endpoint could not be reached for it."""
        if path not in self._got:
            self._got[path] = await self._send("GET", path, None)
        return self._got[path]

    async def get_json(self, path: str) -> Any:
        """The body of a 200 JSON answer, else None."""
        reply = await self.get(path)
        return json_or_none(reply) if reply is not None and reply.status == 200 else None

    async def post(self, path: str, body: Any) -> Reply | None:
        return await self._send("POST", path, body)

    async def _send(self, method: str, path: str, body: Any) -> Reply | None:
        try:
            return await self._ask(method, path, body)
        except UpstreamUnreachable:
            return None


@dataclass
class Found:
    """A recogniser's verdict: the engine line of the checklist and the facts it learned."""

    engine: Engine
    status: Status
    message: str
    facts: dict[str, Any] = field(default_factory=dict)
    stop: str | None = None  # why the later checks cannot run (a FAIL that ends the checklist)


class Engine:
    """One engine's part of the checklist. Subclasses recognise themselves and say what their
    limits are called; the defaults are a text-generation server's."""

    limit_fact = "max_total_tokens"  # the fact holding the endpoint's token limit
    limit_name = "max_total_tokens"  # what the engine calls that limit, for messages
    limit_source = "the endpoint"  # where that limit was read
    unit = ""  # what the limit is of: " per input", " per request"
    window_from_endpoint = False  # a credential may leave context_window out

    async def recognise(self, probe: Probe) -> Found | None:
        raise NotImplementedError

    def judge_task(self, tag: str, source: str, facts: Mapping[str, Any]) -> tuple[Status, str]:
        if tag == TEXT_GENERATION:
            return Status.OK, f"text-generation (from {source})"
        if tag == VISION_TASK:
            return Status.OK, f"image-text-to-text: takes images (from {source})"
        return Status.FAIL, (
            f"the model's task is {tag!r} (from {source}), not 'text-generation' or"
            " 'image-text-to-text': hfgate serves generative language models only"
        )

    def limits(self, facts: Mapping[str, Any]) -> str:
        """What else the context line should say about the endpoint's limits ("; …")."""
        return ""

    async def chat_route(self, probe: Probe, report: Report) -> None:
        set_route(report, "messages", None, Status.OK, "POST /v1/chat/completions")


def set_route(
    report: Report, route: str | None, tokenizer: str | None, status: Status, message: str
) -> None:
    """The chat route check, and the two facts the hot path reads from it."""
    report.facts["chat_route"] = route
    report.facts["tokenize_route"] = tokenizer
    report.add("chat_route", status, message)
