"""Terminal rendering shared by CLI commands (colour in a terminal, plain when piped)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import typer
from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

from hfgate.cli._client import fail

console = Console(highlight=False)
YIELDING_MIN_WIDTH = 10  # narrower, a folded cell is harder to read than a wider table

MARKS = {
    "ok": ("✓", "green"),
    "warn": ("!", "yellow"),
    "fail": ("✗", "red"),
    "skipped": ("–", "dim"),
}


def checklist(report: dict[str, Any]) -> None:
    for check in report.get("checks", []):
        mark, colour = MARKS.get(check["status"], ("?", ""))
        console.print(f"[{colour}]{mark} {check['title']}[/]: {check['message']}")
    for problem in report.get("problems", [])[1:]:
        console.print(f"[red]  ✗ {problem['message']}[/]")
    for note in report.get("notes", []):
        console.print(f"[cyan]note:[/] {note}")
    outcome = report.get("outcome", "")
    colour = {"valid": "green", "pending": "yellow"}.get(outcome, "red")
    console.print(f"[bold {colour}]{outcome}[/]: {report.get('summary', '')}")


def report_answer(response: httpx.Response, as_json: bool) -> int:
    """Print an answer shaped like ``POST /api/integrations``'s (checklist, what was stored).

    Returns the HTTP status; an error without a report is one line and exit 1.
    """
    body = response.json()
    if as_json:
        typer.echo(json.dumps(body, indent=2))
    elif "report" in body:
        checklist(body["report"])
        if body.get("integration"):
            model = body["integration"]
            console.print(
                f"stored as [bold]{model['name']}[/] (id {model['id']}, key {model['api_key']})"
            )
    else:
        fail(body.get("error", {}).get("message", response.text))
    return response.status_code


def stored_exit_code(status: int) -> int:
    """0 stored, 2 stored as pending (endpoint asleep), 1 refused."""
    return {201: 0, 202: 2}.get(status, 1)


def _cells(rows: list[list[Any]]) -> list[list[str]]:
    return [[str(cell) if cell is not None else "" for cell in row] for row in rows]


def table(columns: list[str], rows: list[list[Any]]) -> None:
    grid = Table(show_lines=False, header_style="bold")
    for column in columns:
        grid.add_column(column, overflow="fold")  # ids and names are copied: never cut them
    for row in _cells(rows):
        grid.add_row(*row)
    console.print(grid)


def compact_table(columns: list[str], rows: list[list[Any]], yielding: str) -> None:
    """A table with no vertical rules, for wide rows in 80 columns; the column ``yielding``
    folds first so that the others (names people copy into the next command) stay whole."""
    cells = _cells(rows)
    widths = [cell_len(c) for c in columns]
    for row in cells:
        widths = [max(width, cell_len(cell)) for width, cell in zip(widths, row, strict=True)]
    at = columns.index(yielding)
    gaps = 2 * (len(columns) - 1)  # each column's right padding and the blank rule after it
    room = max(console.width - gaps - sum(widths) + widths[at], YIELDING_MIN_WIDTH)
    grid = Table(
        header_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )
    for index, column in enumerate(columns):
        grid.add_column(column, overflow="fold", max_width=room if index == at else None)
    for row in cells:
        grid.add_row(*row)
    console.print(grid)


def listing(
    data: list[dict[str, Any]], as_json: bool, columns: dict[str, Callable[[dict[str, Any]], Any]]
) -> None:
    """Print API list data as JSON, or as a table of the given columns."""
    if as_json:
        print(json.dumps(data, indent=2))
        return
    table(list(columns), [[cell(item) for cell in columns.values()] for item in data])
