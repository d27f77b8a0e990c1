"""The ``hfgate`` command: run the server, the simulator, and manage a running server over HTTP.

Management commands (``endpoint``, ``models``, …) talk to a running server's HTTP API, found at
``--url``/``HFGATE_URL`` with ``--api-key``/``HFGATE_API_KEY`` (or ``HFGATE_ADMIN_KEY``).
"""

from __future__ import annotations

import typer

from hfgate.cli import chat, demo, endpoint, hf, people, server, usage
from hfgate.cli.sim import sim
from hfgate.errors import HfgateError

app = typer.Typer(
    name="hfgate",
    help=(
        "hfgate — one self-hosted gateway and chat workspace for your Hugging Face Inference"
        " Endpoints.\n\nStart with `hfgate serve` (or `hfgate demo` to try it offline), then"
        " register an endpoint with `hfgate endpoint add credential.json`."
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)
app.command(rich_help_panel="Run")(server.serve)
app.command(rich_help_panel="Run")(demo.demo)
app.command(rich_help_panel="Run")(sim)
app.add_typer(endpoint.app, name="endpoint", rich_help_panel="Manage a running server")
app.add_typer(hf.app, name="hf", rich_help_panel="Manage a running server")
app.command(rich_help_panel="Manage a running server")(endpoint.models)
app.command(rich_help_panel="Manage a running server")(chat.chat)
app.add_typer(people.users_app, name="user", rich_help_panel="Manage a running server")
app.add_typer(people.keys_app, name="key", rich_help_panel="Manage a running server")
app.command(rich_help_panel="Manage a running server")(people.audit)
app.command(rich_help_panel="Manage a running server")(usage.usage)
app.command(rich_help_panel="Manage a running server")(usage.costs)
app.add_typer(server.secrets_app, name="secrets", rich_help_panel="Operate")
app.add_typer(server.db_app, name="db", rich_help_panel="Operate")


def main() -> None:
    try:
        app()
    except HfgateError as exc:  # a refusal of hfgate's own (a bad key, a bad URL): one line
        typer.echo(f"error: {exc.message}", err=True)
        raise SystemExit(1) from None
