"""The Messages API's front half: chat template rendering and chat → generate parameters.

Rendering follows ``router/src/infer/chat_template.rs`` (docs/protocols.md §2.9): content chunks are
flattened to one string (images as ``![](url)``), the template gets ``messages``,
``bos_token``, ``eos_token``, ``add_generation_prompt=True`` and ``raise_exception``; when the
last message is the assistant's, the prompt is cut right after its content (prefill).
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, NoReturn

import jinja2
import jinja2.meta
import orjson
from jinja2.sandbox import ImmutableSandboxedEnvironment

from hfgate.sim.validation import TGIError

TEMPLATE_NOT_FOUND = TGIError("Template error: template not found", "template_error", 422)
MUTUALLY_EXCLUSIVE = TGIError(
    "Tool error: Grammar and tools are mutually exclusive", "tool_error", 422
)


class TemplateException(Exception):
    """``raise_exception(...)`` called by a template (e.g. roles that do not alternate)."""


def _raise_exception(message: str) -> NoReturn:
    raise TemplateException(message)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


@functools.lru_cache(maxsize=16)
def compile_template(source: str) -> jinja2.Template:
    # The same environment transformers uses for chat templates.
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
    )
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env.from_string(source)


def flatten(content: Any) -> str:
    """A message's content as the one string TGI hands to the template."""
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    parts = []
    for chunk in content:
        if chunk.get("type") == "image_url":
            parts.append(f"![]({(chunk.get('image_url') or {}).get('url', '')})")
        else:
            parts.append(str(chunk.get("text", "")))
    return "".join(parts)


def _message(raw: dict[str, Any]) -> dict[str, Any]:
    if raw.get("content") is None and raw.get("tool_calls") is not None:
        return {"role": raw["role"], "content": _tool_calls_text(raw["tool_calls"])}
    return {"role": raw["role"], "content": flatten(raw.get("content"))}


def _tool_calls_text(calls: Any) -> str:
    """``serde_json::to_string(&tool_calls)`` of TGI's ``ToolCall``s: fields in struct order,
    ``arguments`` re-serialized as a string (``serialize_as_string``: OpenAI's string arguments
    end up quoted twice)."""
    if not isinstance(calls, list):
        return orjson.dumps(calls).decode()
    shaped = []
    for raw in calls:
        call: dict[str, Any] = raw if isinstance(raw, dict) else {}
        found = call.get("function")
        function: dict[str, Any] = found if isinstance(found, dict) else {}
        arguments = function.get("arguments", function.get("parameters"))
        shaped.append(
            {
                "id": call.get("id"),
                "type": call.get("type"),
                "function": {
                    "description": function.get("description"),
                    "name": function.get("name"),
                    "arguments": orjson.dumps(arguments).decode(),
                },
            }
        )
    return orjson.dumps(shaped).decode()


@functools.lru_cache(maxsize=16)
def template_uses(source: str, name: str) -> bool:
    """Whether the template reads variable ``name`` (minijinja's ``undeclared_variables``)."""
    env = ImmutableSandboxedEnvironment(extensions=["jinja2.ext.loopcontrols"])
    try:
        return name in jinja2.meta.find_undeclared_variables(env.parse(source))
    except jinja2.TemplateSyntaxError:
        return False


def render(
    template: str | None,
    messages: list[dict[str, Any]],
    bos_token: str,
    eos_token: str,
    tools: Any = None,
) -> str:
    """The prompt TGI would build, or ``TGIError`` (422 ``template_error``)."""
    if template is None:
        raise TEMPLATE_NOT_FOUND
    flat = [_message(m) for m in messages]
    try:
        compiled = compile_template(template)
        rendered = compiled.render(
            messages=flat,
            bos_token=bos_token,
            eos_token=eos_token,
            add_generation_prompt=True,
            tools=tools,
        )
    except TemplateException as exc:
        raise TGIError(f"Template error: syntax error: {exc}", "template_error") from None
    except jinja2.TemplateError as exc:
        raise TGIError(f"Template error: {exc}", "template_error") from None
    return _prefill_cut(rendered, flat)


def _prefill_cut(rendered: str, messages: list[dict[str, Any]]) -> str:
    if not messages or messages[-1]["role"] != "assistant":
        return rendered
    content = messages[-1]["content"]
    at = rendered.rfind(content) if content else -1
    return rendered if at < 0 else rendered[: at + len(content)]


def generate_parameters(chat: dict[str, Any]) -> dict[str, Any]:
    """``ChatRequest::try_into_generate``: the ``parameters`` of the generate request."""
    temperature = chat.get("temperature")
    greedy = temperature == 0
    presence = chat.get("presence_penalty")
    max_tokens = chat.get("max_tokens")
    if max_tokens is None:
        max_tokens = chat.get("max_completion_tokens")
    return {
        "temperature": None if greedy else temperature,
        "do_sample": not greedy,
        "repetition_penalty": None if presence is None else presence + 2.0,
        "frequency_penalty": chat.get("frequency_penalty"),
        "top_p": chat.get("top_p"),
        "max_new_tokens": max_tokens,
        "stop": chat.get("stop") or [],
        "seed": chat.get("seed"),
        "top_n_tokens": chat.get("top_logprobs"),
        "details": True,
    }


def check_tools(chat: dict[str, Any]) -> None:
    """``try_into_generate``'s first refusal (``"tools": []`` counts as present); the rest of
    tool calling is ``tools.py``."""
    if chat.get("response_format") is not None and chat.get("tools") is not None:
        raise MUTUALLY_EXCLUSIVE


def response_model(chat: dict[str, Any], served: str) -> str:
    """``"tgi"`` or no model → the served id; any other name is echoed (it is a LoRA id)."""
    model = chat.get("model")
    return served if model in (None, "tgi") else str(model)
