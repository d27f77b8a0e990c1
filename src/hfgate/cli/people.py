"""``hfgate user …``, ``hfgate key …`` and ``hfgate audit`` (talk to a running server)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import typer

from hfgate.cli._client import ApiClient, KeyOption, UrlOption, fail
from hfgate.cli._render import console, fitted_listing, human_time

users_app = typer.Typer(help="People and their roles (owner, admin, member).", no_args_is_help=True)
keys_app = typer.Typer(help="hfgate API keys: shown once, stored hashed.", no_args_is_help=True)
JsonOption = typer.Option(False, "--json", help="Print the raw JSON answer.")
USER_COLUMNS = {
    "id": lambda u: u["id"],
    "email": lambda u: u["email"],
    "role": lambda u: u["role"],
    "password": lambda u: "yes" if u["has_password"] else "no",
    "since": lambda u: human_time(u["created_at"]),
}
KEY_COLUMNS = {
    "id": lambda k: k["id"],
    "name": lambda k: k["name"],
    "key": lambda k: k["prefix"],
    "owner": lambda k: k["owner"],
    "last used": lambda k: human_time(k["last_used_at"]) or "never",
    "state": lambda k: _key_state(k),
}
AUDIT_COLUMNS = {
    "when": lambda e: human_time(e["at"]),
    "who": lambda e: e["actor"],
    "action": lambda e: e["action"],
    "target": lambda e: e["target"],
}


def _key_state(key: dict[str, Any]) -> str:
    """One column for revoked, expired and the expiry: a table of keys fits 80 columns."""
    if key["revoked_at"]:
        return "revoked"
    expires = key["expires_at"]
    if not expires:
        return "active"
    if datetime.fromisoformat(expires).astimezone(UTC) <= datetime.now(UTC):
        return "expired"
    return f"until {human_time(expires)}"


class RoleChoice(StrEnum):
    owner = "owner"
    admin = "admin"
    member = "member"


def _user_id(client: ApiClient, email: str) -> int:
    for user in client.call("GET", "/api/users").json()["data"]:
        if user["email"] == email.lower():
            return int(user["id"])
    fail(f"no user {email} (see `hfgate user list`)")


def _password(from_stdin: bool, prompt: bool) -> str | None:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    if prompt and sys.stdin.isatty():
        return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))
    return None


@users_app.command("add")
def user_add(
    email: str,
    role: RoleChoice = typer.Option(RoleChoice.member, help="The person's role."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from stdin."
    ),
    url: str | None = UrlOption,
    api_key: str | None = KeyOption,
) -> None:
    """Add a person (password from --password-stdin or a prompt; none: API keys only)."""
    body: dict[str, Any] = {"email": email, "role": role.value}
    password = _password(password_stdin, prompt=True)
    if password:
        body["password"] = password
    user = ApiClient(url, api_key).call("POST", "/api/users", json=body, ok=(201,)).json()
    console.print(f"added {user['email']} as {user['role']} (id {user['id']})")


@users_app.command("list")
def user_list(
    as_json: bool = JsonOption, url: str | None = UrlOption, api_key: str | None = KeyOption
) -> None:
    """List people and roles."""
    data = ApiClient(url, api_key).call("GET", "/api/users").json()["data"]
    fitted_listing(data, as_json, USER_COLUMNS, ("since",))


@users_app.command("set-role")
def user_set_role(
    email: str, role: RoleChoice, url: str | None = UrlOption, api_key: str | None = KeyOption
) -> None:
    """Change a person's role (signs them out everywhere)."""
    client = ApiClient(url, api_key)
    user = client.call(
        "PATCH", f"/api/users/{_user_id(client, email)}", json={"role": role.value}
    ).json()
    console.print(f"{user['email']} is now {user['role']}")


@users_app.command("remove")
def user_remove(email: str, url: str | None = UrlOption, api_key: str | None = KeyOption) -> None:
    """Remove a person, their keys and their conversations."""
    client = ApiClient(url, api_key)
    client.call("DELETE", f"/api/users/{_user_id(client, email)}")
    console.print(f"removed {email}")


@keys_app.command("create")
def key_create(
    name: str = typer.Option(..., help="What the key is for, e.g. ci."),
    user: str | None = typer.Option(None, help="Owner's email (admins only; default: you)."),
    rpm: int | None = typer.Option(None, help="Requests per minute."),
    tpm: int | None = typer.Option(None, help="Tokens per minute."),
    expires: int | None = typer.Option(None, help="Days until the key expires."),
    model: list[str] = typer.Option([], help="Allow only this model (repeatable)."),
    context: str | None = typer.Option(
        None, help="A too-long request: strict (refuse, the default) or trim (drop old turns)."
    ),
    url: str | None = UrlOption,
    api_key: str | None = KeyOption,
) -> None:
    """Create an API key and print it once."""
    body = {
        "name": name,
        "user": user,
        "rpm": rpm,
        "tpm": tpm,
        "expires_days": expires,
        "models": model or None,
        "context_policy": context,
    }
    created = (
        ApiClient(url, api_key)
        .call("POST", "/api/keys", json={k: v for k, v in body.items() if v is not None}, ok=(201,))
        .json()
    )
    console.print(f"[bold]{created['key']}[/]")
    console.print(
        "[dim]Copy it now: hfgate stores only its hash and cannot show it again.[/]",
        highlight=False,
    )


@keys_app.command("list")
def key_list(
    as_json: bool = JsonOption, url: str | None = UrlOption, api_key: str | None = KeyOption
) -> None:
    """List keys (yours; admins see everyone's)."""
    data = ApiClient(url, api_key).call("GET", "/api/keys").json()["data"]
    fitted_listing(data, as_json, KEY_COLUMNS, ("name",), optional=("key",))


@keys_app.command("revoke")
def key_revoke(key_id: int, url: str | None = UrlOption, api_key: str | None = KeyOption) -> None:
    """Revoke a key at once."""
    key = ApiClient(url, api_key).call("DELETE", f"/api/keys/{key_id}").json()
    console.print(f"revoked {key['name']} ({key['prefix']})")


def audit(
    limit: int = typer.Option(50, help="How many events, newest first."),
    as_json: bool = JsonOption,
    url: str | None = UrlOption,
    api_key: str | None = KeyOption,
) -> None:
    """Who added, rotated or removed which integration, key or role, and when."""
    data = ApiClient(url, api_key).call("GET", "/api/audit", params={"limit": limit}).json()["data"]
    fitted_listing(data, as_json, AUDIT_COLUMNS, ("target",))
