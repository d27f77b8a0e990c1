"""The audit log (``GET /api/audit``, ``hfgate audit``): every change to integrations, keys and
people leaves a row naming who did what; admins read it, members cannot, and no secret is in it.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from typer.testing import CliRunner

from hfgate.cli import app as cli
from tests.security.support import World, new_key, owner_client
from tests.support.peers import SIM_TOKEN


def test_every_change_leaves_an_audit_row_that_only_admins_read(world: World) -> None:
    email = f"audited-{uuid.uuid4().hex[:6]}@example.com"
    password = f"Audit-{uuid.uuid4().hex}"
    with owner_client(world.gateway) as api:
        added = api.post(
            "/api/integrations", content=json.dumps(world.sim.credential(name="audited"))
        )
        assert added.status_code == 201, added.text
        integration = added.json()["integration"]
        path = f"/api/integrations/{integration['id']}"
        assert api.patch(path, json={"api_key": SIM_TOKEN}).status_code == 200  # a rotation
        assert api.delete(path).status_code == 200
        user = api.post("/api/users", json={"email": email, "role": "member"}).json()
        key = new_key(world.gateway, name=f"audit-{uuid.uuid4().hex[:4]}")
        assert api.delete(f"/api/keys/{key['id']}").status_code == 200
        assert api.patch(f"/api/users/{user['id']}", json={"role": "admin"}).status_code == 200
        assert api.patch(f"/api/users/{user['id']}", json={"password": password}).status_code == 200
        assert api.delete(f"/api/users/{user['id']}").status_code == 200

    expected = {
        ("integration.add", f"audited ({integration['id']})"),
        ("integration.update", f"audited ({integration['id']})"),
        ("integration.remove", f"audited ({integration['id']})"),
        ("user.add", f"{email} as member"),
        ("key.create", f"{key['name']} for {world.owner.email}"),
        ("key.revoke", f"{key['name']} ({key['prefix']})"),
        ("user.set_role", f"{email} to admin"),
        ("user.set_password", email),
        ("user.remove", email),
    }

    for reader in (world.admin, world.owner):
        with world.api(reader) as api:
            answer = api.get("/api/audit", params={"limit": 1000})
        assert answer.status_code == 200, answer.text
        events = answer.json()["data"]
        seen = {(e["action"], e["target"]) for e in events}
        assert expected <= seen, sorted(expected - seen)
        mine = [e for e in events if (e["action"], e["target"]) in expected]
        assert {e["actor"] for e in mine} == {world.owner.email}
        assert all(e["at"] for e in mine)
        rotation = next(e for e in mine if e["action"] == "integration.update")
        assert rotation["detail"] == {"fields": ["api_key"]}
        for secret in (SIM_TOKEN, key["key"], password):
            assert secret not in answer.text

    with world.api(world.member) as api:
        refused = api.get("/api/audit")
    assert refused.status_code == 403
    assert "integration" not in refused.text

    runner = CliRunner()
    shown = runner.invoke(
        cli, ["audit", "--json", "--limit", "200", "--url", world.url, "--api-key", world.admin.key]
    )
    assert shown.exit_code == 0, shown.output
    rows = json.loads(shown.output)
    assert expected <= {(e["action"], e["target"]) for e in rows}
    table = runner.invoke(cli, ["audit", "--url", world.url, "--api-key", world.admin.key])
    assert table.exit_code == 0 and "integration.remove" in table.output

    denied = runner.invoke(cli, ["audit", "--url", world.url, "--api-key", world.member.key])
    assert denied.exit_code != 0
    assert "403" in denied.output
    for output in (shown.output, table.output, denied.output):
        for secret in (SIM_TOKEN, key["key"], password, world.admin.key, world.member.key):
            assert secret not in output


def test_refused_changes_leave_no_audit_row(world: World) -> None:
    def count() -> int:
        with owner_client(world.gateway) as api:
            return len(api.get("/api/audit", params={"limit": 1000}).json()["data"])

    before = count()
    with world.api(world.member) as api:
        attempts: list[Any] = [
            api.post("/api/users", json={"email": "x@example.com", "role": "admin"}),
            api.delete(f"/api/users/{world.other.id}"),
            api.post("/api/keys", json={"name": "x", "user": world.other.email}),
            api.delete(f"/api/integrations/{world.integration_id}"),
        ]
    assert [a.status_code for a in attempts] == [403, 403, 403, 403]
    assert count() == before
