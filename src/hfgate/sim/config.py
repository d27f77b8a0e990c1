"""``SimConfig``: every knob of the simulator, set per start and changeable at run time.

A config is replaced as a whole (``apply_patch`` returns a new, validated copy), so a request
that already started keeps a consistent view of the knobs it read.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from hfgate.sim.versions import parse_version

Engine = Literal["tgi", "tei", "vllm", "custom", "llamacpp", "sglang"]
TeiKind = Literal["embed", "rerank", "classify"]  # TEI /info model_type: embedding, reranker…
State = Literal["running", "scaled_to_zero", "initializing", "paused"]
WakeOn = Literal["any", "inference"]
EndpointType = Literal["public", "protected", "authenticated", "private"]

ENGINES: tuple[str, ...] = typing.get_args(Engine)
STATES: tuple[str, ...] = typing.get_args(State)

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


class ConfigError(ValueError):
    """A knob got a value it cannot take; the message names the field."""


@dataclass
class SimConfig:
    """The simulated endpoint: its model, limits, engine, proxy state and faults."""

    # The model and the container
    model_id: str = "meta-llama/Llama-2-7b-chat-hf"
    pipeline_tag: str | None = "text-generation"
    model_id_repository: bool = False
    engine: Engine = "tgi"
    tgi_version: str = "3.3.6-dev0"
    max_total_tokens: int = 4096
    max_input_tokens: int = 4095
    max_concurrent_requests: int = 128
    max_best_of: int = 2
    max_stop_sequences: int = 4
    max_top_n_tokens: int = 5
    max_client_batch_size: int = 4
    payload_limit: int = 2_000_000
    chat_template: str | None = CHATML_TEMPLATE
    # A vision-language model (vision.py): image parts cost image tokens instead of markdown text
    vision: bool = False
    # vLLM started with --enable-auto-tool-choice --tool-call-parser hermes (vllm_tools.py)
    vllm_auto_tool_choice: bool = True
    bos_token: str = "<s>"
    eos_token: str = "</s>"
    # TEI (tei.py): its release, what the model is, --auto-truncate (None: the release's
    # default, on since 1.9.0) and the sentence-transformers prompts prompt_name picks from
    tei_version: str = "1.9.3"
    tei_kind: TeiKind = "embed"
    auto_truncate: bool | None = None
    tei_prompts: dict[str, str] | None = None
    # llama.cpp and SGLang: seconds the engine loads its model once the replica runs
    loading: float = 0.0
    # Generation
    reply_tokens: int = 16
    token_delay: float = 0.0
    keepalive_interval: float = 15.0
    sse_no_space: bool = False
    # The Inference Endpoints proxy
    token: str | None = None
    forbidden_tokens: list[str] = field(default_factory=list)
    state: State = "running"
    cold_start: float = 5.0
    cold_status: int = 503
    wake_on: WakeOn = "any"  # "inference": only POSTs wake the endpoint or keep it awake
    idle_timeout: float | None = None
    # Faults
    overloaded: bool = False
    stream_error_after: int | None = None
    drop_after: int | None = None
    # The Hub beside the endpoint: repo id -> pipeline tag (None: the served model only)
    hub_models: dict[str, str | None] | None = None
    # The management API's record of the served endpoint (records.py)
    endpoint_name: str | None = None  # None: from the model id, e.g. "llama-2-7b-chat-hf-waw"
    endpoint_type: EndpointType = "protected"
    vendor: str = "aws"
    region: str = "us-east-1"
    accelerator: str = "gpu"
    instance_type: str = "nvidia-a10g"
    instance_size: str = "x1"
    price_per_hour: float = 1.0
    scale_to_zero_timeout: int = 60  # minutes, as HF's scaleToZeroTimeout
    # The management API (management.py): who may call it, and what it holds besides the record
    management_namespace: str = "acme"
    management_user: str = "sim-user"
    management_orgs: list[str] | None = None  # whoami's orgs; None: [management_namespace]
    management_tokens: list[str] | None = None  # None: [token] (any bearer when token is None)
    management_pending_seconds: float = 0.5
    management_endpoints: list[dict[str, Any]] = field(default_factory=list)
    management_overrides: dict[str, Any] = field(default_factory=dict)  # PUTs to the record
    management_deleted: bool = False
    management_down: bool = False
    management_error: int | None = None

    def __post_init__(self) -> None:
        check(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def hub(self) -> dict[str, str | None]:
        if self.hub_models is not None:
            return self.hub_models
        return {self.model_id: self.task()}

    def task(self) -> str | None:
        """The served model's pipeline tag: a vision model is image-text-to-text."""
        return "image-text-to-text" if self.vision else self.pipeline_tag


