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
    "budget": lambda k: budgets_cell(k.get("budgets")),
}
BUDGET_HELP = 'e.g. "{}/day" or "{}/month" (UTC); a bare number is per month.'
PERIOD_SHORT = {"day": "d", "month": "mo"}
AUDIT_COLUMNS = {
    "when": lambda e: human_time(e["at"]),
    "who": lambda e: e["actor"],
    "action": lambda e: e["action"],
    "target": lambda e: e["target"],
}


def _compact(number: float) -> str:
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if number >= size:
            return f"{number / size:.3g}{suffix}"
    return f"{number:g}"


def budgets_cell(budgets: list[dict[str, Any]] | None) -> str:
    """``2M/d 12%, $50/mo 84%!``: each budget, its use, ``!`` from 80 %; fits a narrow column."""
    cells = []
    for budget in budgets or ():
        figure = _compact(budget["limit"])
        cell = f"{'$' if budget['kind'] == 'usd' else ''}{figure}/{PERIOD_SHORT[budget['period']]}"
        if "spent" in budget:
            cell += f" {100 * budget['spent'] / budget['limit']:.0f}%"
            cell += "!" if budget["warning"] else ""
        cells.append(cell)
    return ", ".join(cells)


def _budget_body(tokens: str | None, usd: str | None, clear: bool) -> dict[str, Any]:
    """What ``user budget`` and ``key budget`` send: the budgets named, or both removed."""
    if clear:
        return {"budget_tokens": None, "budget_usd": None}
    body = {k: v for k, v in (("budget_tokens", tokens), ("budget_usd", usd)) if v}
    if not body:
        fail("name a budget: --budget-tokens N/day|month, --budget-usd N/day|month, or --clear")
    return body


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


@users_app.command("budget")
def user_budget(
    email: str,
    budget_tokens: str | None = typer.Option(
        None,
        help="Tokens the person may use over all their keys and chats, "
        + BUDGET_HELP.format(2000000, 50000000),
    ),
    budget_usd: str | None = typer.Option(
        None, help="Dollars of endpoint cost the person may use, " + BUDGET_HELP.format(5, 100)
    ),
    clear: bool = typer.Option(False, "--clear", help="Remove the person's budgets."),
    url: str | None = UrlOption,
    api_key: str | None = KeyOption,
) -> None:
    """Set a person's budgets (those not named are kept; --clear removes both)."""
    body = _budget_body(budget_tokens, budget_usd, clear)
    client = ApiClient(url, api_key)
    user = client.call("PUT", f"/api/users/{_user_id(client, email)}/budgets", json=body).json()
    shown = budgets_cell(user["budgets"]) or "no budgets"
    console.print(f"{user['email']}: {shown}", highlight=False)


@users_app.command("remove")
def user_remove(email: str, url: str | None = UrlOption, api_key: str | None = KeyOption) -> None:
    """Remove a person, their keys and their conversations."""
    client = ApiClient(url, api_key)
    client.call("DELETE", f"/api/users/{_user_id(client, email)}")
    console.print(f"removed {email}")


@users_app.command("invite")
def user_invite(
    email: str,
    role: RoleChoice = typer.Option(RoleChoice.member, help="The person's role."),
    url: str | None = UrlOption,
    api_key: str | None = KeyOption,
) -> None:
    """Invite a person: prints a one-time link (7 days) to pass on; hfgate sends no email."""
    body = {"email": email, "role": role.value}
    answer = ApiClient(url, api_key).call("POST", "/api/users/invite", json=body, ok=(201,)).json()
    until = answer["expires_at"]
    console.print(f"invited {email} as {role.value}; the link works once, until {until}:")
    typer.echo(answer["link"])


@users_app.command("reset-link")
def user_reset_link(
    email: str, url: str | None = UrlOption, api_key: str | None = KeyOption
) -> None:
    """Print a one-time link (24 h) with which the person chooses a new password."""
    client = ApiClient(url, api_key)
    answer = client.call("POST", f"/api/users/{_user_id(client, email)}/reset-link").json()
    console.print(f"reset link for {email}; it works once, until {answer['expires_at']}:")
    typer.echo(answer["link"])


def _set_disabled(email: str, disabled: bool, url: str | None, api_key: str | None) -> None:
    client = ApiClient(url, api_key)
    body = {"disabled": disabled}
    client.call("PATCH", f"/api/users/{_user_id(client, email)}", json=body)
    console.print(f"{'disabled' if disabled else 'enabled'} {email}")


@users_app.command("disable")
def user_disable(email: str, url: str | None = UrlOption, api_key: str | None = KeyOption) -> None:
    """Disable a person: no sign-in, sessions end, keys stop; their data stays."""
    _set_disabled(email, True, url, api_key)


@users_app.command("enable")
def user_enable(email: str, url: str | None = UrlOption, api_key: str | None = KeyOption) -> None:
    """Enable a disabled person again."""
    _set_disabled(email, False, url, api_key)


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
    budget_tokens: str | None = typer.Option(
        None,
        help="Tokens (prompt + completion) the key may use, "
        + BUDGET_HELP.format(2000000, 50000000),
    ),
    budget_usd: str | None = typer.Option(
        None, help="Dollars of endpoint cost the key may use, " + BUDGET_HELP.format(5, 50)
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
        "budget_tokens": budget_tokens,
        "budget_usd": budget_usd,
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
    fitted_listing(data, as_json, KEY_COLUMNS, ("name", "budget"), optional=("key",))


@keys_app.command("budget")
def key_budget(
    key_id: int,
    budget_tokens: str | None = typer.Option(
        None, help="Tokens the key may use, " + BUDGET_HELP.format(2000000, 50000000)
    ),
    budget_usd: str | None = typer.Option(
        None, help="Dollars of endpoint cost the key may use, " + BUDGET_HELP.format(5, 50)
    ),
    clear: bool = typer.Option(False, "--clear", help="Remove the key's budgets."),
    url: str | None = UrlOption,
    api_key: str | None = KeyOption,
) -> None:
    """Change a key's budgets (those not named are kept; --clear removes both)."""
    body = _budget_body(budget_tokens, budget_usd, clear)
    key = ApiClient(url, api_key).call("PATCH", f"/api/keys/{key_id}", json=body).json()
    console.print(f"{key['name']}: {budgets_cell(key['budgets']) or 'no budgets'}", highlight=False)


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
