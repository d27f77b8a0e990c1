"""``hfgate hf …``: connect Hugging Face accounts, list their Inference Endpoints, import them
into hfgate without any JSON, and resume, pause or scale them to zero (``/api/hf``, admins).

Tokens are read from standard input only (``--token-stdin``, ``--api-key-stdin``), never from
argv or the environment, so they stay out of shell history and ``ps``; the server answers with
them masked.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import typer

from hfgate.cli._client import (
    REPORT_STATUSES,
    ApiClient,
    KeyOption,
    UrlOption,
    fail,
    secret_from_stdin,
)
from hfgate.cli._render import (
    MARKS,
    compact_table,
    console,
    listing,
    report_answer,
    stored_exit_code,
)
from hfgate.cli.endpoint import JsonOption, WaitOption

app = typer.Typer(
    help=(
        "Hugging Face accounts and their Inference Endpoints: list, import, resume, pause"
        " (talks to a running server; admin key)."
    ),
    no_args_is_help=True,
)
ACCOUNT_COLUMNS = {
    "id": lambda a: a["id"],
    "user": lambda a: a["user"],
    "namespaces": lambda a: ", ".join(a["namespaces"]),
    "token": lambda a: a["token"],
    "since": lambda a: a["created_at"][:10],  # the day only: leaves the id room in 80 columns
}
ENDPOINT_COLUMNS = ["endpoint", "state", "engine", "instance", "$/h", "in hfgate"]
OUTCOME_MARKS = {"valid": "ok", "pending": "warn"}  # anything else: nothing was stored
EndpointArgument = typer.Argument(..., help="The endpoint as NAMESPACE/NAME (hfgate hf endpoints).")


def _endpoint_path(target: str, suffix: str) -> str:
    namespace, _, name = target.strip().partition("/")
    if not namespace or not name or "/" in name:
        fail(
            f"{target!r} is not NAMESPACE/NAME, e.g. acme/llama-3-8b-instruct"
            " (see `hfgate hf endpoints`)"
        )
    return f"/api/hf/endpoints/{quote(namespace, safe='')}/{quote(name, safe='')}/{suffix}"


# -- accounts --------------------------------------------------------------------------------


@app.command("connect")
def connect(
    token_stdin: bool = typer.Option(
        False, "--token-stdin", help="Read the Hugging Face token from standard input."
    ),
    namespace: str | None = typer.Option(
        None, "--namespace", help="Only this user or organisation (default: every one)."
    ),
    url: str | None = UrlOption,
    api_key: str | None = KeyOption,
) -> None:
    """Connect a Hugging Face token (checked live, stored encrypted).

    Example: `printf %s "$TOKEN" | hfgate hf connect --token-stdin --namespace acme`
    """
    if not token_stdin:
        fail("give the token on standard input with --token-stdin (never as an argument)")
    body: dict[str, Any] = {"token": secret_from_stdin("Hugging Face token", "--token-stdin")}
    if namespace:
        body["namespace"] = namespace
    account = ApiClient(url, api_key).call("POST", "/api/hf/accounts", json=body, ok=(201,))
    shown = account.json()
    namespaces = ", ".join(shown["namespaces"])
    console.print(f"connected [bold]{shown['user']}[/]: namespaces {namespaces}")
    console.print(f"token {shown['token']}, account id {shown['id']}")


@app.command("accounts")
def accounts(
    as_json: bool = JsonOption, url: str | None = UrlOption, api_key: str | None = KeyOption
) -> None:
    """List the connected Hugging Face accounts (tokens masked)."""
    data = ApiClient(url, api_key).call("GET", "/api/hf/accounts").json()["data"]
    listing(data, as_json, ACCOUNT_COLUMNS)


@app.command("disconnect")
def disconnect(
    account_id: str = typer.Argument(..., help="The account id (hfgate hf accounts)."),
    url: str | None = UrlOption,
    api_key: str | None = KeyOption,
) -> None:
    """Forget a token; the models imported with it stay served."""
    ApiClient(url, api_key).call("DELETE", f"/api/hf/accounts/{quote(account_id, safe='')}")
    console.print(f"disconnected {account_id}; its imported models stay")


# -- endpoints -------------------------------------------------------------------------------


def _instance(endpoint: dict[str, Any]) -> str:
    """``nvidia-a10g`` ``x1`` → ``a10g x1``: every GPU type is NVIDIA's, CPUs keep their maker."""
    kind = (endpoint.get("instance_type") or "").removeprefix("nvidia-")
    return " ".join(part for part in (kind, endpoint.get("instance_size")) if part) or "?"


def _in_hfgate(endpoint: dict[str, Any]) -> str:
    if endpoint.get("model"):
        return str(endpoint["model"])
    return "—" if endpoint.get("supported") else "unsupported"


def _price(endpoint: dict[str, Any]) -> str:
    price = endpoint.get("price_per_hour")
    return f"{price:.2f}" if isinstance(price, int | float) else "?"


def _endpoint_row(endpoint: dict[str, Any]) -> list[str]:
    return [
        f"{endpoint['namespace']}/{endpoint['name']}",
        endpoint["state"],
        endpoint.get("engine") or "?",
        _instance(endpoint),
        _price(endpoint),
        _in_hfgate(endpoint),
    ]


