"""TGI's ``ChatRequest::try_into_generate`` (``router/src/lib.rs``): from a chat request to the
prompt and the constraint of its generation, then admission (``inference.admit``).

Order, as in TGI: serde first (``deserialize``: ``tools``, ``tool_choice``, ``response_format``
shapes → axum's 422 text/plain); then ``Grammar and tools are mutually exclusive``; the tool
grammar (``Tool with name X not found``) and the template (``template_error``) — those three are
HTTP 422 JSON even when streaming; then validation inside ``admit``: images of a vision model
(``vision.py``), the grammar (``grammar.tgi_validate``), the token limits — in the stream when
streaming.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hfgate.sim import chat, grammar, tools, vision
from hfgate.sim.config import SimConfig
from hfgate.sim.generation import Plan
from hfgate.sim.http import Rejection, text_response
from hfgate.sim.inference import admit, fail
from hfgate.sim.state import Runtime
from hfgate.sim.validation import ShapeError, TGIError

DESERIALIZE = "Failed to deserialize the JSON body into the target type: "


@dataclass(slots=True)
class Prepared:
    """A chat request ready to generate."""

    prompt: str  # the templated text (``/chat_tokenize``'s ``templated_text``)
    grammar: grammar.Grammar | None = None  # response_format
    tool: dict[str, Any] | None = None  # the tool the model calls (``NO_TOOL`` included)
    plain: str | None = None  # no_tool: the prompt TGI generates from again, without tools

    @property
    def calls(self) -> bool:
        """The answer is a tool call (not text)."""
        return self.tool is not None and self.tool is not tools.NO_TOOL


def deserialize(body: dict[str, Any]) -> None:
    """``Rejection`` (422 text/plain) when a tool or grammar field is not serde's shape."""
    try:
        tools.check_shapes(body)
        grammar.tgi_shape(body.get("response_format"))
    except ShapeError as exc:
        raise Rejection(text_response(DESERIALIZE + str(exc), 422)) from None


def prepare(runtime: Runtime, body: dict[str, Any]) -> Prepared:
    """The prompt and constraint; ``TGIError`` (counted) for tool and template errors."""
    config = runtime.config
    try:
        chat.check_tools(body)
        constraint = grammar.tgi_shape(body.get("response_format"))
        offered: list[dict[str, Any]] = []
        if constraint is None and body.get("tools") is not None:
            offered = tools.offered(body["tools"], tools.choice_of(body))
        if offered:
            return _with_tools(config, body, offered)
        return Prepared(_render(config, body["messages"]), constraint)
    except TGIError as exc:
        raise fail(runtime, exc) from None


def _render(config: SimConfig, messages: list[dict[str, Any]], offered: Any = None) -> str:
    return chat.render(config.chat_template, messages, config.bos_token, config.eos_token, offered)


def _with_tools(config: SimConfig, body: dict[str, Any], offered: list[dict[str, Any]]) -> Prepared:
    template = config.chat_template
    in_template = template is not None and chat.template_uses(template, "tools")
    messages = body["messages"]
    prompted = tools.with_tool_prompt(messages, offered, body.get("tool_prompt"), in_template)
    prompt = _render(config, prompted, tools.serialized(offered))
    tool = tools.decide(messages, offered)
    plain = _render(config, messages) if tool is tools.NO_TOOL else None
    return Prepared(prompt, None, tool, plain)


def script(runtime: Runtime, prepared: Prepared) -> str | None:
    """The text the grammar forces, if any; ``TGIError`` (validation, counted)."""
    try:
        if prepared.tool is not None:
            return tools.script(prepared.tool)
        if prepared.grammar is not None:
            schema = grammar.tgi_validate(prepared.grammar, runtime.config.tgi_version)
            return grammar.output(schema)
    except TGIError as exc:
        raise fail(runtime, exc) from None
    return None


def counted(runtime: Runtime, prompt: str) -> str:
    """The text whose tokens count: a vision model's images become image tokens."""
    if not runtime.config.vision:
        return prompt
    try:
        return vision.tgi_prompt(prompt)
    except TGIError as exc:
        raise fail(runtime, exc) from None


def admit_chat(
    runtime: Runtime, prompt: str, params: dict[str, Any], text: str | None = None
) -> list[Plan]:
    """Validate and plan one chat generation (``text``: its constrained output)."""
    counted_prompt = counted(runtime, prompt)
    return admit(runtime, counted_prompt, params, add_bos=False, first_bare=True, script=text)


def admit_all(
    runtime: Runtime, prepared: Prepared, params: dict[str, Any], stream: bool
) -> list[Plan]:
    """Every generation the answer takes: one, or two when the model picked ``no_tool``. A
    stream drops the first as soon as ``ChatState`` sees the name (``chat.rs``), so it holds
    only the tokens read until then; ``generate_internal`` runs it to the end."""
    plans = admit_chat(runtime, prepared.prompt, params, script(runtime, prepared))
    if prepared.plain is None:
        return plans
    first = plans[0]
    if stream:
        cut = tools.no_tool_cut([t.text for t in first.tokens])
        first.tokens, first.top_tokens = first.tokens[:cut], first.top_tokens[:cut]
    try:
        return [first, *admit_chat(runtime, prepared.plain, params)]
    except TGIError:
        runtime.release()  # the first generation's permit
        raise
