"""Hugging Face's Inference Endpoints management API and the Hub's ``whoami-v2`` (pure).

Shapes as ``huggingface_hub`` reads them (``hf_api.py``, ``_inference_endpoints.py``):
``GET {api}/endpoint/{namespace}`` → ``{"items": [record]}``; a record has ``name``, ``type``,
``model{repository, revision, task, framework, image{<engine>: {…}}, env}``,
``compute{accelerator, instanceType, instanceSize, scaling{minReplica, maxReplica,
scaleToZeroTimeout}}``, ``provider{vendor, region}`` and ``status{state, url, message,
readyReplica, targetReplica, createdAt, updatedAt}``. The engine is the key of
``model.image`` (case-sensitive). ``GET {api}/provider/{namespace}`` → vendors → regions →
computes with ``pricePerHour``. There is no read-only management scope: a token that can list
can also operate (docs/protocols.md §1.4).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from hfgate.errors import (
    HfgateError,
    InvalidRequest,
    NotFound,
    UpstreamAuthFailed,
    UpstreamProtocolError,
    UpstreamUnreachable,
)

DEFAULT_API_URL = "https://api.endpoints.huggingface.cloud/v2"
STATES = (
    "pending",
    "initializing",
    "updating",
    "updateFailed",
    "running",
    "paused",
    "failed",
    "scaledToZero",
)
# Engines hfgate serves, by the key of ``model.image``; the value is how hfgate calls them.
SUPPORTED_ENGINES = {
    "tgi": "TGI",
    "tgiNeuron": "TGI",
    "huggingface": "the default container (TGI for text generation)",
    "vLLM": "vLLM",
    "vLLMNeuron": "vLLM",
    "sGLang": "SGLang",
    "tei": "TEI (embeddings and reranking)",
    "llamacpp": "llama.cpp",
}
UNSUPPORTED_ENGINES = {
    "custom": "a custom container: hfgate cannot know which protocol it speaks",
    "hfServe": "an hfServe container, which hfgate does not serve",
}
TEXT_TASKS = {"text-generation", "text2text-generation", "conversational", "image-text-to-text"}
# What a TEI container serves (the record's task); validation then reads /info's model_type.
EMBEDDING_TASKS = {
    "feature-extraction",
    "sentence-similarity",
    "sentence-embeddings",
    "text-ranking",
    "text-classification",
}
TOKEN_HINT = (
    "use a fine-grained token with the 'Manage Inference Endpoints' permission for this"
    " namespace (huggingface.co/settings/tokens)"
)
Prices = dict[tuple[str, str, str, str], float]  # (vendor, region, type, size) → $ per hour


@dataclass(frozen=True, slots=True)
class EndpointRecord:
    """One Inference Endpoint as the management API describes it."""

    namespace: str
    name: str
    state: str
    url: str | None
    repository: str
    task: str | None
    engine: str
    env: Mapping[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    accelerator: str | None = None
    instance_type: str | None = None
    instance_size: str | None = None
    vendor: str | None = None
    region: str | None = None
    min_replica: int | None = None
    max_replica: int | None = None
    scale_to_zero_timeout: int | None = None  # minutes
    ready_replica: int | None = None
    target_replica: int | None = None
    message: str | None = None
    updated_at: str | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def unsupported(self) -> str | None:
        """Why hfgate cannot serve this endpoint, or None when it can."""
        if self.engine in UNSUPPORTED_ENGINES:
            return f"{self.key} is {UNSUPPORTED_ENGINES[self.engine]}"
        if self.engine not in SUPPORTED_ENGINES:
            return f"{self.key} runs the engine {self.engine!r}, which hfgate does not know"
        tasks = EMBEDDING_TASKS if self.engine == "tei" else TEXT_TASKS
        if self.task and self.task not in tasks:
            served = "embeddings or reranking" if self.engine == "tei" else "text generation"
            return f"{self.key} serves the task {self.task!r}, not {served}"
        return None

    def context_window(self) -> int | None:
        """The context window the container was started with, when its settings say so."""
        return context_from_settings(self.env, self.args)


@dataclass(frozen=True, slots=True)
class Whoami:
    user: str
    namespaces: tuple[str, ...]  # the user's own first, then the organisations


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_record(body: Any, namespace: str) -> EndpointRecord:
    """A record; raises ``UpstreamProtocolError`` when it is not one."""
    if not isinstance(body, Mapping) or not isinstance(body.get("name"), str):
        raise UpstreamProtocolError("the management API sent an endpoint record without a name")
    model, compute = _object(body.get("model")), _object(body.get("compute"))
    status = _object(body.get("status"))
    image = _object(model.get("image"))
    engine = next(iter(image), "huggingface")
    container = _object(image.get(engine))
    scaling = _object(compute.get("scaling"))
    provider = _object(body.get("provider"))
    env = {**_strings(model.get("env")), **_strings(container.get("env"))}
    args = tuple(str(a) for a in [*(model.get("args") or []), *(container.get("args") or [])])
    return EndpointRecord(
        namespace=namespace,
        name=body["name"],
        state=str(status.get("state") or "pending"),
        url=_str(status.get("url")),
        repository=str(model.get("repository") or ""),
        task=_str(model.get("task")),
        engine=engine,
        env=env,
        args=args,
        accelerator=_str(compute.get("accelerator")),
        instance_type=_str(compute.get("instanceType")),
        instance_size=_str(compute.get("instanceSize")),
        vendor=_str(provider.get("vendor")),
        region=_str(provider.get("region")),
        min_replica=_int(scaling.get("minReplica")),
        max_replica=_int(scaling.get("maxReplica")),
        scale_to_zero_timeout=_int(scaling.get("scaleToZeroTimeout")),
        ready_replica=_int(status.get("readyReplica")),
        target_replica=_int(status.get("targetReplica")),
        message=_str(status.get("message")) or _str(status.get("errorMessage")),
        updated_at=_str(status.get("updatedAt")),
    )


def _strings(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in _object(value).items() if v is not None}


def parse_records(body: Any, namespace: str) -> list[EndpointRecord]:
    items = body.get("items") if isinstance(body, Mapping) else None
    if not isinstance(items, list):
        raise UpstreamProtocolError("the management API's endpoint list has no `items`")
    return [parse_record(item, namespace) for item in items]


def parse_whoami(body: Any) -> Whoami:
    if not isinstance(body, Mapping) or not isinstance(body.get("name"), str):
        raise UpstreamProtocolError("the Hub's whoami-v2 answer has no name")
    orgs = [o.get("name") for o in body.get("orgs") or [] if isinstance(o, Mapping)]
    return Whoami(body["name"], (body["name"], *[o for o in orgs if isinstance(o, str)]))


def parse_prices(body: Any) -> Prices:
    """``(vendor, region, instance type, instance size) → price per hour`` from ``/provider``."""
    prices: Prices = {}
    for vendor in _list(body, "vendors"):
        for region in _list(vendor, "regions"):
            for compute in _list(region, "computes"):
                price = compute.get("pricePerHour")
                if isinstance(price, int | float):
                    key = (
                        str(vendor.get("name")),
                        str(region.get("name")),
                        str(compute.get("instanceType")),
                        str(compute.get("instanceSize")),
                    )
                    prices[key] = float(price)
    return prices


def _list(value: Any, key: str) -> list[Mapping[str, Any]]:
    items = value.get(key) if isinstance(value, Mapping) else None
    return [item for item in items or [] if isinstance(item, Mapping)]


def price_of(record: EndpointRecord, prices: Prices) -> float | None:
    key = (
        record.vendor or "",
        record.region or "",
        record.instance_type or "",
        record.instance_size or "",
    )
    return prices.get(key)


# -- the context window from the container's settings -------------------------------------------

_ENV_TOTAL = ("MAX_TOTAL_TOKENS", "MAX_MODEL_LEN", "CONTEXT_LENGTH", "LLAMA_ARG_CTX_SIZE")
_ARG_TOTAL = re.compile(
    r"^--(?:max-model-len|context-length|ctx-size|max-total-tokens)(?:=(\d+))?$"
)


def context_from_settings(env: Mapping[str, str], args: tuple[str, ...]) -> int | None:
    """TGI's ``MAX_TOTAL_TOKENS`` (or ``MAX_INPUT_TOKENS`` + 1), vLLM's ``--max-model-len``,
    SGLang's ``--context-length``, llama.cpp's ``--ctx-size``; None when none is set."""
    for name in _ENV_TOTAL:
        if (value := _positive(env.get(name))) is not None:
            return value
    for index, arg in enumerate(args):
        if match := _ARG_TOTAL.match(arg):
            given = match.group(1) or (args[index + 1] if index + 1 < len(args) else None)
            if (value := _positive(given)) is not None:
                return value
    inputs = _positive(env.get("MAX_INPUT_TOKENS") or env.get("MAX_INPUT_LENGTH"))
    return inputs + 1 if inputs is not None else None


def _positive(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and int(value) > 0 else None


# -- errors ---------------------------------------------------------------------------------------


def error_from_reply(status: int, body: bytes, what: str) -> HfgateError:
    """What a failed management call means, for the admin who must act (never the token)."""
    message = _message(body)
    if status == 401:
        return UpstreamAuthFailed(
            f"Hugging Face rejected the token (HTTP 401) when asked to {what}"
        )
    if status == 403:
        detail = f": {message}" if message else ""
        return UpstreamAuthFailed(
            f"the token may not {what} (HTTP 403{detail}); {TOKEN_HINT}",
            code="token_lacks_permission",
        )
    if status == 404:
        return NotFound(
            f"Hugging Face found nothing when asked to {what} (HTTP 404)",
            code="not_found_on_hugging_face",
        )
    if status == 400:
        return InvalidRequest(
            f"Hugging Face refused to {what}: {message or 'HTTP 400'}",
            code="refused_by_hugging_face",
        )
    shown = f": {message}" if message else ""
    return UpstreamUnreachable(
        f"Hugging Face's management API failed to {what} (HTTP {status}{shown}); try again"
        " in a minute",
        code="hugging_face_unavailable",
    )


def _message(body: bytes) -> str | None:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None  # an HTML error page says nothing a person can act on
    if isinstance(payload, Mapping):
        for key in ("error", "message", "detail"):
            if isinstance(payload.get(key), str):
                return str(payload[key])[:300]
    return None
