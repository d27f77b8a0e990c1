"""What the management API and the Hub say, as Hugging Face shapes it (pure builders).

* ``served_record``: the endpoint this sim serves, from ``SimConfig`` and a lifecycle phase
  (``running | initializing | pending | scaled_to_zero | paused``, see ``management.py``),
  with ``management_overrides`` (the PUTs it received) deep-merged on top;
* ``static_record``: a record added with ``POST /_sim/endpoints`` (or ``management_endpoints``),
  a partial record filled with defaults, its state kept as given;
* ``providers``: ``GET /v2/provider/{namespace}``, vendors → regions → computes;
* ``whoami``: the Hub's ``GET /api/whoami-v2`` for a fine-grained token.

Shapes follow huggingface_hub (``_inference_endpoints.py``, its tests' mocks and
``list_inference_endpoints_hardware``); the ``message`` texts of the states other than
pending/running/failed/updating are not documented anywhere and are this sim's wording.
"""

from __future__ import annotations

import copy
import hashlib
import re
import string
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from hfgate.sim.config import SimConfig
from hfgate.sim.tgi import build_sha
from hfgate.sim.versions import features
from hfgate.sim.vllm import VLLM_VERSION

IMAGE_KEYS = {
    "tgi": "tgi", "vllm": "vLLM", "tei": "tei", "custom": "custom", "llamacpp": "llamacpp",
    "sglang": "sGLang",
}  # fmt: skip
# The proxy's lifecycle (plus the management API's own "pending") as HF's status.state.
STATES = {
    "running": "running",
    "initializing": "initializing",
    "pending": "pending",
    "scaled_to_zero": "scaledToZero",
    "paused": "paused",
}
REPLICAS = {  # state -> (readyReplica, targetReplica)
    "pending": (0, 1),
    "initializing": (0, 1),
    "updating": (1, 1),
    "updateFailed": (1, 1),
    "running": (1, 1),
    "paused": (0, 0),
    "failed": (0, 1),
    "scaledToZero": (0, 0),
}
MESSAGES = {
    "pending": "Endpoint waiting to be scheduled",
    "initializing": "Endpoint is initializing",
    "updating": "Endpoint waiting for the update",
    "updateFailed": "Endpoint failed to update",
    "running": "Endpoint is ready",
    "paused": "Endpoint is paused",
    "failed": "Endpoint failed to deploy",
    "scaledToZero": "Endpoint is scaled to zero",
}
MANAGE_SCOPES = [
    "repo.content.read",
    "inference.endpoints.infer.write",
    "inference.endpoints.write",
]
_EPOCH = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)  # when the sim's token was "created"
SCOPES = {"manage": MANAGE_SCOPES, "infer": ["inference.endpoints.infer.write"], "none": []}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def hub_id(text: str) -> str:
    """A stable 24-hex Hub object id (users, orgs) for ``text``."""
    return build_sha("id-" + text)[:24]


def endpoint_name(config: SimConfig) -> str:
    """``endpoint_name``, or HF's default: the repo name, lowercased, plus three letters."""
    if config.endpoint_name:
        return config.endpoint_name
    base = re.sub(r"[^a-z0-9]+", "-", config.model_id.rsplit("/", 1)[-1].lower()).strip("-")
    digest = hashlib.sha1(config.model_id.encode()).digest()
    suffix = "".join(string.ascii_lowercase[b % 26] for b in digest[:3])
    return f"{base[:28]}-{suffix}"


def merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """``patch`` deep-merged into a copy of ``base``; ``image`` is a one-key union, so replaced."""
    merged = copy.deepcopy(dict(base))
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping) and key != "image":
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _task(config: SimConfig) -> str:
    if config.engine == "tei" and config.pipeline_tag in (None, "text-generation"):
        return "sentence-embeddings"
    if config.engine == "custom" and config.pipeline_tag is None:
        return "custom"
    return config.task() or "text-generation"


def _image(config: SimConfig) -> dict[str, Any]:
    urls = {
        "tgi": f"ghcr.io/huggingface/text-generation-inference:{config.tgi_version}",
        "vllm": f"vllm/vllm-openai:v{VLLM_VERSION}",
        "tei": f"ghcr.io/huggingface/text-embeddings-inference:{config.tei_version}",
        "llamacpp": "ghcr.io/ggml-org/llama.cpp:server-cuda",
        "sglang": "lmsysorg/sglang:latest",
        "custom": "registry.example.com/acme/custom-handler:latest",
    }
    image: dict[str, Any] = {
        "url": urls[config.engine],
        "healthRoute": "/health",
        "port": {"vllm": 8000, "sglang": 30000, "llamacpp": 8080}.get(config.engine, 80),
        "env": {},
    }
    if config.engine == "tgi":
        image["disableCustomKernels"] = False
    return {IMAGE_KEYS[config.engine]: image}


