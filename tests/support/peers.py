"""Start ``hfgate sim`` and ``hfgate serve`` equivalents in-process on free loopback ports.

``SimHandle`` drives the simulator's admin routes (state, stats); ``Gateway`` is an hfgate
server with its own ``HFGATE_HOME``, an admin key, and the loopback simulator allowlisted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from hfgate._server import BackgroundServer
from hfgate.app import create_app
from hfgate.settings import Settings
from hfgate.sim import SimConfig
from hfgate.sim import create_app as create_sim

ADMIN_KEY = "hfg_test_admin_key_0123456789abcdefghijklmnop"
SIM_TOKEN = "hf_simulated_token_0123456789abcdef"
MODEL = "meta-llama/Llama-2-7b-chat-hf"


@dataclass
class SimHandle:
    url: str
    server: BackgroundServer

    def patch(self, **changes: Any) -> dict[str, Any]:
        response = httpx.patch(f"{self.url}/_sim/state", json=changes, timeout=10)
        response.raise_for_status()
        return response.json()

    def state(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/_sim/state", timeout=10).json()

    def stats(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/_sim/stats", timeout=10).json()

    def reset(self) -> None:
        httpx.post(f"{self.url}/_sim/reset", timeout=10).raise_for_status()

    def credential(self, **overrides: Any) -> dict[str, Any]:
        base = {
            "api_key": SIM_TOKEN,
            "endpoint": self.url,
            "model_name": MODEL,
            "context_window": 4096,
        }
        return base | overrides


@contextmanager
def running_sim(**config: Any) -> Iterator[SimHandle]:
    config.setdefault("token", SIM_TOKEN)
    server = BackgroundServer(create_sim(SimConfig(**config))).start()
    try:
        yield SimHandle(server.url, server)
    finally:
        server.stop()


@dataclass
class Gateway:
    url: str
    home: Path
    settings: Settings
    server: BackgroundServer
    key: str = ADMIN_KEY
    logs: list[str] = field(default_factory=list)

    def client(self, key: str | None = None, timeout: float = 60) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key or self.key}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def add(self, credential: dict[str, Any], **params: Any) -> httpx.Response:
        with self.client() as client:
            return client.post("/api/integrations", content=json.dumps(credential), params=params)

    @property
    def services(self) -> Any:
        return self.server._server.config.app.state.services  # type: ignore[attr-defined]


def gateway_settings(home: Path, hub_url: str = "http://127.0.0.1:9", **env: str) -> Settings:
    values = {
        "HFGATE_HOME": str(home),
        "HFGATE_ADMIN_KEY": ADMIN_KEY,
        "HFGATE_ALLOW_HOSTS": "127.0.0.1,localhost",
        "HFGATE_HUB_URL": hub_url,
        "HFGATE_PENDING_INTERVAL": "0.2",
        "HFGATE_COLD_START_TIMEOUT": "20",
    }
    return Settings.from_env(values | env)


@dataclass
class Exchange:
    """One request to a gateway and its answer, as seen on the wire (bodies capped)."""

    method: str
    path: str
    query: str
    request_body: bytes
    status: int
    headers: list[tuple[str, str]]
    body: bytes


# Observers of every gateway exchange; empty unless a plugin opts in (the security suite's
# secret scan, ``tests/security/plugin.py``). With none registered the app is served unwrapped.
EXCHANGE_OBSERVERS: list[Callable[[Exchange], None]] = []
RECORDED_BODY_LIMIT = 1 << 20


class _Recording:
    """An ASGI wrapper that hands each HTTP exchange to ``EXCHANGE_OBSERVERS``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __getattr__(self, name: str) -> Any:  # ``.state`` and the rest: the wrapped app's
        return getattr(self.app, name)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent, received = bytearray(), bytearray()
        start: dict[str, Any] = {}

        async def recording_receive() -> Any:
            message = await receive()
            if len(received) < RECORDED_BODY_LIMIT:
                received.extend(message.get("body", b"")[: RECORDED_BODY_LIMIT - len(received)])
            return message

        async def recording_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body" and len(sent) < RECORDED_BODY_LIMIT:
                sent.extend(message.get("body", b"")[: RECORDED_BODY_LIMIT - len(sent)])
            await send(message)

        try:
            await self.app(scope, recording_receive, recording_send)
        finally:
            exchange = Exchange(
                scope["method"],
                scope["path"],
                scope.get("query_string", b"").decode("latin-1"),
                bytes(received),
                int(start.get("status", 0)),
                [(k.decode("latin-1"), v.decode("latin-1")) for k, v in start.get("headers", [])],
                bytes(sent),
            )
            for observe in list(EXCHANGE_OBSERVERS):
                observe(exchange)


@contextmanager
def running_gateway(
    home: Path, hub_url: str = "http://127.0.0.1:9", **env: str
) -> Iterator[Gateway]:
    settings = gateway_settings(home, hub_url, **env)
    app = create_app(settings)
    server = BackgroundServer(_Recording(app) if EXCHANGE_OBSERVERS else app).start()
    try:
        yield Gateway(server.url, home, settings, server)
    finally:
        server.stop()
