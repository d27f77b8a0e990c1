"""Helpers for the simulator's tests: a handle on a running sim, SSE parsing, the OpenAPI spec."""

from __future__ import annotations

import copy
import dataclasses
import json
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jsonschema
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from hfgate._server import BackgroundServer
from hfgate.sim import SimConfig

TOKEN = "hf_simtoken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BASE = SimConfig(token=TOKEN)
SPEC_PATH = Path(__file__).parents[1] / "data" / "tgi-openapi.json"
# One TLS context for every client: httpx builds one per client otherwise (tens of ms each).
TLS = ssl.create_default_context()


@dataclasses.dataclass
class Sim:
    """A running simulator: its URL, and helpers for the admin routes."""

    url: str
    server: BackgroundServer
    admin: httpx.Client = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.admin = httpx.Client(base_url=self.url, timeout=10, verify=TLS)

    def client(self, **kwargs: Any) -> httpx.Client:
        kwargs.setdefault("headers", AUTH)
        return httpx.Client(base_url=self.url, timeout=10, verify=TLS, **kwargs)

    def aclient(self, **kwargs: Any) -> httpx.AsyncClient:
        kwargs.setdefault("headers", AUTH)
        return httpx.AsyncClient(base_url=self.url, timeout=10, verify=TLS, **kwargs)

    def patch(self, **changes: Any) -> dict[str, Any]:
        response = self.admin.patch("/_sim/state", json=changes)
        assert response.status_code == 200, response.text
        return response.json()

    def state(self) -> dict[str, Any]:
        return self.admin.get("/_sim/state").json()

    def stats(self) -> dict[str, Any]:
        return self.admin.get("/_sim/stats").json()

    def reset(self) -> None:
        self.admin.post("/_sim/reset").raise_for_status()

    def wait_stats(self, check: Callable[[dict[str, Any]], bool], timeout: float = 3.0) -> dict:
        """Poll ``/_sim/stats`` until ``check`` holds (things the server notices a bit later)."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if check(stats) or time.monotonic() > deadline:
                return stats
            time.sleep(0.01)


def sse_data(text: str) -> list[str]:
    """The payloads of ``data:`` lines (one optional space stripped), in order."""
    payloads = []
    for line in text.split("\n"):
        if line.startswith("data:"):
            payload = line[5:]
            payloads.append(payload[1:] if payload.startswith(" ") else payload)
    return payloads


def sse_json(text: str) -> list[Any]:
    """The JSON events of a stream, ``[DONE]`` kept as the string ``"[DONE]"``."""
    return [p if p == "[DONE]" else json.loads(p) for p in sse_data(text)]


def _nullable(node: Any) -> Any:
    # OpenAPI 3.0 "nullable: true" is not JSON Schema: turn it into "or null".
    if isinstance(node, list):
        return [_nullable(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _nullable(v) for k, v in node.items()}
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


class OpenAPI:
    """Validates instances against ``#/components/schemas/<Name>`` of TGI's spec."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        contents = _nullable(copy.deepcopy(spec))
        resource = Resource.from_contents(contents, default_specification=DRAFT202012)
        self.registry = Registry().with_resource("urn:tgi-openapi", resource)

    def validate(self, name: str, instance: Any) -> None:
        schema = {"$ref": f"urn:tgi-openapi#/components/schemas/{name}"}
        Draft202012Validator(schema, registry=self.registry).validate(instance)


# -- tools, grammars, images (test_tools.py, test_grammar.py, test_vision.py) ----------------------

WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "The city, e.g. Paris"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city"],
}
TIME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"timezone": {"type": "string"}},
    "required": ["timezone"],
}
WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": WEATHER_SCHEMA,
    },
}
TIME: dict[str, Any] = {
    "type": "function",
    "function": {"name": "get_time", "parameters": TIME_SCHEMA},
}
TOOLS = [WEATHER, TIME]
SCHEMAS = {"get_weather": WEATHER_SCHEMA, "get_time": TIME_SCHEMA}


def chat_post(sim: Sim, **body: Any) -> httpx.Response:
    """``POST /v1/chat/completions`` with ``body`` (``messages`` required)."""
    with sim.client() as client:
        return client.post("/v1/chat/completions", json=body)


def valid_arguments(name: str, raw: Any) -> dict[str, Any]:
    """A call's arguments: a JSON string, decoded once, valid for the tool's schema."""
    assert isinstance(raw, str), raw
    value = json.loads(raw)
    jsonschema.validate(value, SCHEMAS[name])
    assert isinstance(value, dict)
    return value
