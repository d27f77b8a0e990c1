"""Peers of the embeddings tests: TEI simulators (an embedder and a reranker), a TGI simulator
for the chat model beside them, and one hfgate over loopback.

Each TEI simulator sits behind ``Meter``, which records what reached it (route and body) and
how many calls were in flight at once, and can hold each call a moment so that calls sent
together are seen overlapping.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from hfgate._server import BackgroundServer
from hfgate.sim import SimConfig
from hfgate.sim import create_app as create_sim
from hfgate.storage import Database
from hfgate.storage.tables import Integration
from tests.chat.support import Sim, started_sim
from tests.support.peers import ADMIN_KEY, SIM_TOKEN, Gateway, running_gateway

EMBEDDER = "BAAI/bge-small-en-v1.5"
RERANKER = "BAAI/bge-reranker-base"
MAX_BATCH = 4
MAX_INPUT = 64  # tokens per input (TEI's max_input_length)


@dataclass
class Call:
    path: str
    body: Any


@dataclass
class Meter:
    """ASGI middleware in front of a TEI simulator."""

    app: Any
    calls: list[Call] = field(default_factory=list)
    in_flight: int = 0
    most: int = 0
    hold: float = 0.0  # seconds each POST waits before the simulator sees it

    def reset(self) -> None:
        self.calls.clear()
        self.in_flight = self.most = 0
        self.hold = 0.0

    def posts(self, path: str) -> list[Call]:
        return [call for call in self.calls if call.path == path]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"].startswith("/_sim")
        ):
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        raw = b"".join(chunks)
        self.calls.append(Call(scope["path"], json.loads(raw) if raw else None))
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            if self.hold:
                await asyncio.sleep(self.hold)
            sent = False

            async def replay() -> Any:
                nonlocal sent
                if sent:
                    return await receive()
                sent = True
                return {"type": "http.request", "body": raw, "more_body": False}

            await self.app(scope, replay, send)
        finally:
            self.in_flight -= 1


@dataclass
class TeiSim:
    url: str
    server: BackgroundServer
    meter: Meter
    base: dict[str, Any]
    admin: httpx.Client

    def patch(self, **changes: Any) -> dict[str, Any]:
        answer = self.admin.patch("/_sim/state", json=changes)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def stats(self) -> dict[str, Any]:
        return self.admin.get("/_sim/stats").json()

    def restore(self) -> None:
        self.patch(**self.base)
        self.admin.post("/_sim/reset").raise_for_status()
        self.meter.reset()

    def direct(self, path: str, body: Any) -> httpx.Response:
        """The simulator answering a caller itself, as TEI would without hfgate."""
        headers = {"Authorization": f"Bearer {SIM_TOKEN}"}
        return self.admin.post(path, json=body, headers=headers)


@contextlib.contextmanager
def started_tei(**config: Any) -> Iterator[TeiSim]:
    config = {"engine": "tei", "token": SIM_TOKEN} | config
    sim_config = SimConfig(**config)
    meter = Meter(create_sim(sim_config))
    server = BackgroundServer(meter).start()
    admin = httpx.Client(base_url=server.url, timeout=30)
    try:
        yield TeiSim(server.url, server, meter, sim_config.to_dict(), admin)
    finally:
        admin.close()
        server.stop()


def facts(kind: str, max_batch: int, max_input: int, **more: Any) -> dict[str, Any]:
    """What validation stores for a TEI endpoint (the contract with integrations/)."""
    return {
        "engine": "tei",
        "engine_version": "1.8.0",
        "serves": kind,
        "max_client_batch_size": max_batch,
        "max_input_length": max_input,
        "auto_truncate": False,
        "pooling": "cls" if kind == "embed" else None,
    } | more


def register(gateway: Gateway, name: str, url: str, model_name: str, **fact: Any) -> None:
    """Serve ``url`` as ``name`` with facts validation would not find there now (a batch
    limit since lowered, an older TEI): an integration row as validation stores it, read by
    the gateway's catalog on its next look (a miss makes it look at once)."""
    fact = facts(fact.pop("kind"), fact.pop("max_batch", MAX_BATCH), MAX_INPUT) | fact
    box = gateway.services.box
    row = Integration(
        id=str(uuid.uuid4()),
        name=name,
        model_name=model_name,
        endpoint=url,
        api_key_encrypted=box.encrypt(SIM_TOKEN),
        api_key_mask="hf_…cdef",
        context_window=fact["max_input_length"],
        state="ready",
        facts=fact,
        report={},
        context_policy=fact.pop("context_policy", None),
    )

    async def insert() -> None:
        db = Database(gateway.settings.database_url)
        try:
            async with db.session() as session:
                session.add(row)
                await session.commit()
        finally:
            await db.close()

    asyncio.run(insert())


@dataclass
class Peers:
    gateway: Gateway
    embedder: TeiSim
    reranker: TeiSim
    chat: Sim
    chat_model: str

    def restore(self) -> None:
        self.embedder.restore()
        self.reranker.restore()
        for name in self.gateway.services.catalog.names():
            self.gateway.services.board.forget(name)

    def client(self, key: str | None = None) -> httpx.Client:
        return self.gateway.client(key=key)

    def openai(self, key: str | None = None) -> Any:
        import openai

        url = self.gateway.url + "/v1"
        return openai.OpenAI(base_url=url, api_key=key or ADMIN_KEY, max_retries=0, timeout=30)

    def usage(self, model: str) -> dict[str, Any] | None:
        with self.client() as client:
            rows = client.get("/api/usage").json()["by_model"]
        return next((row for row in rows if row["key"] == model), None)


@contextlib.contextmanager
def deployment(home: Path) -> Iterator[Peers]:
    limits = {"max_client_batch_size": MAX_BATCH, "max_input_tokens": MAX_INPUT}
    with (
        started_tei(model_id=EMBEDDER, **limits) as embedder,
        started_tei(model_id=RERANKER, tei_kind="rerank", **limits) as reranker,
        started_sim() as chat,
        running_gateway(home, hub_url=chat.url) as gateway,
    ):
        # The credential JSON an admin pastes, validated live (context_window comes from /info)
        for credential in (
            chat.credential(),
            {"api_key": SIM_TOKEN, "endpoint": embedder.url, "model_name": EMBEDDER},
            {"api_key": SIM_TOKEN, "endpoint": reranker.url, "model_name": RERANKER},
        ):
            added = gateway.add(credential)
            assert added.status_code == 201, added.text
        yield Peers(gateway, embedder, reranker, chat, chat.credential()["model_name"])