def _env(config: SimConfig) -> dict[str, str]:
    if config.engine == "tgi":
        new = features(config.tgi_version).info_input_tokens
        return {
            "MAX_TOTAL_TOKENS": str(config.max_total_tokens),
            "MAX_INPUT_TOKENS" if new else "MAX_INPUT_LENGTH": str(config.max_input_tokens),
            "MAX_CONCURRENT_REQUESTS": str(config.max_concurrent_requests),
        }
    if config.engine == "tei":
        return {"MAX_CLIENT_BATCH_SIZE": str(config.max_client_batch_size)}
    return {}


def _model(config: SimConfig) -> dict[str, Any]:
    model: dict[str, Any] = {
        "repository": config.model_id,
        "revision": build_sha(config.model_id),
        "task": _task(config),
        "framework": "custom" if config.engine == "custom" else "pytorch",
        "image": _image(config),
        "env": _env(config),
        "secrets": {},
    }
    if config.engine == "vllm":
        # vLLM takes its context length as a flag; HF passes container flags in model.args.
        model["args"] = ["--max-model-len", str(config.max_total_tokens)]
    return model


def _compute(config: SimConfig) -> dict[str, Any]:
    return {
        "id": compute_id(config.vendor, config.region, config.instance_type, config.instance_size),
        "accelerator": config.accelerator,
        "instanceType": config.instance_type,
        "instanceSize": config.instance_size,
        "scaling": {
            "minReplica": 0,
            "maxReplica": 1,
            "scaleToZeroTimeout": config.scale_to_zero_timeout,
            "metric": "hardwareUsage",
            "measure": {"hardwareUsage": None},
        },
    }


def _status(state: str, url: str | None, times: tuple[datetime, datetime], user: str) -> Any:
    ready, target = REPLICAS.get(state, (0, 0))
    who = {"id": hub_id(user), "name": user}
    return {
        "state": state,
        "message": MESSAGES.get(state, state),
        "url": url,
        "private": None,
        "readyReplica": ready,
        "targetReplica": target,
        "createdAt": iso(times[0]),
        "createdBy": who,
        "updatedAt": iso(times[1]),
        "updatedBy": who,
    }


def served_record(
    config: SimConfig, phase: str, url: str, times: tuple[datetime, datetime]
) -> dict[str, Any]:
    """The served endpoint's record; ``times`` is (createdAt, updatedAt)."""
    record = {
        "name": endpoint_name(config),
        "type": config.endpoint_type,
        "accountId": None,
        "provider": {"vendor": config.vendor, "region": config.region},
        "compute": _compute(config),
        "model": _model(config),
        "status": _status(STATES[phase], url, times, config.management_user),
        "healthRoute": "/health",
    }
    return merge(record, config.management_overrides)


def _fake_url(name: str, config: SimConfig) -> str:
    host = build_sha("url-" + name)[:16]
    return f"https://{host}.{config.region}.{config.vendor}.endpoints.huggingface.cloud"


def static_record(
    partial: Mapping[str, Any], config: SimConfig, created: datetime
) -> dict[str, Any]:
    """A partial record (its ``namespace`` key dropped) over a running GPT-2 TGI endpoint."""
    given = {k: v for k, v in partial.items() if k != "namespace"}
    name = str(given["name"])
    status = given.get("status")
    state = str(status.get("state", "running")) if isinstance(status, Mapping) else "running"
    url = None if state in ("pending", "failed") else _fake_url(name, config)
    template = {
        "name": name,
        "type": "protected",
        "accountId": None,
        "provider": {"vendor": config.vendor, "region": config.region},
        "compute": _compute(config),
        "model": {
            "repository": "openai-community/gpt2",
            "revision": build_sha("openai-community/gpt2"),
            "task": "text-generation",
            "framework": "pytorch",
            "image": {"tgi": {"url": _TGI_IMAGE, "healthRoute": "/health", "port": 80, "env": {}}},
            "env": {},
            "secrets": {},
        },
        "status": _status(state, url, (created, created), config.management_user),
        "healthRoute": "/health",
    }
    return merge(template, given)


_TGI_IMAGE = "ghcr.io/huggingface/text-generation-inference:3.3.6"


class _Compute(NamedTuple):
    accelerator: str
    type: str
    size: str
    cpus: int | None
    memory_gb: float
    gpu_memory_gb: int | None
    price: float
    status: str
    quota: int