_HINTS: dict[str, Any] = {}


def _hints() -> dict[str, Any]:
    if not _HINTS:
        _HINTS.update(typing.get_type_hints(SimConfig))
    return _HINTS


def _describe(hint: Any) -> str:
    if typing.get_origin(hint) is Literal:
        return " | ".join(repr(a) for a in typing.get_args(hint))
    if isinstance(hint, types.UnionType):
        return " | ".join(_describe(a) for a in typing.get_args(hint))
    return "null" if hint is type(None) else getattr(hint, "__name__", str(hint))


def _fits(value: Any, hint: Any) -> bool:
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if isinstance(hint, types.UnionType):
        return any(_fits(value, arm) for arm in typing.get_args(hint))
    if origin is Literal:
        return value in typing.get_args(hint)
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_fits(v, item) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(isinstance(k, str) for k in value)
    if hint is type(None):
        return value is None
    if isinstance(value, bool):
        return hint is bool
    if hint is float:
        return isinstance(value, int | float)
    return isinstance(value, hint)


def _coerce(value: Any, hint: Any) -> Any:
    # JSON and flags give ints for float knobs; keep the dataclass types honest.
    arms = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if float in arms and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def check(config: SimConfig) -> None:
    """Raise ``ConfigError`` for a field of the wrong type or an impossible combination."""
    for name, hint in _hints().items():
        value = getattr(config, name)
        if not _fits(value, hint):
            raise ConfigError(f"{name}: expected {_describe(hint)}, got {value!r}")
        setattr(config, name, _coerce(value, hint))
    _check_ranges(config)


def _check_ranges(config: SimConfig) -> None:
    if not 0 < config.max_input_tokens < config.max_total_tokens:
        raise ConfigError("max_input_tokens must be > 0 and < max_total_tokens")
    if config.reply_tokens < 1:
        raise ConfigError("reply_tokens must be >= 1 (the last token is EOS)")
    for name in ("token_delay", "cold_start"):
        if getattr(config, name) < 0:
            raise ConfigError(f"{name} must be >= 0")
    if config.keepalive_interval <= 0:
        raise ConfigError("keepalive_interval must be > 0")
    if config.cold_status not in (502, 503, 504):
        raise ConfigError("cold_status must be 502, 503 or 504")
    for name in ("stream_error_after", "drop_after", "idle_timeout"):
        value = getattr(config, name)
        if value is not None and value < 0:
            raise ConfigError(f"{name} must be >= 0 or null")
    for name in ("tgi_version", "tei_version"):
        if parse_version(getattr(config, name)) is None:
            raise ConfigError(f"{name}: cannot read {getattr(config, name)!r} as X.Y.Z")
    if config.loading < 0:
        raise ConfigError("loading must be >= 0")
    _check_management(config)


def _check_management(config: SimConfig) -> None:
    for name in ("price_per_hour", "scale_to_zero_timeout", "management_pending_seconds"):
        if getattr(config, name) < 0:
            raise ConfigError(f"{name} must be >= 0")
    error = config.management_error
    if error is not None and not 400 <= error <= 599:
        raise ConfigError("management_error must be an HTTP error status (400-599) or null")
    for record in config.management_endpoints:
        if not isinstance(record.get("name"), str) or not record["name"]:
            raise ConfigError("management_endpoints: every record needs a non-empty 'name'")
        if not isinstance(record.get("namespace", ""), str):
            raise ConfigError("management_endpoints: 'namespace' must be a string")
        _check_record("management_endpoints", record)
    _check_record("management_overrides", config.management_overrides)


def _check_record(where: str, record: dict[str, Any]) -> None:
    # The sim reads these sections itself (states, quotas): a string there would crash a listing.
    for key in ("status", "model", "compute", "provider"):
        if not isinstance(record.get(key, {}), dict):
            raise ConfigError(f"{where}: '{key}' must be a JSON object")


def apply_patch(config: SimConfig, changes: dict[str, Any]) -> SimConfig:
    """A validated copy of ``config`` with ``changes`` applied; unknown keys are refused."""
    unknown = sorted(set(changes) - set(_hints()))
    if unknown:
        raise ConfigError(f"unknown field(s): {', '.join(unknown)}; known: {', '.join(_hints())}")
    fresh = dataclasses.replace(config)
    for name, value in changes.items():
        setattr(fresh, name, value)
    check(fresh)
    return fresh
