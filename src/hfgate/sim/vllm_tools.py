"""vLLM's tool calling (0.10.x, ``vllm/entrypoints/openai/serving_chat.py`` and
``protocol.py`` ``ChatCompletionRequest.check_tool_usage``), for ``engine="vllm"``.

Refusals (400 ``BadRequestError``): ``tool_choice`` other than ``none``/null without ``tools``
("When using `tool_choice`, `tools` must be set."); a string other than ``auto``/``required``/
``none``; a named function not in ``tools``; and ``tool_choice: "auto"`` — also the default
when ``tools`` come without a ``tool_choice`` — on a server started without
``--enable-auto-tool-choice --tool-call-parser`` (``SimConfig.vllm_auto_tool_choice``):
``"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set``.
The first three are pydantic validation errors; the message is the error's ``msg``, not the
whole pydantic list vLLM prints.

The simulator's decision (deterministic):

* ``none`` or an explicit null: text (vLLM's full generator treats null as "no tool choice").
* ``auto``: text after a ``role: "tool"`` message; otherwise every tool the last user message
  names, in the order it names them (only the first when ``parallel_tool_calls`` is false),
  else the first tool. The model writes hermes-style ``<tool_call>\\n{"name": …, "arguments":
  …}\\n</tool_call>`` blocks, which the parser turns into calls: ``content: null``,
  ``finish_reason: "tool_calls"``.
* ``required``: the same choice (never text); the model writes ``[{"name", "parameters"}]``;
  ``content: ""``, ``finish_reason: "stop"`` (vLLM says ``tool_calls`` only for auto).
* a named function: that one; the model writes the arguments only; ``content: ""``,
  ``finish_reason: "stop"``.

Ids are ``chatcmpl-tool-<32 hex>`` (``make_tool_call_id``), arguments ``json.dumps`` of the
arguments (``", "``/``": "`` separators). Streams: a first chunk with the role and empty
content; per call a header delta ``{"id", "type": "function", "index", "function": {"name"}}``
(named: with the first argument fragment; required: with ``"arguments": ""``), then
``{"index", "function": {"arguments": fragment}}`` deltas; the last chunk carries
``finish_reason: "tool_calls"`` (whatever the choice) and an empty delta (named: an empty
fragment). Usage counts the model's raw output (the blocks above) and EOS. Stream faults
(``token_delay``, ``stream_error_after``, ``drop_after``) count chunks, not tokens, here.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from hfgate.sim import generation, tools

AUTO_REFUSED = (
    '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'
)
_USAGE = 'Correct usage: `{"type": "function", "function": {"name": "my_function"}}`'


def check(body: dict[str, Any], auto_enabled: bool) -> str | None:
    """vLLM's refusal of this request's tool fields (a 400's message), or None."""
    choice = body.get("tool_choice", "auto" if body.get("tools") else None)
    if choice is None or choice == "none":
        return None
    problem = _choice_problem(choice, body.get("tools"))
    if problem is None and choice == "auto" and not auto_enabled:
        return AUTO_REFUSED
    return problem


def _choice_problem(choice: Any, tools_list: Any) -> str | None:
    if tools_list is None:
        return "When using `tool_choice`, `tools` must be set."
    if isinstance(choice, str):
        if choice in ("auto", "required"):
            return None
        return (
            f"Invalid value for `tool_choice`: {choice}! Only named tools, "
            '"none", "auto" or "required" are supported.'
        )
    if not isinstance(choice, dict):
        return f"Invalid value for `tool_choice`: {choice}!"
    function = choice.get("function")
    if not isinstance(function, dict):
        return f"Invalid value for `function`: `{function}` in `tool_choice`! {_USAGE}"
    if "name" not in function:
        return f"Expected field `name` in `function` in `tool_choice`! {_USAGE}"
    names = [(t.get("function") or {}).get("name") for t in tools_list if isinstance(t, dict)]
    if function["name"] not in names:
        return "The tool specified in `tool_choice` does not match any of the specified `tools`"
    return None


@dataclass(frozen=True, slots=True)
class Calls:
    """What the model does with the tools: ``mode`` auto | required | named, and the calls."""

    mode: str
    tools: list[dict[str, Any]]
    arguments: list[dict[str, Any]]

    def raw(self) -> str:
        """The model's own output, which vLLM parses into calls (usage counts it)."""
        pairs = list(zip(self.tools, self.arguments, strict=True))
        if self.mode == "named":
            return json.dumps(self.arguments[0], ensure_ascii=False)
        if self.mode == "required":
            items = [{"name": _name(t), "parameters": a} for t, a in pairs]
            return json.dumps(items, ensure_ascii=False)
        blocks = [{"name": _name(t), "arguments": a} for t, a in pairs]
        return "\n".join(f"<tool_call>\n{json.dumps(b)}\n</tool_call>" for b in blocks)


def _name(tool: dict[str, Any]) -> str:
    return str(tool["function"]["name"])


def decide(body: dict[str, Any]) -> Calls | None:
    """The calls the simulated model makes (None: it answers in text)."""
    tools_list = body.get("tools") or []
    choice = body.get("tool_choice", "auto" if tools_list else None)
    if not tools_list or choice is None or choice == "none":
        return None
    if isinstance(choice, dict):
        chosen = [t for t in tools_list if _name(t) == choice["function"]["name"]][:1]
        return Calls("named", chosen, [tools.arguments(t) for t in chosen])
    messages = body["messages"]
    if choice == "auto" and messages and messages[-1].get("role") == "tool":
        return None
    names = tools.named_in(messages, [_name(t) for t in tools_list])
    if body.get("parallel_tool_calls") is False:
        names = names[:1]
    chosen = [next(t for t in tools_list if _name(t) == n) for n in names] or tools_list[:1]
    mode = "auto" if choice == "auto" else "required"
    return Calls(mode, chosen, [tools.arguments(t) for t in chosen])


def call_id() -> str:
    return f"chatcmpl-tool-{uuid.uuid4().hex}"


def message(calls: Calls) -> dict[str, Any]:
    """The non-streamed ``message``."""
    made = [
        {
            "id": call_id(),
            "type": "function",
            "function": {"name": _name(t), "arguments": json.dumps(a, ensure_ascii=False)},
        }
        for t, a in zip(calls.tools, calls.arguments, strict=True)
    ]
    content = None if calls.mode == "auto" else ""
    return {"role": "assistant", "content": content, "tool_calls": made}


def finish_reason(calls: Calls, plan_reason: str) -> str:
    """``tool_calls`` for auto (``auto_tools_called``), the engine's reason otherwise."""
    return "tool_calls" if calls.mode == "auto" else plan_reason


def deltas(calls: Calls) -> list[dict[str, Any]]:
    """The streamed deltas after the role chunk, the last one included (its ``delta``)."""
    out: list[dict[str, Any]] = []
    for index, (tool, args) in enumerate(zip(calls.tools, calls.arguments, strict=True)):
        pieces = generation.PIECES.findall(json.dumps(args, ensure_ascii=False))
        header: dict[str, Any] = {"name": _name(tool)}
        if calls.mode == "named":
            header["arguments"] = pieces.pop(0) if pieces else ""
        elif calls.mode == "required":
            header["arguments"] = ""
        call = {"id": call_id(), "type": "function", "index": index, "function": header}
        out.append({"tool_calls": [call]})
        out += [{"tool_calls": [{"index": index, "function": {"arguments": p}}]} for p in pieces]
    last: dict[str, Any] = {}
    if calls.mode == "named":  # the EOS token's empty text, still a tool delta
        last = {"tool_calls": [{"index": 0, "function": {"arguments": ""}}]}
    return [*out, last]
