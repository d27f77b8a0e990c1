"""How CLI commands reach a running hfgate: one small HTTP client and one way to fail."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import httpx
import typer

DEFAULT_URL = "http://127.0.0.1:8000"

UrlOption = typer.Option(
    None, "--url", help="hfgate server URL [env: HFGATE_URL; default http://127.0.0.1:8000]"
)
KeyOption = typer.Option(
    None, "--api-key", help="hfgate API key [env: HFGATE_API_KEY, then HFGATE_ADMIN_KEY]"
)
# Answers of the validating routes that carry a report, or one caller error shown as a line.
REPORT_STATUSES = (200, 201, 202, 400, 409, 422)


def fail(message: str, code: int = 1) -> NoReturn:
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(code)


def secret_from_stdin(what: str, flag: str) -> str:
    """One line of standard input: secrets never go in argv, where shell history keeps them.

    At a terminal the line is typed without echo, so it stays off the screen too.
    """
    if sys.stdin.isatty():
        secret = str(typer.prompt(what.capitalize(), hide_input=True)).strip()
    else:
        secret = sys.stdin.readline().strip()
    if not secret:
        fail(f"{flag} was given but standard input held no {what}")
    return secret


class ApiClient:
    def __init__(self, url: str | None, api_key: str | None, timeout: float | None = 60.0) -> None:
        self.url = (url or os.environ.get("HFGATE_URL") or DEFAULT_URL).rstrip("/")
        key = api_key or os.environ.get("HFGATE_API_KEY") or os.environ.get("HFGATE_ADMIN_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def call(
        self, method: str, path: str, *, ok: tuple[int, ...] = (200,), **kwargs: Any
    ) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            fail(
                f"cannot reach hfgate at {self.url} ({type(exc).__name__}):"
                " is `hfgate serve` running?"
            )
        if response.status_code not in ok:
            fail(_error_message(response))
        return response

    @contextmanager
    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        try:
            with self._http.stream(method, path, **kwargs) as response:
                if response.status_code != 200:
                    response.read()
                    fail(_error_message(response))
                yield response
        except httpx.TransportError as exc:
            fail(f"lost the connection to hfgate at {self.url} ({type(exc).__name__})")


def _error_message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error", {})
        message = error.get("message") if isinstance(error, dict) else str(error)
    except ValueError:
        message = response.text[:200]
    return f"HTTP {response.status_code}: {message or 'no details'}"
