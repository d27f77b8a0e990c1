"""``hfgate endpoint add|validate|list|remove`` and ``hfgate models``."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from hfgate.cli._client import REPORT_STATUSES, ApiClient, KeyOption, UrlOption, fail
from hfgate.cli._render import console, fitted_listing, report_answer, stored_exit_code

app = typer.Typer(
    help="Register and manage Inference Endpoints (talks to a running server).",
    no_args_is_help=True,
)

JsonOption = typer.Option(False, "--json", help="Print the raw JSON answer.")
WaitOption = typer.Option(
    0.0, "--wait", help="Seconds to wait for a scaled-to-zero endpoint to wake."
)
SOURCE_HELP = "Credential JSON file, or - for standard input."
INTEGRATION_COLUMNS = {
    "model": lambda i: i["name"],
    "status": lambda i: i["status"],
    "engine": lambda i: i["engine"] or "?",
    "context": lambda i: f"{i['context_window']:,}",
    "endpoint": lambda i: i["endpoint"],
    "key": lambda i: i["api_key"],
    "id": lambda i: i["id"],
}
# In a narrow terminal the URL folds, then these columns go, in order; the model name, which
# `endpoint remove` takes, always stays whole; the id (a UUID, also taken) folds only when
# nothing else is left to give way.
INTEGRATION_YIELDING = ("endpoint", "id")
INTEGRATION_OPTIONAL = ("key", "engine", "context", "endpoint")
MODEL_COLUMNS = {
    "model": lambda m: m["id"],
    "status": lambda m: m["status"],
    "context": lambda m: f"{m['context_window']:,}",
    "engine": lambda m: m.get("engine") or "?",
    "detail": lambda m: m.get("status_detail", ""),
}
MODEL_OPTIONAL = ("engine", "context")


def _read_source(source: str) -> bytes:
    if source == "-":
        return sys.stdin.buffer.read()
    path = Path(source)
    if not path.is_file():
        fail(f"{source}: no such file (give a credential JSON file, or - to read standard input)")
    return path.read_bytes()


def _post_credential(
    path: str, source: str, wait: float, url: str | None, api_key: str | None, as_json: bool
) -> int:
    client = ApiClient(url, api_key, timeout=wait + 60)
    response = client.call(
        "POST",
        path,
        params={"wait": wait},
        content=_read_source(source),
        headers={"Content-Type": "application/json"},
        ok=REPORT_STATUSES,
    )
    return report_answer(response, as_json)


@app.command("add")
def add(
    source: str = typer.Argument(..., help=SOURCE_HELP),
    wait: float = WaitOption,
    as_json: bool = JsonOption,
    url: str | None = UrlOption,
    api_key: str | None = KeyOption,
) -> None:
    """Validate a credential against its live endpoint and store it.

    Exit status: 0 stored, 2 stored as pending (endpoint asleep), 1 refused.
    """
    status = _post_credential("/api/integrations", source, wait, url, api_key, as_json)
    raise typer.Exit(stored_exit_code(status))


@app.command("validate")
def validate(
    source: str = typer.Argument(..., help=SOURCE_HELP),
    wait: float = WaitOption,
    as_json: bool = JsonOption,
    url: str | None = UrlOption,
    api_key: str | None = KeyOption,
) -> None:
    """Run every check on a credential without storing anything."""
    status = _post_credential("/api/integrations/validate", source, wait, url, api_key, as_json)
    raise typer.Exit(0 if status == 200 else 1)


@app.command("list")
def list_(
    as_json: bool = JsonOption, url: str | None = UrlOption, api_key: str | None = KeyOption
) -> None:
    """List registered endpoints with their state (tokens shown masked)."""
    data = ApiClient(url, api_key).call("GET", "/api/integrations").json()["data"]
    fitted_listing(
        data, as_json, INTEGRATION_COLUMNS, INTEGRATION_YIELDING, INTEGRATION_OPTIONAL, boxed=True
    )


@app.command("remove")
def remove(
    target: str = typer.Argument(..., help="Integration id or model name."),
    url: str | None = UrlOption,
    api_key: str | None = KeyOption,
) -> None:
    """Remove an endpoint: its model disappears from every list at once."""
    client = ApiClient(url, api_key)
    data = client.call("GET", "/api/integrations").json()["data"]
    match = [i for i in data if target in (i["id"], i["name"])]
    if not match:
        fail(f"no integration with id or name {target!r} (see `hfgate endpoint list`)")
    client.call("DELETE", f"/api/integrations/{match[0]['id']}")
    console.print(f"removed {match[0]['name']}")


def models(
    as_json: bool = JsonOption, url: str | None = UrlOption, api_key: str | None = KeyOption
) -> None:
    """List the models callers can use, with live status and context window."""
    data = ApiClient(url, api_key).call("GET", "/api/models").json()["data"]
    fitted_listing(data, as_json, MODEL_COLUMNS, ("detail",), MODEL_OPTIONAL, boxed=True)
