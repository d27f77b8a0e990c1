"""Chat templates rendered by hfgate, for TGI that cannot apply one itself.

TGI older than 1.4 has no Messages API, and a model without a chat template makes TGI refuse
every chat. For those endpoints hfgate renders the prompt and calls ``/generate_stream``. The
template is the model's own (``chat_template`` from its ``tokenizer_config.json`` on the Hub,
read with the endpoint's token) when the Hub answers; otherwise a well-known fallback —
Llama-2's ``[INST]`` format for Llama-2 models, ChatML for the rest — and the response says
which (``X-Hfgate-Chat-Template``). Templates run in Jinja's immutable sandbox, as in
``transformers``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from hfgate.errors import InvalidRequest, UpstreamUnreachable
from hfgate.upstream.transport import Transport
from hfgate.values.served import ServedModel

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
LLAMA2 = (
    "{% if messages[0]['role'] == 'system' %}{% set system = messages[0]['content'] %}"
    "{% set messages = messages[1:] %}{% else %}{% set system = '' %}{% endif %}"
    "{% for message in messages %}{% if message['role'] == 'user' %}"
    "{% if loop.first and system %}{{ bos_token }}[INST] <<SYS>>\n{{ system }}\n<</SYS>>\n\n"
    "{{ message['content'] }} [/INST]{% else %}{{ bos_token }}[INST] {{ message['content'] }}"
    " [/INST]{% endif %}{% else %} {{ message['content'] }} {{ eos_token }}{% endif %}{% endfor %}"
)


def _raise(message: str) -> None:
    raise TemplateError(message)


_ENV = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
_ENV.globals["raise_exception"] = _raise


@dataclass(frozen=True)
class ChatTemplate:
    source: str
    label: str  # "model" | "fallback (chatml)" | "fallback (llama-2)"
    bos_token: str = "<s>"
    eos_token: str = "</s>"

    def render(self, messages: list[dict[str, Any]]) -> str:
        try:
            template = _ENV.from_string(self.source)
            return template.render(
                messages=messages,
                add_generation_prompt=True,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
            )
        except TemplateError as exc:
            raise InvalidRequest(
                f"the model's chat template refused these messages: {exc}"
            ) from None


def fallback_for(model_name: str) -> ChatTemplate:
    if "llama-2" in model_name.lower():
        return ChatTemplate(LLAMA2, "fallback (llama-2)")
    return ChatTemplate(CHATML, "fallback (chatml)", bos_token="", eos_token="<|im_end|>")


def _token(value: Any, default: str) -> str:
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else default


def from_tokenizer_config(config: Any) -> ChatTemplate | None:
    if not isinstance(config, dict):
        return None
    source = config.get("chat_template")
    if isinstance(source, list):  # named templates: TGI uses the one called "default"
        source = next((t.get("template") for t in source if t.get("name") == "default"), None)
    if not isinstance(source, str):
        return None
    bos, eos = _token(config.get("bos_token"), "<s>"), _token(config.get("eos_token"), "</s>")
    return ChatTemplate(source, "model", bos, eos)


class Templates:
    def __init__(self, transport: Transport, hub_url: str) -> None:
        self.transport = transport
        self.hub_url = hub_url
        self._cache: dict[str, ChatTemplate] = {}

    async def for_model(self, model: ServedModel) -> ChatTemplate:
        cached = self._cache.get(model.name)
        if cached is None:
            cached = await self._fetch(model) or fallback_for(model.model_name)
            self._cache[model.name] = cached
        return cached

    async def _fetch(self, model: ServedModel) -> ChatTemplate | None:
        url = f"{self.hub_url}/{model.model_name}/resolve/main/tokenizer_config.json"
        try:
            reply = await self.transport.request("GET", url, token=model.api_key, timeout=10.0)
        except UpstreamUnreachable:
            return None
        if reply.status != 200:
            return None
        try:
            return from_tokenizer_config(orjson.loads(reply.body))
        except orjson.JSONDecodeError:
            return None
