"""OpenAI-compatible servers: what vLLM, SGLang and llama.cpp share, and the server that does
not say which it is (docs/protocols.md §3.1).

None of them has TGI's ``/info`` (FastAPI's or llama.cpp's 404); each lists its model at
``GET /v1/models`` and names itself in ``owned_by``: ``"vllm"`` (``vllm/entrypoints/openai/
protocol.py`` ``ModelCard``), ``"sglang"`` (``sglang/srt/entrypoints/openai/protocol.py``),
``"llamacpp"`` (llama.cpp's ``server.cpp``). Each recogniser also confirms with a route of its
own (``/version``, ``/get_model_info``, ``/props``), so a proxy that rewrites ``owned_by``
does not hide the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hfgate.integrations.engines.base import Engine, Found, Probe
from hfgate.integrations.report import Status
from hfgate.upstream import openai_compat

KNOWN_OWNERS = frozenset({"vllm", "sglang", "llamacpp"})


async def listing(probe: Probe) -> list[Mapping[str, Any]] | None:
    """``GET /v1/models``'s entries, when ``/info`` was a 404 and the list is one."""
    if probe.info.status != 404:
        return None
    body = await probe.get_json("/v1/models")
    if openai_compat.parse_models(body) is None:
        return None
    entries = [e for e in body["data"] if isinstance(e, Mapping) and isinstance(e.get("id"), str)]
    return entries or None


def owners(entries: list[Mapping[str, Any]]) -> set[str]:
    return {str(entry.get("owned_by")) for entry in entries}


def listed_facts(entries: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Served ids and the longest ``max_model_len`` (vLLM, SGLang) as the token limit."""
    models = openai_compat.parse_models({"data": entries}) or []
    longest = max((m.max_model_len or 0 for m in models), default=0) or None
    return {
        "engine": "openai",
        "engine_flavour": None,
        "engine_version": None,
        "served_models": [m.id for m in models],
        "max_total_tokens": longest,
        "max_input_tokens": None,
    }


def claims(entries: list[Mapping[str, Any]], owner: str) -> bool | None:
    """True: the list names this engine; False: another known one; None: it does not say."""
    named = owners(entries) & KNOWN_OWNERS
    return (owner in named) if named else None


class Openai(Engine):
    """Last in line: any server with a model list, served through its ``/v1`` routes."""

    limit_name = "max_model_len"

    async def recognise(self, probe: Probe) -> Found | None:
        entries = await listing(probe)
        if entries is None:
            return None
        message = (
            "an OpenAI-compatible server that does not say which engine it is (not vLLM,"
            " SGLang or llama.cpp by their own routes): served through its /v1 routes"
        )
        return Found(self, Status.OK, message, listed_facts(entries))


OPENAI = Openai()
