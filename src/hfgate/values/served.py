"""A model as the gateway serves it: which endpoint, which engine, which limits (a value)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ServedModel:
    name: str
    integration_id: str
    model_name: str
    endpoint: str
    api_key: str = field(repr=False)
    context_window: int = 0
    engine: str = "tgi"
    engine_version: str | None = None
    chat_route: str = "messages"
    tokenize_route: str | None = None
    max_total_tokens: int | None = None
    max_input_tokens: int | None = None
    created_at: datetime | None = None
    served_model: str = ""  # the id an OpenAI-compatible server expects in "model"
    engine_flavour: str | None = None  # vllm | sglang, for an "openai" engine
    kind: str = "chat"  # chat | embed | rerank | classify: which routes serve it
    max_batch: int | None = None  # inputs per upstream call (TEI's max_client_batch_size)
    auto_truncate: bool = False  # the engine truncates over-long inputs itself (TEI)
    context_policy: str | None = None  # trim | strict; None: the caller's default
    vision: bool = False  # takes image parts
    tools: bool = True  # takes tools / tool_choice
    json_schema: bool = True  # can constrain its output to a JSON schema

    @property
    def capabilities(self) -> dict[str, bool]:
        return {"vision": self.vision, "tools": self.tools, "json_schema": self.json_schema}
