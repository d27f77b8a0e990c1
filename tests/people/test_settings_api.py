"""``GET /api/settings``: the running server's facts, for admins, with nothing secret in them."""

from __future__ import annotations

from hfgate import __version__
from tests.security.support import World


def test_admins_see_the_server_facts(world: World) -> None:
    with world.client(world.admin.key) as api:
        answer = api.get("/api/settings")
    assert answer.status_code == 200, answer.text
    facts = answer.json()
    assert facts["version"] == __version__
    assert facts["database"] == "SQLite"
    assert facts["redis"]["state"] == "off"
    assert facts["processes"] == "one"
    assert "aiosqlite" not in answer.text and "hfgate.db" not in answer.text  # never the URL


def test_members_do_not(world: World) -> None:
    with world.client(world.member.key) as api:
        assert api.get("/api/settings").status_code == 403
    with world.client() as api:
        assert api.get("/api/settings").status_code == 401
