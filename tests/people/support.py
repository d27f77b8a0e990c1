"""Helpers of the people tests: browsers signed in with a password, fresh people."""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

import httpx

from tests.security.support import Person, World, add_person

PASSWORD = "people-Password-4e8a1c"


def browser(world: World, email: str, password: str) -> httpx.Client:
    """A client holding a session cookie, as the workspace does (CSRF token in ``headers``)."""
    client = httpx.Client(base_url=world.url, timeout=30, follow_redirects=False)
    signed_in = client.post("/auth/login", json={"email": email, "password": password})
    assert signed_in.status_code == 200, signed_in.text
    client.headers["X-CSRF-Token"] = signed_in.json()["csrf_token"]
    return client


def fresh(world: World, role: str = "member") -> Person:
    """A new person with a password and a key."""
    return add_person(world.gateway, f"p-{uuid.uuid4().hex[:8]}@example.com", role, PASSWORD)


def sql(world: World, statement: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(world.gateway.home / "hfgate.db") as conn:
        return conn.execute(statement, args).fetchall()


def actions(api: httpx.Client, target: str) -> list[str]:
    """The audit actions on ``target``, newest first."""
    answer = api.get("/api/audit", params={"target": target})
    assert answer.status_code == 200, answer.text
    return [row["action"] for row in answer.json()["data"]]
