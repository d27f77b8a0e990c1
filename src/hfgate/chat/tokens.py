"""Counting prompt tokens with the endpoint's own tokenizer, cached; a safe bound otherwise.

The bound: every token of a byte-level or byte-fallback tokenizer covers at least one byte,
so a prompt's UTF-8 size (plus generous room for the chat template's own text) is never less
than its token count. When the bound already fits the context window, nothing is sent to the
endpoint at all — the common case costs no round trip. Only near the limit does hfgate ask the
endpoint for exact counts, by the ``tokenize_route`` validation found (docs/protocols.md §5):
TGI ``/chat_tokenize`` and ``/tokenize``; vLLM and SGLang ``/tokenize`` (chats too, except on
SGLang before it took ``messages``: ``sglang-text``); llama.cpp ``/apply-template`` then
``/tokenize``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from hfgate.upstream import llamacpp
from hfgate.upstream.platform import platform_error
from hfgate.upstream.transport import Transport
from hfgate.values.served import ServedModel

TEMPLATE_BYTES_PER_MESSAGE = 64  # role headers and separators of common chat templates
TEMPLATE_BYTES_FIXED = 256  # BOS, default system preambles (e.g. Llama 3.1's date lines)
CACHE_SIZE = 4096
# An image costs what the model's vision encoder makes of it: 576 tokens for LLaVA 1.5, up to
# 2,928 for LLaVA-NeXT's tiles, 64-320 for Idefics2/3, resolution-dependent for Qwen2-VL.
# The bound takes a generous ceiling; exact counts come from the endpoint when it can count.
IMAGE_TOKENS_BOUND = 4096
TGI_ROUTES = ("chat_tokenize", "tokenize")  # text through TGI's /tokenize {"inputs"}
COUNTING_ROUTES = ("vllm", "sglang", "sglang-text")  # /tokenize {model, prompt} → {count}


def message_bytes(message: dict[str, Any]) -> int:
    content = message.get("content")
    if isinstance(content, str):
        size = len(content.encode())
    elif isinstance(content, list):  # text and image parts (values.request keeps images)
        size = sum(
            len(part["text"].encode()) if part.get("type") == "text" else IMAGE_TOKENS_BOUND
            for part in content
        )
    else:
        size = 0
    if message.get("tool_calls"):
        size += len(str(message["tool_calls"]).encode())
    return size + TEMPLATE_BYTES_PER_MESSAGE


def bound(messages: Sequence[dict[str, Any]]) -> int:
    """An upper bound on the templated prompt's token count."""
    return TEMPLATE_BYTES_FIXED + sum(message_bytes(m) for m in messages)


def text_bound(text: str) -> int:
    return TEMPLATE_BYTES_FIXED + len(text.encode())


def estimate(messages: Sequence[dict[str, Any]]) -> int:
    """A realistic guess (about 3 bytes a token, plus template tokens) for when the endpoint
    cannot count: used to trim, never to refuse — the engine has the last word then."""
    content = sum(message_bytes(m) - TEMPLATE_BYTES_PER_MESSAGE for m in messages)
    return 32 + 8 * len(messages) + -(-content // 3)


def text_estimate(text: str, template_tokens: int = 8) -> int:
    return template_tokens + -(-len(text.encode()) // 3)


class TokenCounter:
    """Exact counts from the endpoint, remembered by content (LRU)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self._cache: OrderedDict[tuple[str, int, str], int] = OrderedDict()

    def _remember(self, key: tuple[str, int, str], value: int) -> int:
        self._cache[key] = value
        self._cache.move_to_end(key)
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return value

    async def count_chat(
        self,
        model: ServedModel,
        messages: list[dict[str, Any]],
        tools: dict[str, Any] | None = None,
    ) -> int | None:
        """Tokens of the templated chat prompt, or None if the endpoint cannot tell.
        ``tools``: the request's ``tools``/``tool_prompt``, which TGI's template renders too."""
        if model.tokenize_route in (None, "tokenize", "sglang-text"):  # no chat counts there
            return None
        key = (_counted_by(model), hash(repr((messages, tools))), "chat")
        if key in self._cache:
            return self._cache[key]
        if model.tokenize_route != "chat_tokenize":
            count = await self._other_chat(model, messages, tools)
            return None if count is None else self._remember(key, count)
        body = {"model": "tgi", "messages": messages, **(tools or {})}
        answer = await self._post(model, "/chat_tokenize", body)
        if not isinstance(answer, dict) or not isinstance(answer.get("tokenize_response"), list):
            return None
        return self._remember(key, len(answer["tokenize_response"]))

    async def count_text(self, model: ServedModel, text: str) -> int | None:
        """Tokens of a raw prompt (``/tokenize`` adds BOS, as generation does)."""
        if model.tokenize_route is None:
            return None
        key = (_counted_by(model), hash(text), "text")
        if key in self._cache:
            return self._cache[key]
        if model.tokenize_route not in TGI_ROUTES:
            count = await self._other_text(model, text)
            return None if count is None else self._remember(key, count)
        answer = await self._post(model, "/tokenize", {"inputs": text})
        if not isinstance(answer, list):
            return None
        return self._remember(key, len(answer))

    async def _other_chat(
        self, model: ServedModel, messages: list[dict[str, Any]], tools: dict[str, Any] | None
    ) -> int | None:
        """vLLM and SGLang render and count a chat in one call; llama.cpp renders it
        (``/apply-template``) and counts the text as its chat route tokenizes it."""
        if model.tokenize_route == "llamacpp":
            body = llamacpp.template_body(messages, tools)
            prompt = llamacpp.templated_prompt(await self._post(model, "/apply-template", body))
            return None if prompt is None else await self._other_text(model, prompt)
        listed = {"tools": tools["tools"]} if tools else {}  # tool_prompt is TGI's
        body = {"model": model.served_model, "messages": messages, **listed}
        return _count(await self._post(model, "/tokenize", body))

    async def _other_text(self, model: ServedModel, text: str) -> int | None:
        if model.tokenize_route == "llamacpp":
            answer = await self._post(model, "/tokenize", llamacpp.tokenize_body(text))
            return llamacpp.token_count(answer)
        if model.tokenize_route in COUNTING_ROUTES:
            body = {"model": model.served_model, "prompt": text}
            return _count(await self._post(model, "/tokenize", body))
        return None

    async def _post(self, model: ServedModel, path: str, body: dict[str, Any]) -> Any:
        reply = await self.transport.request(
            "POST", model.endpoint + path, token=model.api_key, json_body=body, timeout=10.0
        )
        if reply.status != 200:
            error = platform_error(reply.status, reply.text())
            if error is not None:
                raise error
            return None
        return reply.json()


def _count(answer: Any) -> int | None:
    """vLLM's and SGLang's ``/tokenize`` answer ``{"count", "max_model_len", "tokens"}``."""
    count = answer.get("count") if isinstance(answer, dict) else None
    return count if isinstance(count, int) else None


def _counted_by(model: ServedModel) -> str:
    """Whose counts a cache entry holds: a name removed and added again for another endpoint
    or engine (or revalidated onto one) must not reuse the old tokenizer's counts."""
    return f"{model.integration_id} {model.endpoint} {model.tokenize_route}"
