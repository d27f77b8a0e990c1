"""Terminal rendering shared by CLI commands (colour in a terminal, plain when piped)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console(highlight=False)

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


def table(columns: list[str], rows: list[list[Any]]) -> None:
    grid = Table(show_lines=False, header_style="bold")
    for column in columns:
        grid.add_column(column, overflow="fold")  # ids and names are copied: never cut them
    for row in rows:
        grid.add_row(*(str(cell) if cell is not None else "" for cell in row))
    console.print(grid)


def listing(
    data: list[dict[str, Any]], as_json: bool, columns: dict[str, Callable[[dict[str, Any]], Any]]
) -> None:
    """Print API list data as JSON, or as a table of the given columns."""
    if as_json:
        print(json.dumps(data, indent=2))
        return
    table(list(columns), [[cell(item) for cell in columns.values()] for item in data])
