"""TGI's tool calling (v3.3.x): tool choice, the tool prompt, the "model's" decision, the answer.

Sources: ``router/src/lib.rs`` (``ChatRequest::try_into_generate``, ``ToolChoice`` and its
untagged ``ToolTypeDeserializer``, ``FunctionDefinition``, ``next_tool_call_id``),
``router/src/infer/tool_grammar.rs`` (``ToolGrammar::apply``), ``router/src/chat.rs``
(``parse_output``, ``ChatState``), ``router/src/infer/chat_template.rs`` (``apply``).

* ``tool_choice``: ``"auto"`` (also absent or null), ``"none"``, ``"required"``, any other
  string is a function name, or ``{"type": "function", "function": {"name": …}}``. A name not in
  ``tools`` → 422 ``Tool error: Tool with name X not found``. ``none`` → no tools at all (plain
  prompt, plain answer). Without ``tools`` the choice is ignored.
* The tools offered: a named choice → that tool; ``required`` → all; ``auto`` → all plus TGI's
  ``no_tool`` ("Open ended response with no specific tool selected").
* The prompt: when the template does not use ``tools``, ``"\\n---\\n" + json(tools) + "\\n" +
  tool_prompt`` is appended to the last message (if it has content); otherwise only
  ``"\\n---\\n" + tool_prompt``, and ``tools`` goes to the template. Tools serialize with
  ``arguments`` as a JSON *string* (``serialize_as_string``). ``tool_prompt`` empty or absent →
  ``DEFAULT_TOOL_PROMPT``. So tools and ``tool_prompt`` cost prompt tokens.
* The output is grammar-constrained JSON ``{"function": {"_name": name, …arguments}}``.

The simulator's decision (deterministic; a real model decides by itself):

* ``auto``: if the last message has role ``"tool"``, the model picks ``no_tool`` and TGI
  generates again without tools (a text answer; usage is the second generation's) — so an agent
  loop of call → tool result → answer ends. Otherwise it calls the first offered tool whose
  name appears in the last user message, else the first tool.
* ``required``: the same without the ``no_tool`` rule. A named choice: that tool.
* Arguments: ``schemagen.instance`` of the function's ``parameters`` (alias ``arguments``).

Answers: non-streamed, ``message`` = ``{"role": "assistant", "tool_calls": [{"id": "0", "type":
"function", "function": {"description": null, "name", "arguments": "<compact JSON>"}}]}`` (no
``content``), ``finish_reason`` the generation's (``"stop"``); output that is not a complete
call (cut by ``max_tokens``) → 422 ``Tool error: Failed to parse generated text: …``. Streamed:
``ToolStream`` replays ``ChatState`` token by token — the token that closes the name becomes
``{`` with the name, later ones are argument fragments with ``name: null``, the last brace is
trimmed, and nothing is sent for EOS, so no chunk carries a ``finish_reason``; the id is
``next_tool_call_id``. (An argument-less function streams ``"{"`` only, then an empty content
delta with the finish reason: TGI's behaviour, kept.) The sim streams this v3.2+ format for
every ``tgi_version``.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from hfgate.sim import chat, schemagen
from hfgate.sim.validation import ShapeError, TGIError

DEFAULT_TOOL_PROMPT = (
    "\nGiven the functions available, please respond with a JSON for a function call with its "
    "proper arguments that best answers the given prompt. Respond in the format {name: function "
    "name, parameters: dictionary of argument name and its value}.Do not use variables.\n"
)
NO_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "description": "Open ended response with no specific tool selected",
        "name": "no_tool",
        "arguments": {"type": "object"},
    },
}
_USIZE = re.compile(r"\+?[0-9]+")


# -- request shapes (serde) -----------------------------------------------------------------------


def check_shapes(body: dict[str, Any]) -> None:
    """``ShapeError`` with serde's message when ``tools`` or ``tool_choice`` do not deserialize."""
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise ShapeError(f"tools: invalid type: {_kind(tools)}, expected a sequence")
        for i, tool in enumerate(tools):
            _check_tool(tool, f"tools[{i}]")
    choice = body.get("tool_choice")
    if choice is not None and not isinstance(choice, str) and not _typed_choice(choice):
        raise ShapeError(
            "tool_choice: data did not match any variant of untagged enum ToolTypeDeserializer"
        )


