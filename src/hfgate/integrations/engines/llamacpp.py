"""llama.cpp's server (docs/protocols.md §3.4; the facts themselves in ``upstream/llamacpp.py``):
no ``/info``, a ``/v1/models`` entry ``owned_by: "llamacpp"``, and ``GET /props`` with the
context of one request (``default_generation_settings.n_ctx``), the slots, the GGUF's chat
template and the build. The model's id is the GGUF's path (or ``--alias``), rarely a repo id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hfgate.integrations.engines.base import Engine, Found, Probe, set_route
from hfgate.integrations.engines.openai import claims, listing
from hfgate.integrations.report import Report, Status
from hfgate.upstream import llamacpp
from hfgate.upstream.llamacpp import Props

CHAT = "POST /v1/chat/completions"


class LlamaCpp(Engine):
    limit_name = "n_ctx"
    limit_source = "/props"
    unit = " per request"

    async def recognise(self, probe: Probe) -> Found | None:
        entries = await listing(probe)
        if entries is None or claims(entries, llamacpp.OWNED_BY) is False:
            return None
        body = await probe.get_json("/props")
        if not llamacpp.looks_like_props(body) and not claims(entries, llamacpp.OWNED_BY):
            return None
        props = llamacpp.parse_props(body if llamacpp.looks_like_props(body) else {})
        facts = _facts(props, entries)
        return Found(self, Status.OK, _line(props), facts)

    def limits(self, facts: Mapping[str, Any]) -> str:
        slots = facts.get("total_slots")
        return f"; {slots} slots serve requests side by side" if isinstance(slots, int) else ""

    async def chat_route(self, probe: Probe, report: Report) -> None:
        if report.facts.get("has_chat_template"):
            exact = (
                f"{CHAT} with the GGUF's chat template; exact token counts from POST"
                " /apply-template and /tokenize"
            )
            set_route(report, "messages", "llamacpp", Status.OK, exact)
            return
        set_route(
            report,
            "messages",
            "llamacpp",
            Status.WARN,
            f"{CHAT}, but the GGUF has no chat template: llama.cpp formats chats as ChatML,"
            " which may not be how the model was trained (the server's --chat-template sets one)",
        )


def _facts(props: Props, entries: list[Mapping[str, Any]]) -> dict[str, Any]:
    meta = entries[0].get("meta")
    trained = meta.get("n_ctx_train") if isinstance(meta, Mapping) else None
    return {
        "engine": "llamacpp",
        "engine_version": props.build,
        "served_models": [str(entry["id"]) for entry in entries],
        "max_total_tokens": props.n_ctx,
        "max_input_tokens": None,
        "total_slots": props.total_slots,
        "has_chat_template": bool(props.chat_template),
        "n_ctx_train": trained if isinstance(trained, int) else None,
        "vision": props.vision,
    }


def _line(props: Props) -> str:
    build = props.build or "(build unknown)"
    size = f"; {props.n_ctx:,} tokens per request" if props.n_ctx else ""
    return f"llama.cpp {build} (llama-server): served through its OpenAI routes{size}"


LLAMACPP = LlamaCpp()
