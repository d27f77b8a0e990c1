"""``hfgate user invite / reset-link / disable / enable`` against a running gateway."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from hfgate.cli import app
from tests.people.support import PASSWORD, fresh
from tests.security.support import World
from tests.support.peers import ADMIN_KEY

LINK = re.compile(r"http://127\.0\.0\.1:\d+/invite\?token=[A-Za-z0-9_-]+")


def _run(world: World, *args: str) -> tuple[int, str]:
    env = {"HFGATE_URL": world.url, "HFGATE_API_KEY": ADMIN_KEY, "COLUMNS": "200"}
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.output


def test_invite_prints_a_working_link(world: World) -> None:
    code, output = _run(world, "user", "invite", "cli-invited@example.com", "--role", "admin")
    assert code == 0, output
    (link,) = LINK.findall(output)
    assert world.client().get(link.removeprefix(world.url)).status_code == 200


def test_reset_link_disable_and_enable(world: World) -> None:
    person = fresh(world)
    code, output = _run(world, "user", "reset-link", person.email)
    assert code == 0 and LINK.search(output), output
    assert _run(world, "user", "disable", person.email)[0] == 0
    refused = world.client().post("/auth/login", json={"email": person.email, "password": PASSWORD})
    assert refused.status_code == 403
    assert _run(world, "user", "enable", person.email)[0] == 0
    allowed = world.client().post("/auth/login", json={"email": person.email, "password": PASSWORD})
    assert allowed.status_code == 200
