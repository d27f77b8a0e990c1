"""vLLM (docs/protocols.md §3.1): ``GET /version`` → ``{"version": "0.11.0"}``; ``POST
/tokenize`` ``{model, prompt | messages, add_generation_prompt}`` → ``{count, max_model_len,
tokens}`` renders the chat template as a chat would, without generating (``vllm/entrypoints/
openai/api_server.py``, ``serving_tokenization.py``). Without a chat template vLLM refuses
chats (400 "… must provide a chat template …"), and the same tokenize call says so.
"""

from __future__ import annotations

from collections.abc import Mapping

from hfgate.integrations.engines.base import HELLO, Engine, Found, Probe, json_or_none, set_route
from hfgate.integrations.engines.openai import claims, listed_facts, listing
from hfgate.integrations.report import Report, Status

CHAT = "POST /v1/chat/completions"


class Vllm(Engine):
    limit_name = "max_model_len"

    async def recognise(self, probe: Probe) -> Found | None:
        entries = await listing(probe)
        if entries is None or claims(entries, "vllm") is False:
            return None
        answer = await probe.get_json("/version")
        version = answer.get("version") if isinstance(answer, Mapping) else None
        if not isinstance(version, str) and not claims(entries, "vllm"):
            return None
        facts = listed_facts(entries) | {"engine_flavour": "vllm", "engine_version": version}
        shown = f"vLLM {version}" if isinstance(version, str) else "vLLM (version unknown)"
        return Found(self, Status.OK, f"{shown}: served through its OpenAI routes", facts)

    async def chat_route(self, probe: Probe, report: Report) -> None:
        served = (report.facts.get("served_models") or [None])[0]
        reply = await probe.post("/tokenize", {"model": served, "messages": HELLO})
        count = json_or_none(reply) if reply is not None and reply.status == 200 else None
        if isinstance(count, Mapping) and isinstance(count.get("count"), int):
            exact = f"{CHAT}; exact token counts from vLLM's POST /tokenize"
            set_route(report, "messages", "vllm", Status.OK, exact)
        elif reply is not None and "chat template" in reply.text(400).lower():
            set_route(
                report,
                "messages",
                "vllm",
                Status.WARN,
                "the model has no chat template, so vLLM refuses chats (completions work):"
                " start vLLM with --chat-template, or use a model that has one",
            )
        else:
            answered = f"answered HTTP {reply.status}" if reply is not None else "did not answer"
            estimated = f"{CHAT}; POST /tokenize {answered}, so prompt sizes are estimated"
            set_route(report, "messages", None, Status.OK, estimated)


VLLM = Vllm()
