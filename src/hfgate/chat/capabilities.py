"""What a request asks of a model (images, tools, a JSON schema) against what the model takes.

A model's capabilities are detected at validation (``/info``'s or the Hub's pipeline tag,
the engine and its chat route) and may be overridden by an admin (``catalog``). A request
that needs what the model lacks is refused here, before any call, with what to do instead:
an engine would otherwise misread it — TGI turns an image into the markdown text
``![](url)`` for a text-only model, and a data URL into thousands of prompt tokens.
"""

from __future__ import annotations

from typing import Any

import orjson

from hfgate.errors import InvalidRequest
from hfgate.values.request import ChatRequest
from hfgate.values.served import ServedModel

# TGI's default tool prompt (router/src/lib.rs, ``default_tool_prompt``): appended to the
# prompt whenever tools are sent without a tool_prompt of the caller's.
TOOL_PROMPT_BYTES = 300


def check(model: ServedModel, request: ChatRequest, renders_prompt: bool) -> None:
    if request.images and (not model.vision or renders_prompt):
        raise InvalidRequest(
            f"{model.name} does not take images: it is served as a text model"
            " (pipeline tag text-generation). Send text only, or use a vision-language model;"
            " an admin can mark this model as taking images if it does",
            param="messages",
            code="images_not_supported",
        )
    if request.tools and (not model.tools or renders_prompt):
        raise InvalidRequest(
            f"{model.name} cannot call tools: hfgate reaches it through /generate (an old TGI"
            " or a model without a chat template), which has no tools. Describe the tools in"
            " the prompt instead, or redeploy the endpoint with TGI ≥ 2.0",
            param="tools",
            code="tools_not_supported",
        )
    wants_schema = request.response_format is not None
    if wants_schema and not model.json_schema:
        raise InvalidRequest(
            f"{model.name} cannot constrain its output to a schema (an admin turned it off):"
            " describe the format in the prompt instead",
            param="response_format",
            code="response_format_not_supported",
        )


def tools_overhead(request: ChatRequest) -> int:
    """A bound, in tokens, on what rendering the tools adds to the prompt."""
    if not request.tools:
        return 0
    prompt = len(request.tool_prompt.encode()) if request.tool_prompt else TOOL_PROMPT_BYTES
    return len(orjson.dumps(request.tools)) + prompt + 16


def tool_fields(request: ChatRequest) -> dict[str, Any] | None:
    """What an exact count must send besides the messages for the template to render tools."""
    if not request.tools:
        return None
    fields: dict[str, Any] = {"tools": request.tools}
    if request.tool_prompt:
        fields["tool_prompt"] = request.tool_prompt
    return fields
