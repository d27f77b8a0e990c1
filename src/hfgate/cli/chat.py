"""``hfgate chat MODEL``: a terminal chat that streams, keeps history, and shows cold starts."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import typer

from hfgate.cli._client import ApiClient, KeyOption, UrlOption
from hfgate.cli._render import console

HELP = "Type a message and press Enter. /reset clears the history, /exit (or Ctrl-D) quits."


def _events(response: httpx.Response) -> Iterator[tuple[str, Any]]:
    """SSE lines → ("waiting", text) for keep-alive comments, ("chunk", obj), ("error", obj)."""
    for line in response.iter_lines():
        if line.startswith(":"):
            text = line[1:].strip()
            if text:
                yield "waiting", text
        elif line.startswith("data:"):
            data = line[5:].strip()
            if data == "[DONE]":
                return
            payload = json.loads(data)
            yield ("error", payload["error"]) if "error" in payload else ("chunk", payload)


def _stream_reply(client: ApiClient, model: str, history: list[dict[str, str]]) -> str:
    body = {"model": model, "messages": history, "stream": True}
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        trimmed = response.headers.get("x-hfgate-trimmed-messages")
        if trimmed:
            console.print(
                f"[yellow](dropped the {trimmed} oldest turn(s) to fit the context window)[/]"
            )
        reply: list[str] = []
        for kind, payload in _events(response):
            if kind == "waiting":
                console.print(f"\r[yellow]{payload}[/]", end="")
            elif kind == "error":
                console.print(f"\n[red]error: {payload.get('message')}[/]")
                break
            else:
                for choice in payload.get("choices", []):
                    text = (choice.get("delta") or {}).get("content") or ""
                    reply.append(text)
                    console.print(text, end="", markup=False, highlight=False)
        console.print()
        return "".join(reply)


def chat(
    model: str = typer.Argument(..., help="Model id, as listed by `hfgate models`."),
    message: str | None = typer.Option(None, "--message", "-m", help="Send one message and exit."),
    system: str | None = typer.Option(
        None, "--system", help="A system prompt for the conversation."
    ),
    url: str | None = UrlOption,
    api_key: str | None = KeyOption,
) -> None:
    """Chat with a model in the terminal (streams; shows waking and trimmed turns)."""
    client = ApiClient(url, api_key, timeout=None)
    history: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
    if message is not None or not sys.stdin.isatty():
        text = message if message is not None else sys.stdin.read()
        history.append({"role": "user", "content": text})
        _stream_reply(client, model, history)
        return
    console.print(f"[bold]{model}[/] — {HELP}")
    while True:
        try:
            text = console.input("[bold cyan]you>[/] ").strip()
        except (EOFError, KeyboardInterrupt):
            console.print()
            return
        if text in ("/exit", "/quit"):
            return
        if text == "/reset":
            history = history[:1] if system else []
            continue
        if text:
            history.append({"role": "user", "content": text})
            history.append({"role": "assistant", "content": _stream_reply(client, model, history)})
