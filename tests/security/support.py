"""The security suite's world: one simulator, one gateway serving it, and a person per role.

Everyone is created the way an operator would create them, through the HTTP API with the
owner's bootstrap key (``HFGATE_ADMIN_KEY``), and each gets an API key of their own.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.security.plugin import register_secret
from tests.support.peers import ADMIN_KEY, MODEL, Gateway, SimHandle, running_gateway, running_sim

OWNER_EMAIL = "owner@localhost"
OWNER_PASSWORD = "owner-Password-7f3a9c"
ADMIN_PASSWORD = "admin-Password-2b8e4d"
MEMBER_PASSWORD = "member-Password-5c1f6a"
OTHER_MODEL = "other-llama"
for _secret, _label in (
    (OWNER_PASSWORD, "OWNER_PASSWORD"),
    (ADMIN_PASSWORD, "ADMIN_PASSWORD"),
    (MEMBER_PASSWORD, "MEMBER_PASSWORD"),
):
    register_secret(_secret, f"{_label} (tests.security.support)")


@dataclass
class Person:
    email: str
    role: str
    id: int
    key: str
    key_id: int
    password: str | None = None


@dataclass
class World:
    sim: SimHandle
    gateway: Gateway
    integration_id: str
    owner: Person
    admin: Person
    member: Person
    other: Person
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.gateway.url

    def client(self, key: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)

    def api(self, person: Person | None) -> httpx.Client:
        return self.client(person.key if person else None)


def owner_client(gateway: Gateway) -> httpx.Client:
    return httpx.Client(
        base_url=gateway.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
    )


def add_person(gateway: Gateway, email: str, role: str, password: str | None = None) -> Person:
    with owner_client(gateway) as api:
        body: dict[str, Any] = {"email": email, "role": role}
        if password:
            body["password"] = password
        user = api.post("/api/users", json=body)
        assert user.status_code == 201, user.text
        key = api.post("/api/keys", json={"name": "tests", "user": email})
        assert key.status_code == 201, key.text
    created = key.json()
    return Person(email, role, user.json()["id"], created["key"], created["id"], password)


def new_key(gateway: Gateway, person: Person | None = None, **spec: Any) -> dict[str, Any]:
    """A key for ``person`` (default: the owner), made by the owner; returns the 201 body."""
    body = {"name": spec.pop("name", f"k-{uuid.uuid4().hex[:6]}")} | spec
    if person is not None:
        body["user"] = person.email
    with owner_client(gateway) as api:
        response = api.post("/api/keys", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def chat_body(model: str = MODEL, content: str = "hello", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}]} | extra


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def wait_until(probe: Any, timeout: float = 5.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


@contextmanager
def world_at(home: Path, **env: str) -> Iterator[World]:
    """A running world: the simulator registered as ``MODEL`` and as ``OTHER_MODEL``."""
    with ExitStack() as stack:
        sim = stack.enter_context(running_sim())
        gateway = stack.enter_context(
            running_gateway(home, hub_url=sim.url, HFGATE_OWNER_PASSWORD=OWNER_PASSWORD, **env)
        )
        added = gateway.add(sim.credential())
        assert added.status_code == 201, added.text
        other = gateway.add(sim.credential(name=OTHER_MODEL))
        assert other.status_code == 201, other.text
        with owner_client(gateway) as api:
            me = api.get("/auth/me").json()["user"]
            keys = api.get("/api/keys").json()["data"]
        owner = Person(OWNER_EMAIL, "owner", me["id"], ADMIN_KEY, keys[0]["id"], OWNER_PASSWORD)
        yield World(
            sim,
            gateway,
            added.json()["integration"]["id"],
            owner,
            add_person(gateway, "admin@example.com", "admin", ADMIN_PASSWORD),
            add_person(gateway, "member@example.com", "member", MEMBER_PASSWORD),
            add_person(gateway, "other@example.com", "member", "other-Password-9d0e1b"),
        )


@contextmanager
def dedicated_postgres() -> Iterator[str | None]:
    """A fresh PostgreSQL database of its own (None when PostgreSQL is not reachable)."""
    from tests.conftest import PG_HOST, PG_PORT, _pg_admin, reachable

    if not reachable(PG_HOST, PG_PORT):
        yield None
        return
    name = f"hfgate_sec_{uuid.uuid4().hex[:10]}"
    run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
