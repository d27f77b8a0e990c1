"""``hfgate serve`` and the operator commands that act on the local database and keys."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import socket
import tempfile
from collections.abc import Iterator

import typer
import uvicorn
from uvicorn.supervisors import Multiprocess

from hfgate._server import uvicorn_config
from hfgate.settings import Settings
from hfgate.storage import Database
from hfgate.storage.crypto import new_key

secrets_app = typer.Typer(help="Encryption keys for endpoint tokens at rest.", no_args_is_help=True)
db_app = typer.Typer(help="The database schema (Alembic migrations).", no_args_is_help=True)


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="TCP port."),
    workers: int = typer.Option(1, min=1, max=64, help="Worker processes sharing the port."),
    log_level: str = typer.Option("info", help="uvicorn log level."),
    access_log: bool = typer.Option(
        False, help="Log every request (usage is recorded in the database either way)."
    ),
) -> None:
    """Run the gateway, its API and the workspace on http://HOST:PORT.

    Settings come from HFGATE_* variables (see README): with none set, data lives in SQLite
    under ~/.local/share/hfgate. On SIGTERM the server reports draining on /readyz, stops
    accepting, and lets in-flight streams finish (HFGATE_SHUTDOWN_GRACE seconds at most).
    """
    settings = Settings.from_env()
    with _shared_metrics(workers):
        _serve(settings, host, port, workers, log_level, access_log)


def _serve(
    settings: Settings, host: str, port: int, workers: int, log_level: str, access_log: bool
) -> None:
    link = asyncio.run(_prepare(settings, _base_url(host, port)))
    typer.echo(
        f"hfgate on http://{host}:{port}  (data: {_where(settings)}, workers: {workers})", err=True
    )
    if link:
        _show_setup_link(link)
    config = uvicorn_config(
        "hfgate.app:create_app",
        host,
        port,
        factory=True,
        workers=workers,
        log_level=log_level,
        access_log=access_log,
        timeout_graceful_shutdown=int(settings.shutdown_grace),
    )
    if workers == 1:
        uvicorn.Server(config).run()
        return
    Multiprocess(config, sockets=[config.bind_socket()]).run()


@contextlib.contextmanager
def _shared_metrics(workers: int) -> Iterator[None]:
    """With several workers, each writes its metrics to one folder that a scrape of any of them
    sums (set before the workers import prometheus_client); removed when serve ends."""
    if workers == 1 or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="hfgate-metrics-") as folder:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        try:
            yield
        finally:
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]


async def _prepare(settings: Settings, base_url: str) -> str | None:
    """Migrate and bootstrap once, before workers start (they would race each other); the
    first-run setup link when the owner has no password yet."""
    from hfgate.services import Services

    services = Services(settings)
    try:
        await services.prepare(setup_base_url=base_url)
    finally:
        await services.close()
    return services.setup_link


def _base_url(host: str, port: int) -> str:
    """Where a browser on this machine reaches the server (a wildcard address is not one)."""
    shown = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def _show_setup_link(link: str) -> None:
    # Plain echo, no rich: a wrapped link could not be pasted.
    typer.echo(
        "\nNobody can sign in yet. Open this one-time link to choose the owner's email and"
        f" password:\n\n    {link}\n\n(it works until used; HFGATE_OWNER_PASSWORD sets the"
        " password instead)\n",
        err=True,
    )


def _where(settings: Settings) -> str:
    url = settings.database_url
    return url.split("@")[-1] if "@" in url else url.split("///")[-1]


@secrets_app.command("new-key")
def secrets_new_key() -> None:
    """Print a new Fernet key for HFGATE_SECRET_KEY (put it first to rotate)."""
    typer.echo(new_key())


@secrets_app.command("rotate")
def secrets_rotate() -> None:
    """Re-encrypt stored endpoint tokens with the first HFGATE_SECRET_KEY (keep the old key
    listed after it until this has run)."""
    from hfgate.integrations.service import rotate_secrets
    from hfgate.storage.crypto import SecretBox

    async def run() -> int:
        settings = Settings.from_env()
        db = Database(settings.database_url)
        try:
            await db.migrate()
            box = SecretBox.from_settings(settings.secret_keys, settings.home)
            return await rotate_secrets(db, box, _operator())
        finally:
            await db.close()

    count = asyncio.run(run())
    typer.echo(f"re-encrypted {count} endpoint token(s) with the newest key")


def _operator() -> str:
    """Who runs a command on the server's host, for the audit log."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # a container user without a passwd entry
        user = f"uid {os.getuid()}"
    return f"{user}@{socket.gethostname()}"


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations to HFGATE_DATABASE_URL (serve does this at start too)."""

    async def run() -> None:
        db = Database(Settings.from_env().database_url)
        try:
            await db.migrate()
        finally:
            await db.close()

    asyncio.run(run())
    typer.echo("database schema is up to date")
