"""Terminal rendering shared by CLI commands (colour in a terminal, plain when piped)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
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


def compact_table(
    columns: list[str], rows: list[list[Any]], yielding: str, optional: Sequence[str] = ()
) -> None:
    """A table with no vertical rules, for wide rows in 80 columns; the column ``yielding``
    folds first so that the others (names people copy into the next command) stay whole."""
    fitted_table(columns, rows, (yielding,), optional, boxed=False)


def fitted_table(
    columns: list[str],
    rows: list[list[Any]],
    yielding: Sequence[str],
    optional: Sequence[str] = (),
    boxed: bool = True,
) -> None:
    """A table as wide as the terminal: one column folds, every other cell stays whole (ids
    and names are copied into the next command). That column is the first of ``yielding``
    still shown; when even so the table would not fit, the ``optional`` columns are left out,
    in order, and a note says which (``--json`` has them all)."""
    cells = _cells(rows)
    shown, at, room, tight = _fit(columns, cells, yielding, optional, boxed)
    grid = _grid(boxed, tight)
    for index in shown:
        folds = index == at
        grid.add_column(
            columns[index], overflow="fold", no_wrap=not folds, max_width=room if folds else None
        )
    for row in cells:
        grid.add_row(*(row[index] for index in shown))
    console.print(grid)
    hidden = [column for index, column in enumerate(columns) if index not in shown]
    if hidden:
        console.print(f"[dim]({', '.join(hidden)}: left out to fit the terminal; see --json)[/]")


def _grid(boxed: bool, tight: bool) -> Table:
    if boxed:
        return Table(header_style="bold", pad_edge=not tight)
    return Table(
        header_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )


def _fit(
    columns: list[str],
    cells: list[list[str]],
    yielding: Sequence[str],
    optional: Sequence[str],
    boxed: bool,
) -> tuple[list[int], int, int, bool]:
    """The columns to show, the one that folds, its width, and whether a boxed table gives up
    its edge padding: that goes first, then the optional columns, in order, until the folding
    column has ``YIELDING_MIN_WIDTH`` (or all it needs). The last of ``yielding`` must not
    be optional."""
    widths = [cell_len(c) for c in columns]
    for row in cells:
        widths = [max(width, cell_len(cell)) for width, cell in zip(widths, row, strict=True)]
    shown = list(range(len(columns)))
    attempts = [(None, False), *((drop, True) for drop in (None, *optional))]
    at = room = 0
    tight = False
    for drop, tight in attempts if boxed else attempts[1:]:
        if drop is not None:
            shown.remove(columns.index(drop))
        at = next(columns.index(name) for name in yielding if columns.index(name) in shown)
        room = console.width - _chrome(len(shown), boxed, tight)
        room -= sum(widths[i] for i in shown if i != at)
        if room >= min(widths[at], YIELDING_MIN_WIDTH):
            break
    return shown, at, max(room, YIELDING_MIN_WIDTH), tight


def _chrome(count: int, boxed: bool, tight: bool) -> int:
    """Columns taken by rules and blanks: boxed, each column's two blanks and one rule, plus
    the last rule (less the two outer blanks when tight); compact, each column's right blank
    and the blank rule after it, the last one nothing."""
    if boxed:
        return 3 * count + 1 - (2 if tight else 0)
    return 2 * (count - 1)


def human_time(value: str | None, now: datetime | None = None) -> str:
    """An API time for people: "just now", "3 min ago", "5 h ago" within a day, else the
    local "2026-12-04 14:03" (the future too: an expiry); "" for none."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # the API's times are UTC
    ago = ((now or datetime.now(UTC)) - moment).total_seconds()
    if -60 < ago < 60:  # a little clock skew reads as now, not as the future
        return "just now"
    if 0 < ago < 3600:
        return f"{int(ago // 60)} min ago"
    if 0 < ago < 86400:
        return f"{int(ago // 3600)} h ago"
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def listing(
    data: list[dict[str, Any]], as_json: bool, columns: dict[str, Callable[[dict[str, Any]], Any]]
) -> None:
    """Print API list data as JSON, or as a table of the given columns."""
    if as_json:
        print(json.dumps(data, indent=2))
        return
    table(list(columns), [[cell(item) for cell in columns.values()] for item in data])


def fitted_listing(
    data: list[dict[str, Any]],
    as_json: bool,
    columns: dict[str, Callable[[dict[str, Any]], Any]],
    yielding: Sequence[str],
    optional: Sequence[str] = (),
    boxed: bool = False,
) -> None:
    """``listing``, as a table that fits the terminal (``fitted_table``)."""
    if as_json:
        print(json.dumps(data, indent=2))
        return
    rows = [[cell(item) for cell in columns.values()] for item in data]
    fitted_table(list(columns), rows, yielding, optional, boxed)
