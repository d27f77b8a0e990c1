"""SGLang (docs/protocols.md §3.1), read from ``sglang/srt/entrypoints/http_server.py``:
``GET /get_model_info`` → ``{model_path, tokenizer_path, is_generation, …}`` (``is_generation``
false: an embedding or reward model); ``GET /get_server_info`` → its server arguments,
``max_req_input_len`` (the longest prompt it takes) and ``version``; ``POST /tokenize``
``{model, prompt, add_special_tokens}`` → ``{tokens, count, max_model_len}``, and in newer
releases ``{model, messages, tools…}`` too (``serving_tokenize.py``: "Exactly one of 'prompt'
or 'messages' must be provided."), a chat counted as ``serving_chat.py`` renders it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hfgate.integrations.engines.base import (
    HELLO,
    Engine,
    Found,
    Probe,
    json_or_none,
    set_route,
)
from hfgate.integrations.engines.openai import claims, listed_facts, listing
from hfgate.integrations.report import Report, Status

CHAT = "POST /v1/chat/completions"


class Sglang(Engine):
    limit_name = "max_model_len"

    async def recognise(self, probe: Probe) -> Found | None:
        entries = await listing(probe)
        if entries is None or claims(entries, "sglang") is False:
            return None
        model = await probe.get_json("/get_model_info")
        if not isinstance(model, Mapping) or "model_path" not in model:
            if not claims(entries, "sglang"):
                return None
            model = {}
        server = await probe.get_json("/get_server_info")
        facts = listed_facts(entries) | _facts(model, server if isinstance(server, Mapping) else {})
        shown = f"SGLang {facts['engine_version'] or '(version unknown)'}"
        if model.get("is_generation") is False:
            stop = "not checked: hfgate serves only generative models from SGLang"
            message = (
                f"{shown} serves an embedding or reward model here (is_generation: false):"
                " hfgate serves chat models from SGLang, and embeddings from TEI endpoints"
            )
            return Found(self, Status.FAIL, message, facts, stop=stop)
        return Found(self, Status.OK, f"{shown}: served through its OpenAI routes", facts)

    async def chat_route(self, probe: Probe, report: Report) -> None:
        """Newer SGLang counts a chat (``messages``) as it runs one; older ones text only."""
        served = (report.facts.get("served_models") or [None])[0]
        if await _counts(probe, {"model": served, "messages": HELLO}):
            exact = f"{CHAT}; exact token counts from SGLang's POST /tokenize"
            set_route(report, "messages", "sglang", Status.OK, exact)
        elif await _counts(probe, {"model": served, "prompt": "hello"}):
            text = (
                f"{CHAT}; this SGLang's POST /tokenize counts text, not chats: chat prompt"
                " sizes are estimated, completions counted exactly"
            )
            set_route(report, "messages", "sglang-text", Status.OK, text)
        else:
            estimated = f"{CHAT}; POST /tokenize did not count, so prompt sizes are estimated"
            set_route(report, "messages", None, Status.OK, estimated)


async def _counts(probe: Probe, body: dict[str, Any]) -> bool:
    reply = await probe.post("/tokenize", body)
    answer = json_or_none(reply) if reply is not None and reply.status == 200 else None
    return isinstance(answer, Mapping) and isinstance(answer.get("count"), int)


def _facts(model: Mapping[str, Any], server: Mapping[str, Any]) -> dict[str, Any]:
    version, longest = server.get("version"), server.get("max_req_input_len")
    path = model.get("model_path")
    return {
        "engine_flavour": "sglang",
        "engine_version": version if isinstance(version, str) else None,
        "upstream_model_id": path if isinstance(path, str) else None,
        "max_input_tokens": longest if isinstance(longest, int) and longest > 0 else None,
    }


SGLANG = Sglang()
