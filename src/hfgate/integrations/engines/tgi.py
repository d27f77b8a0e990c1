"""Text-generation-inference: ``/info`` (docs/protocols.md §2.2) and the chat route by version
and template (§2.5, §2.9): TGI < 1.4 has no Messages API, 1.4 – 2.2 no ``/chat_tokenize``, and
a model without a chat template makes TGI refuse every chat, so hfgate renders one itself."""

from __future__ import annotations

from hfgate.integrations.engines.base import HELLO, Engine, Found, Probe, json_or_none, set_route
from hfgate.integrations.report import Report, Status
from hfgate.upstream import tgi


class Tgi(Engine):
    async def recognise(self, probe: Probe) -> Found | None:
        body = json_or_none(probe.info)
        if probe.info.status != 200 or not tgi.looks_like_tgi(body):
            return None
        info = tgi.parse_info(body)
        facts = {
            "engine": "tgi",
            "engine_version": info.version,
            "upstream_model_id": info.model_id,
            "pipeline_tag": info.pipeline_tag,
            "max_total_tokens": info.max_total_tokens,
            "max_input_tokens": info.max_input_tokens,
        }
        version = info.version or "(version unknown)"
        return Found(self, Status.OK, f"text-generation-inference {version}", facts)

    async def chat_route(self, probe: Probe, report: Report) -> None:
        info = tgi.TgiInfo("", None, 0, None, report.facts.get("engine_version"))
        if not info.has_messages_api:
            tokenizer = "tokenize" if info.version_tuple >= (1, 4, 0) else None
            message = (
                f"TGI {info.version} predates the Messages API: hfgate renders the chat template"
                " itself and uses POST /generate_stream"
            )
            set_route(report, "generate", tokenizer, Status.OK, message)
        elif not info.has_chat_tokenize:
            messages_api = "POST /v1/chat/completions (Messages API)"
            set_route(report, "messages", "tokenize", Status.OK, messages_api)
        else:
            await _chat_template(probe, report)


async def _chat_template(probe: Probe, report: Report) -> None:
    """``/chat_tokenize`` renders the template without generating: a template error says the
    model has none."""
    reply = await probe.post("/chat_tokenize", {"model": "tgi", "messages": HELLO})
    if reply is not None and reply.status == 200:
        messages_api = "POST /v1/chat/completions (Messages API)"
        set_route(report, "messages", "chat_tokenize", Status.OK, messages_api)
    elif reply is not None and "template" in reply.text().lower():
        set_route(
            report,
            "generate",
            "tokenize",
            Status.WARN,
            "the model has no chat template, so TGI's Messages API refuses chats: hfgate will"
            " render a standard template itself and use POST /generate_stream",
        )
    else:
        answered = f"answered HTTP {reply.status}" if reply is not None else "did not answer"
        set_route(
            report,
            "messages",
            "tokenize",
            Status.WARN,
            f"POST /chat_tokenize {answered}; assuming the Messages API works",
        )


TGI = Tgi()
