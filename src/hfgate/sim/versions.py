"""What changes with the emulated TGI version (docs/protocols.md §2, §2.10).

Each flag names the first release that behaves the new way, so an old ``tgi_version`` gets the
routes, ``/info`` shape and SSE framing that release really had.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal

Version = tuple[int, int, int]

_VERSION = re.compile(r"^\s*v?(\d+)\.(\d+)(?:\.(\d+))?")


def parse_version(text: str) -> Version | None:
    match = _VERSION.match(text)
    if match is None:
        return None
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


@dataclass(frozen=True, slots=True)
class Features:
    chat: bool  # /v1/chat/completions, /tokenize (v1.4.0)
    completions: bool  # /v1/completions (v1.4.4)
    models: bool  # /v1/models, /chat_tokenize (v2.3.0)
    sse_space: bool  # axum 0.7 writes "data: " (v2.1.0); older "data:"
    info_input_tokens: bool  # /info max_input_tokens, was max_input_length (v2.1.0)
    info_legacy: bool  # model_dtype, waiting_served_ratio, … (removed in v2.3.0)
    info_batch_size: bool  # max_batch_size (v1.4.5 .. v2.2.x)
    info_client_batch: bool  # max_client_batch_size (v2.0.1)
    info_router: bool  # router: "text-generation-router" (v2.0.3)
    done: bool  # OpenAI streams end with data: [DONE] (v2.2.0)
    chat_eos_stop: bool  # chat finish_reason "stop", was "eos_token" (v2.3.0)
    chat_object_chunk: bool  # chat object names, were "text_completion" (v2.1.1)
    stream_usage: bool  # stream_options.include_usage, completions final usage (v2.3.0)
    stream_error: Literal["native", "none", "openai"]  # in-stream errors on /v1/* routes
    auto_max_new_tokens: bool  # default max_new_tokens = auto (v3.0.0), else a fixed default
    cap_max_new_tokens: bool  # a given max_new_tokens is checked as min(n, 1024) (v3.1.1)
    default_max_new_tokens: int  # the fixed default before v3.0.0


@functools.lru_cache(maxsize=64)
def features(version: str) -> Features:
    v = parse_version(version) or (3, 3, 6)
    return Features(
        chat=v >= (1, 4, 0),
        completions=v >= (1, 4, 4),
        models=v >= (2, 3, 0),
        sse_space=v >= (2, 1, 0),
        info_input_tokens=v >= (2, 1, 0),
        info_legacy=v < (2, 3, 0),
        info_batch_size=(1, 4, 5) <= v < (2, 3, 0),
        info_client_batch=v >= (2, 0, 1),
        info_router=v >= (2, 0, 3),
        done=v >= (2, 2, 0),
        chat_eos_stop=v >= (2, 3, 0),
        chat_object_chunk=v >= (2, 1, 1),
        stream_usage=v >= (2, 3, 0),
        stream_error=_stream_error(v),
        auto_max_new_tokens=v >= (3, 0, 0),
        cap_max_new_tokens=v >= (3, 1, 1),
        default_max_new_tokens=20 if v < (1, 1, 0) else 100,
    )


def _stream_error(v: Version) -> Literal["native", "none", "openai"]:
    # v2.4.0 silently dropped in-stream errors on the chat route; v2.4.1 made them OpenAI-shaped.
    if v >= (2, 4, 1):
        return "openai"
    return "none" if v >= (2, 4, 0) else "native"