def _check_tool(tool: Any, path: str) -> None:
    if not isinstance(tool, dict):
        raise ShapeError(f"{path}: invalid type: {_kind(tool)}, expected struct Tool")
    for field in ("type", "function"):
        if field not in tool:
            raise ShapeError(f"{path}: missing field `{field}`")
    function = tool["function"]
    if not isinstance(function, dict):
        raise ShapeError(f"{path}.function: invalid type: {_kind(function)}, expected struct")
    if not isinstance(function.get("name"), str):
        raise ShapeError(f"{path}.function: missing field `name`")
    if "arguments" not in function and "parameters" not in function:
        raise ShapeError(f"{path}.function: missing field `arguments`")


def _typed_choice(choice: Any) -> bool:
    function = choice.get("function") if isinstance(choice, dict) else None
    return (
        choice.get("type") == "function"
        and isinstance(function, dict)
        and isinstance(function.get("name"), str)
    )


def _kind(value: Any) -> str:
    return "map" if isinstance(value, dict) else type(value).__name__


# -- what is offered ------------------------------------------------------------------------------


def choice_of(body: dict[str, Any]) -> str | tuple[str, str]:
    """``"auto" | "none" | "required"`` or ``("function", name)``."""
    choice = body.get("tool_choice")
    if choice is None or choice == "auto":
        return "auto"
    if choice in ("none", "required"):
        return str(choice)
    if isinstance(choice, dict):
        return ("function", str(choice["function"]["name"]))
    return ("function", str(choice))


def offered(tools: list[dict[str, Any]], choice: str | tuple[str, str]) -> list[dict[str, Any]]:
    """``ToolGrammar::apply``: the tools the grammar allows (empty: no tools at all)."""
    if isinstance(choice, tuple):
        for tool in tools:
            if tool["function"]["name"] == choice[1]:
                return [tool]
        raise TGIError(f"Tool error: Tool with name {choice[1]} not found", "tool_error", 422)
    if choice == "none":
        return []
    return [*tools, NO_TOOL] if choice == "auto" else list(tools)


def parameters(tool: dict[str, Any]) -> Any:
    function = tool["function"]
    return function["arguments"] if "arguments" in function else function.get("parameters")


