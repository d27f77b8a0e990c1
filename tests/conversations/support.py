"""Helpers for the conversation tests: a second person with a key, and reading SSE streams."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from hfgate.auth import KeyStore
from hfgate.storage import Database
from hfgate.values.principal import Role
from tests.support.peers import MODEL, Gateway

T = TypeVar("T")
OTHER_KEY = "hfg_test_member_key_0123456789abcdefghijklmn"


async def _add_member(url: str, email: str, key: str) -> None:
    db = Database(url)
    try:
        keys = KeyStore(db)
        user = await keys.ensure_user(email, Role.MEMBER)
        await keys.ensure_key(user.id, "tests", key)
    finally:
        await db.close()


def add_member(gateway: Gateway, email: str = "member@example.com", key: str = OTHER_KEY) -> str:
    """A second person, written straight into the gateway's database; returns their key."""
    asyncio.run(_add_member(gateway.settings.database_url, email, key))
    return key


def new_conversation(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    response = client.post("/api/conversations", json={"model": MODEL} | fields)
    assert response.status_code == 201, response.text
    return response.json()


@dataclass
class Stream:
    """One ``/chat`` answer as the browser sees it."""

    status: int
    headers: dict[str, str]
    hfgate: dict[str, Any] | None = None
    chunks: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False
    body: bytes = b""

    @property
    def text(self) -> str:
        return "".join(
            choice["delta"].get("content") or ""
            for chunk in self.chunks
            for choice in chunk.get("choices", [])
        )

    @property
    def usage(self) -> dict[str, Any] | None:
        return next((c["usage"] for c in self.chunks if c.get("usage")), None)

    def take(self, event: str, data: str) -> None:
        if event == "hfgate":
            self.hfgate = json.loads(data)
        elif data == "[DONE]":
            self.done = True
        else:
            payload = json.loads(data)
            (self.errors if "error" in payload else self.chunks).append(payload)


def events(response: httpx.Response) -> Iterator[tuple[str, str]]:
    """(event name, data) for each SSE event, as it arrives; comments are skipped."""
    name, data = "message", []
    for line in response.iter_lines():
        if line.startswith(":"):
            continue
        if not line:
            if data:
                yield name, "\n".join(data)
            name, data = "message", []
        elif line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: "):
            data.append(line[len("data: ") :])


def chat(client: httpx.Client, conversation_id: str, **body: Any) -> Stream:
    with client.stream("POST", f"/api/conversations/{conversation_id}/chat", json=body) as reply:
        stream = Stream(reply.status_code, dict(reply.headers))
        if reply.status_code != 200:
            stream.body = reply.read()
            return stream
        for event, data in events(reply):
            stream.take(event, data)
    return stream


def wait_for(probe: Callable[[], T | None], timeout: float = 5.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing after {timeout} s")
        time.sleep(0.05)


def messages(client: httpx.Client, conversation_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/conversations/{conversation_id}")
    assert response.status_code == 200, response.text
    return response.json()["messages"]