def _print_endpoints(body: dict[str, Any], client: ApiClient) -> None:
    endpoints = body["endpoints"]
    if endpoints:
        compact_table(ENDPOINT_COLUMNS, [_endpoint_row(e) for e in endpoints], "in hfgate")
    elif not body["errors"] and not client.call("GET", "/api/hf/accounts").json()["data"]:
        console.print("no Hugging Face account connected: run `hfgate hf connect --token-stdin`")
    elif not body["errors"]:
        console.print("the connected namespaces have no Inference Endpoints")
    for endpoint in endpoints:
        if endpoint.get("unsupported_reason") and not endpoint.get("model"):
            console.print(f"[dim]unsupported: {endpoint['unsupported_reason']}[/]")


@app.command("endpoints")
def endpoints(
    refresh: bool = typer.Option(
        False, "--refresh", help="Ask Hugging Face now instead of the last few seconds' answer."
    ),
    as_json: bool = JsonOption,
    url: str | None = UrlOption,
    api_key: str | None = KeyOption,
) -> None:
    """Every Inference Endpoint of the connected namespaces (listing never wakes one).

    Exit status 1 when a namespace could not be read (its error is printed below the table).
    """
    client = ApiClient(url, api_key)
    body = client.call("GET", "/api/hf/endpoints", params={"refresh": refresh}).json()
    if as_json:
        typer.echo(json.dumps(body, indent=2))
        return
    _print_endpoints(body, client)
    for error in body["errors"]:
        typer.secho(f"error: {error['namespace']}: {error['message']}", fg="red", err=True)
    if body["errors"]:
        raise typer.Exit(1)


# -- import ----------------------------------------------------------------------------------


@app.command("import")
def import_(
    target: str = EndpointArgument,
    name: str | None = typer.Option(None, "--name", help="Model name in hfgate."),
    context_window: int | None = typer.Option(
        None, "--context-window", min=1, help="When the endpoint's settings do not say it."
    ),
    api_key_stdin: bool = typer.Option(
        False,
        "--api-key-stdin",
        help="Read the token hfgate calls the endpoint with from stdin (default: the account's).",
    ),
    wait: float = WaitOption,
    as_json: bool = JsonOption,
    url: str | None = UrlOption,
    api_key: str | None = KeyOption,
) -> None:
    """Validate an endpoint live and serve it, with the checklist of `hfgate endpoint add`.

    Exit status: 0 stored, 2 stored as pending (endpoint asleep), 1 refused.
    """
    path = _endpoint_path(target, "import")
    options: dict[str, Any] = {"name": name, "context_window": context_window}
    if api_key_stdin:
        options["api_key"] = secret_from_stdin("token for the endpoint", "--api-key-stdin")
    body = {key: value for key, value in options.items() if value is not None}
    client = ApiClient(url, api_key, timeout=wait + 60)
    response = client.call(
        "POST", path, params={"wait": wait}, json=body or None, ok=REPORT_STATUSES
    )
    raise typer.Exit(stored_exit_code(report_answer(response, as_json)))


def _import_line(item: dict[str, Any]) -> str:
    mark, colour = MARKS[OUTCOME_MARKS.get(item["outcome"], "fail")]
    model = f" → {item['model']}" if item.get("model") else ""
    return f"[{colour}]{mark} {item['endpoint']}{model}[/]: {item['outcome']}: {item['summary']}"


@app.command("import-all")
def import_all(
    as_json: bool = JsonOption, url: str | None = UrlOption, api_key: str | None = KeyOption
) -> None:
    """Import every supported endpoint not imported yet (no waiting for sleeping ones).

    Exit status 1 when an import was refused.
    """
    # No timeout: each import runs the whole live validation, one endpoint after another.
    client = ApiClient(url, api_key, timeout=None)
    result = client.call("POST", "/api/hf/endpoints/import-all").json()
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        _print_import_all(result)
    refused = [i for i in result["imported"] if i["outcome"] not in OUTCOME_MARKS]
    raise typer.Exit(1 if refused or result.get("failed") else 0)


def _print_import_all(result: dict[str, Any]) -> None:
    for item in result["imported"]:
        console.print(_import_line(item))
    for item in result.get("failed", []):
        console.print(f"[red]✗[/] {item['endpoint']}: not imported: {item['message']}")
    for item in result["skipped"]:
        console.print(f"[dim]– {item['endpoint']}: skipped: {item['reason']}[/]")
    if not any(result.get(part) for part in ("imported", "failed", "skipped")):
        console.print("nothing to import (see `hfgate hf endpoints`)")


# -- operate ---------------------------------------------------------------------------------


def _act(action: str, target: str, url: str | None, api_key: str | None) -> None:
    endpoint = ApiClient(url, api_key).call("POST", _endpoint_path(target, action)).json()
    line = f"{endpoint['namespace']}/{endpoint['name']}: [bold]{endpoint['state']}[/]"
    if endpoint.get("message"):
        line += f" ({endpoint['message']})"
    if endpoint.get("model"):
        line += f"; model {endpoint['model']} is {endpoint['status']}"
    console.print(line)


@app.command("resume")
def resume(
    target: str = EndpointArgument, url: str | None = UrlOption, api_key: str | None = KeyOption
) -> None:
    """Start a paused or scaled-to-zero endpoint (billing resumes)."""
    _act("resume", target, url, api_key)


@app.command("pause")
def pause(
    target: str = EndpointArgument, url: str | None = UrlOption, api_key: str | None = KeyOption
) -> None:
    """Pause an endpoint: no billing, and requests never wake it until resumed."""
    _act("pause", target, url, api_key)


@app.command("scale-to-zero")
def scale_to_zero(
    target: str = EndpointArgument, url: str | None = UrlOption, api_key: str | None = KeyOption
) -> None:
    """Scale an endpoint to zero now: the next request wakes it (a cold start)."""
    _act("scale-to-zero", target, url, api_key)