_LABELS = {"us-east-1": "N. Virginia", "us-east4": "Virginia"}
_ARCHITECTURES = {"intel-spr": "Intel Sapphire Rapids", "intel-icl": "Intel Ice Lake"}
# A trimmed price list (HF's 2026 prices); the sim's own instance is set or added in it.
_CATALOG = {
    ("aws", "us-east-1"): [
        _Compute("cpu", "intel-spr", "x1", None, 2.0, None, 0.033, "available", 60),
        _Compute("gpu", "nvidia-l4", "x1", 7, 30.0, 24, 0.8, "available", 16),
        _Compute("gpu", "nvidia-a10g", "x1", 4, 16.0, 24, 1.0, "available", 8),
        _Compute("gpu", "nvidia-a100", "x1", 11, 142.0, 80, 2.5, "low_availability", 4),
        _Compute("gpu", "nvidia-h100", "x1", 23, 240.0, 80, 4.5, "deprecated", 0),
    ],
    ("gcp", "us-east4"): [
        _Compute("gpu", "nvidia-l4", "x1", 8, 30.0, 24, 0.7, "available", 8),
        _Compute("gpu", "nvidia-a100", "x8", 96, 680.0, 640, 28.8, "reserved", 2),
    ],
}


def compute_id(vendor: str, region: str, instance_type: str, size: str) -> str:
    return f"{vendor}-{region}-{instance_type}-{size}"


def accelerators(size: str) -> int:
    """``x4`` → 4 accelerators per replica."""
    digits = size.lstrip("x")
    return int(digits) if digits.isdigit() else 1


def _catalog(config: SimConfig) -> dict[tuple[str, str], list[_Compute]]:
    place = (config.vendor, config.region)
    catalog = {key: list(rows) for key, rows in _CATALOG.items()}
    rows = catalog.setdefault(place, [])
    kind = (config.instance_type, config.instance_size)
    for index, row in enumerate(rows):
        if (row.type, row.size) == kind:
            rows[index] = row._replace(price=config.price_per_hour)
            return catalog
    own = _Compute(
        config.accelerator, *kind, None, 16.0, None, config.price_per_hour, "available", 8
    )
    rows.append(own)
    return catalog


def _compute_entry(place: tuple[str, str], row: _Compute, used: Mapping[str, int]) -> Any:
    ident = compute_id(*place, row.type, row.size)
    entry: dict[str, Any] = {
        "id": ident,
        "accelerator": row.accelerator,
        "numAccelerators": accelerators(row.size),
        "memoryGb": row.memory_gb,
        "gpuMemoryGb": row.gpu_memory_gb,
        "instanceType": row.type,
        "instanceSize": row.size,
        "architecture": _ARCHITECTURES.get(row.type, row.type.replace("-", " ").title()),
        "status": row.status,
        "pricePerHour": row.price,
        "quota": {"maxAccelerators": row.quota, "usedAccelerators": used.get(ident, 0)},
    }
    if row.cpus is not None:  # HF leaves numCpus out on CPU instances
        entry["numCpus"] = row.cpus
    return entry


def providers(config: SimConfig, used: Mapping[str, int]) -> dict[str, Any]:
    """``GET /v2/provider/{ns}``; ``used`` maps a compute id to the accelerators in use."""
    vendors: dict[str, list[dict[str, Any]]] = {}
    for place, rows in _catalog(config).items():
        region = {
            "name": place[1],
            "label": _LABELS.get(place[1], place[1]),
            "status": "available",
            "computes": [_compute_entry(place, row, used) for row in rows],
        }
        vendors.setdefault(place[0], []).append(region)
    return {
        "vendors": [
            {"name": vendor, "status": "available", "regions": regions}
            for vendor, regions in vendors.items()
        ]
    }


def whoami(config: SimConfig, role: str, orgs: list[str]) -> dict[str, Any]:
    """``GET /api/whoami-v2`` for a fine-grained token whose permissions follow ``role``."""
    user = config.management_user
    scoped = [
        {"entity": {"_id": hub_id(name), "type": kind, "name": name}, "permissions": SCOPES[role]}
        for kind, name in [("user", user), *(("org", org) for org in orgs)]
    ]
    token = {
        "displayName": "hfgate-sim",
        "role": "fineGrained",
        "createdAt": iso(_EPOCH),
        "fineGrained": {"canReadGatedRepos": False, "global": [], "scoped": scoped},
    }
    return {
        "type": "user",
        "id": hub_id(user),
        "name": user,
        "fullname": user.replace("-", " ").title(),
        "email": f"{user}@example.com",
        "emailVerified": True,
        "canPay": True,
        "isPro": False,
        "avatarUrl": "/avatars/default.svg",
        "orgs": [_org(org) for org in orgs],
        "auth": {"type": "access_token", "accessToken": token},
    }


def _org(name: str) -> dict[str, Any]:
    return {
        "type": "org",
        "id": hub_id(name),
        "name": name,
        "fullname": name.replace("-", " ").title(),
        "email": None,
        "canPay": True,
        "avatarUrl": "/avatars/default-org.svg",
        "roleInOrg": "admin",
        "isEnterprise": False,
    }
