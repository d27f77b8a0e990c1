"""`hfgate user …`, `hfgate key …` and `hfgate audit` against a running gateway."""

from __future__ import annotations

import json

import httpx
import pytest
from tests.support.peers import ADMIN_KEY, Gateway
from typer.testing import CliRunner

from hfgate.cli import app


@pytest.fixture
def run(gateway: Gateway):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    env = {"HFGATE_URL": gateway.url, "HFGATE_API_KEY": ADMIN_KEY}

    def invoke(*args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args), env=env, input=stdin)

    return invoke


def test_people_and_keys_round_trip(run, gateway: Gateway) -> None:  # type: ignore[no-untyped-def]
    added = run(
        "user",
        "add",
        "ada@example.com",
        "--role",
        "member",
        "--password-stdin",
        stdin="a long password\n",
    )
    assert added.exit_code == 0, added.output
    assert "added ada@example.com as member" in added.output

    listed = json.loads(run("user", "list", "--json").output)
    assert {(u["email"], u["role"], u["has_password"]) for u in listed} >= {
        ("ada@example.com", "member", True)
    }

    created = run("key", "create", "--name", "ci", "--user", "ada@example.com", "--rpm", "5")
    assert created.exit_code == 0, created.output
    key = created.output.split()[0]
    assert key.startswith("hfg_")
    me = httpx.get(f"{gateway.url}/auth/me", headers={"Authorization": f"Bearer {key}"})
    assert me.json()["user"]["email"] == "ada@example.com"

    keys = json.loads(run("key", "list", "--json").output)
    ci = next(k for k in keys if k["name"] == "ci")
    assert ci["owner"] == "ada@example.com" and ci["rpm"] == 5 and key not in json.dumps(keys)

    assert run("key", "revoke", str(ci["id"])).exit_code == 0
    assert (
        httpx.get(
            f"{gateway.url}/v1/models", headers={"Authorization": f"Bearer {key}"}
        ).status_code
        == 401
    )

    promoted = run("user", "set-role", "ada@example.com", "admin")
    assert promoted.exit_code == 0 and "is now admin" in promoted.output
    assert run("user", "remove", "ada@example.com").exit_code == 0
    assert "ada@example.com" not in run("user", "list").output

    audit = json.loads(run("audit", "--json").output)
    actions = [event["action"] for event in audit]
    for action in ("user.add", "key.create", "key.revoke", "user.set_role", "user.remove"):
        assert action in actions


def test_a_member_cannot_manage_people(run, gateway: Gateway) -> None:  # type: ignore[no-untyped-def]
    run("user", "add", "bob@example.com", "--role", "member")
    key = run("key", "create", "--name", "bob", "--user", "bob@example.com").output.split()[0]
    runner = CliRunner()
    env = {"HFGATE_URL": gateway.url, "HFGATE_API_KEY": key}
    refused = runner.invoke(app, ["user", "list"], env=env)
    assert refused.exit_code == 1
    assert "HTTP 403" in refused.output


def test_the_last_owner_cannot_be_demoted(run) -> None:  # type: ignore[no-untyped-def]
    demoted = run("user", "set-role", "owner@localhost", "member")
    assert demoted.exit_code == 1
    assert "last owner" in demoted.output