def serialized(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tools as TGI serializes them (into the prompt and the template's ``tools``)."""
    return [
        {
            "type": tool.get("type"),
            "function": {
                "description": tool["function"].get("description"),
                "name": tool["function"]["name"],
                "arguments": compact(parameters(tool)),
            },
        }
        for tool in tools
    ]


def compact(value: Any) -> str:
    """``serde_json::to_string``: no spaces, key order kept (TGI enables ``preserve_order``)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def with_tool_prompt(
    messages: list[dict[str, Any]], tools: list[dict[str, Any]], prompt: Any, in_template: bool
) -> list[dict[str, Any]]:
    """``ChatTemplate::apply``: the tool text appended to the last message's content."""
    tool_prompt = prompt if isinstance(prompt, str) and prompt else DEFAULT_TOOL_PROMPT
    text = f"\n---\n{tool_prompt}"
    if not in_template:
        text = f"\n---\n{compact(serialized(tools))}\n{tool_prompt}"
    if not messages or messages[-1].get("content") is None:
        return messages  # a tool-calls message has no content to push onto
    last = messages[-1]
    return [*messages[:-1], {**last, "content": chat.flatten(last["content"]) + text}]


# -- the model's decision -------------------------------------------------------------------------


def last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return chat.flatten(message.get("content"))
    return ""


def named_in(messages: list[dict[str, Any]], names: list[str]) -> list[str]:
    """The names the last user message mentions, in the order it mentions them."""
    text = last_user_text(messages)
    found = [(text.find(name), i, name) for i, name in enumerate(names) if name in text]
    return [name for _, _, name in sorted(found)]


def decide(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
    """The tool the simulated model calls among ``tools`` (``no_tool`` included under auto)."""
    real = [t for t in tools if t is not NO_TOOL]
    if len(real) < len(tools) and messages and messages[-1].get("role") == "tool":
        return NO_TOOL
    names = [t["function"]["name"] for t in real]
    mentioned = [n for n in names if n in last_user_text(messages)]
    return real[names.index(mentioned[0])] if mentioned else (real or tools)[0]


def arguments(tool: dict[str, Any]) -> dict[str, Any]:
    """The call's arguments: an instance of the function's schema (an object)."""
    schema = parameters(tool)
    if not isinstance(schema, dict):
        return {}
    value = schemagen.instance(schema)
    return value if isinstance(value, dict) else {}


def script(tool: dict[str, Any]) -> str:
    """What the constrained model writes: ``{"function": {"_name": …, …arguments}}``."""
    if tool is NO_TOOL:
        return json.dumps({"function": {"_name": "no_tool"}})
    body = {"_name": tool["function"]["name"], **arguments(tool)}
    return json.dumps({"function": body}, ensure_ascii=False)


# -- the answer -----------------------------------------------------------------------------------


def parse_output(text: str) -> tuple[str, dict[str, Any]]:
    """``chat::parse_output``: ``(name, arguments)``; 422 ``tool_error`` for a cut call."""
    call = _call(text)
    if call is None:
        detail = f"EOF while parsing a value at line 1 column {len(text)} {json.dumps(text)}"
        raise TGIError(f"Tool error: Failed to parse generated text: {detail}", "tool_error", 422)
    function = call["function"]
    return function["_name"], {k: v for k, v in function.items() if k != "_name"}


def _call(text: str) -> dict[str, Any] | None:
    """``serde_json::from_str::<Call>``: ``{"function": {"_name": str, …}}`` or None."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    function = value.get("function")
    if isinstance(function, dict) and isinstance(function.get("_name"), str):
        return {"function": function}
    return None


def tool_call_message(name: str, args: dict[str, Any]) -> dict[str, Any]:
    function = {"description": None, "name": name, "arguments": compact(args)}
    return {
        "role": "assistant",
        "tool_calls": [{"id": "0", "type": "function", "function": function}],
    }


def next_tool_call_id(messages: list[dict[str, Any]]) -> str:
    """One more than the largest numeric id of earlier calls, ``"0"`` without any; a UUID as
    soon as one id is not a number. Only messages whose body is ``tool_calls`` count (serde's
    untagged ``MessageBody`` prefers ``content`` when a message has both)."""
    top = 0
    for message in messages:
        if message.get("content") is not None or not isinstance(message.get("tool_calls"), list):
            continue
        for call in message["tool_calls"]:
            text = str(call.get("id")) if isinstance(call, dict) else ""
            if not _USIZE.fullmatch(text):
                return str(uuid.uuid4())
            top = max(top, int(text) + 1)
    return str(top)


@dataclass(frozen=True, slots=True)
class ToolDelta:
    """One streamed tool event: ``arguments`` (None: a special token, sent as empty content)."""

    name: str | None
    arguments: str | None


NO_TOOL_EVENT = "no_tool"


class ToolStream:
    """``chat.rs`` ``ChatState`` with ``using_tools``: buffer until the name, then fragments."""

    def __init__(self) -> None:
        self.text = ""
        self.in_tool = False

    def push(self, text: str, special: bool) -> ToolDelta | str | None:
        self.text += text
        if not self.in_tool:
            partial = self.text
            while partial and (partial[-1].isspace() or partial[-1] in ",}"):
                partial = partial[:-1]
            call = _call(partial + "}}")
            if call is None:
                return None
            name = call["function"]["_name"]
            if name == "no_tool":
                return NO_TOOL_EVENT
            self.in_tool = True
            return ToolDelta(name, "{")
        if _call(self.text) is not None:
            self.in_tool = False  # back to buffering: nothing more is sent (EOS included)
            fragment = text.rstrip()
            return ToolDelta(None, fragment[:-1] if fragment.endswith("}") else fragment)
        return ToolDelta(None, None if special else text)


def no_tool_cut(tokens: list[str]) -> int:
    """How many tokens TGI reads before it sees ``no_tool`` (then it generates again)."""
    stream = ToolStream()
    for i, text in enumerate(tokens):
        if stream.push(text, False) == NO_TOOL_EVENT:
            return i + 1
    return len(tokens)
