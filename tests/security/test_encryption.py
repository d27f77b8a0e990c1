"""Endpoint tokens at rest (SECURITY.md): Fernet-encrypted, and rotated with
``hfgate secrets rotate`` so the old key can be dropped."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken
from typer.testing import CliRunner

from hfgate.cli import app as cli
from tests.security.plugin import register_secret
from tests.security.support import chat_body, owner_client
from tests.support.peers import SIM_TOKEN, SimHandle, running_gateway

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()
register_secret(OLD_KEY, "an HFGATE_SECRET_KEY (test_encryption OLD_KEY)")
register_secret(NEW_KEY, "an HFGATE_SECRET_KEY (test_encryption NEW_KEY)")


def stored_token(home: Path) -> str:
    with sqlite3.connect(home / "hfgate.db") as conn:
        (row,) = conn.execute("SELECT api_key_encrypted, api_key_mask FROM integrations")
    assert row[1] == "hf_…" + SIM_TOKEN[-4:]
    return str(row[0])


def test_tokens_are_encrypted_at_rest_and_rotation_retires_the_old_key(
    sim: SimHandle, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    with running_gateway(home, hub_url=sim.url, HFGATE_SECRET_KEY=OLD_KEY) as gateway:
        assert gateway.add(sim.credential()).status_code == 201

    encrypted = stored_token(home)
    assert SIM_TOKEN not in encrypted and SIM_TOKEN[3:-4] not in encrypted
    assert Fernet(OLD_KEY.encode()).decrypt(encrypted.encode()).decode() == SIM_TOKEN
    raw = b"".join(p.read_bytes() for p in home.glob("hfgate.db*"))
    assert SIM_TOKEN.encode() not in raw, "the token is in the database files in clear"

    env = {
        "HFGATE_HOME": str(home),
        "HFGATE_DATABASE_URL": f"sqlite+aiosqlite:///{home / 'hfgate.db'}",
        "HFGATE_SECRET_KEY": f"{NEW_KEY},{OLD_KEY}",
    }
    rotated = CliRunner().invoke(cli, ["secrets", "rotate"], env=env)
    assert rotated.exit_code == 0, rotated.output
    assert "re-encrypted 1" in rotated.output
    assert OLD_KEY not in rotated.output and NEW_KEY not in rotated.output

    encrypted = stored_token(home)
    assert Fernet(NEW_KEY.encode()).decrypt(encrypted.encode()).decode() == SIM_TOKEN
    with pytest.raises(InvalidToken):
        Fernet(OLD_KEY.encode()).decrypt(encrypted.encode())

    # the old key is gone from the configuration: the model is still served after a restart
    with (
        running_gateway(home, hub_url=sim.url, HFGATE_SECRET_KEY=NEW_KEY) as gateway,
        owner_client(gateway) as api,
    ):
        answer = api.post("/v1/chat/completions", json=chat_body(max_tokens=2))
        assert answer.status_code == 200, answer.text
        audit = api.get("/api/audit").json()["data"]
        assert audit[0]["action"] == "secrets.rotate"
        assert audit[0]["target"] == "1 endpoint token(s)"
        assert "@" in audit[0]["actor"]  # who ran it, on which host
        for path in ("/api/integrations", "/v1/models", "/api/audit"):
            listed = api.get(path)
            assert listed.status_code == 200
            for secret in (SIM_TOKEN, OLD_KEY, NEW_KEY, encrypted):
                assert secret not in listed.text, f"{path} shows a secret"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_gateway_without_the_right_key_does_not_serve_garbage(
    sim: SimHandle, tmp_path: Path
) -> None:
    """Dropping the key before rotating must fail loudly, never send a wrong token upstream."""
    home = tmp_path / "home"
    with running_gateway(home, hub_url=sim.url, HFGATE_SECRET_KEY=OLD_KEY) as gateway:
        assert gateway.add(sim.credential()).status_code == 201
    sim.reset()
    try:
        with (
            running_gateway(home, hub_url=sim.url, HFGATE_SECRET_KEY=NEW_KEY) as gateway,
            owner_client(gateway) as api,
        ):
            answer = api.post("/v1/chat/completions", json=chat_body(max_tokens=2))
            assert answer.status_code != 200
            assert answer.status_code < 500 or answer.json()["error"]["code"] != "internal_error"
            for secret in (SIM_TOKEN, OLD_KEY, NEW_KEY):
                assert secret not in answer.text
    except RuntimeError as exc:  # refusing to start is a fine answer too
        assert "did not start" in str(exc)
    generated = {k: v for k, v in sim.stats()["requests"].items() if "generate" in k or "chat" in k}
    assert generated == {}, "a request went upstream with a token that could not be decrypted"
