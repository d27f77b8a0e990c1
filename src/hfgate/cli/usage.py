"""``hfgate usage`` and ``hfgate costs``: the usage page's figures as tables (or CSV, or JSON)
from a running server's ``GET /api/usage`` and ``GET /api/costs`` (docs/usage.md)."""

from __future__ import annotations

import json
from collections import defaultdict
from enum import StrEnum
from typing import Any

import typer

from hfgate.cli._client import ApiClient, KeyOption, UrlOption
from hfgate.cli._render import console, fitted_table

DaysOption = typer.Option(7, "--days", min=1, max=366, help="How many days back, up to now.")
CsvOption = typer.Option(False, "--csv", help="Print the server's CSV instead of a table.")
JsonOption = typer.Option(False, "--json", help="Print the raw JSON answer.")
BY_COLUMN = {"model": "model", "user": "person", "key": "key"}
COUNTS = ("requests", "prompt_tokens", "completion_tokens", "errors")
MONEY = ("serving_usd", "idle_usd", "starting_usd", "total_usd")


class By(StrEnum):
    model = "model"
    user = "user"
    key = "key"


def _count(n: int | float | None) -> str:
    return "—" if n is None else f"{n:,.0f}"


def _ms(n: float | None) -> str:
    return "—" if n is None else f"{n:,.0f} ms"


def _usd(n: float | None) -> str:
    return "—" if n is None else f"${n:,.2f}"


def _seconds(n: float | None) -> str:
    return "—" if n is None else f"{n:,.1f} s"


def usage(
    days: int = DaysOption,
    by: By = typer.Option(By.model, "--by", help="Group by model, person (user) or key."),
    as_csv: bool = CsvOption,
    as_json: bool = JsonOption,
    url: str | None = UrlOption,
    api_key: str | None = KeyOption,
) -> None:
    """Requests, tokens and errors per model, person or key; time to first token and latency
    per model; cold starts per endpoint. Members see their own usage, admins everyone's."""
    client = ApiClient(url, api_key)
    params: dict[str, Any] = {"days": days, "by": by.value}
    if as_csv:
        answer = client.call("GET", "/api/usage", params=params, headers={"Accept": "text/csv"})
        typer.echo(answer.text, nl=False)
        return
    report = client.call("GET", "/api/usage", params=params).json()
    if as_json:
        print(json.dumps(report, indent=2))
        return
    console.print(f"[bold]Usage over {days} day{'s' if days > 1 else ''}[/], by {BY_COLUMN[by]}")
    _usage_table(report, by.value)
    _speed_table(report["latency_by_model"])
    _cold_start_table(report["cold_starts"])


def _usage_table(report: dict[str, Any], by: str) -> None:
    """One row per group over the range, and the totals."""
    sums: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for item in report["series"]:
        for field in COUNTS:
            sums[item["group"]][field] += item[field]
    columns = [BY_COLUMN[by], "requests", "prompt", "completion", "errors"]
    rows = [_usage_row(group, sums[group]) for group in report["groups"]]
    rows.append(_usage_row("total", report["totals"]))
    fitted_table(columns, rows, (columns[0],), boxed=False)


def _speed_table(lines: list[dict[str, Any]]) -> None:
    """Per model over the range: time to first token and latency, median and p95."""
    if not lines:
        return
    console.print()
    columns = ["model", "ttft p50", "ttft p95", "latency p50", "latency p95"]
    fields = ("ttft_p50_ms", "ttft_p95_ms", "latency_p50_ms", "latency_p95_ms")
    rows = [[line["model"], *(_ms(line[f]) for f in fields)] for line in lines]
    fitted_table(columns, rows, ("model",), boxed=False)


def _usage_row(name: str, figures: dict[str, int]) -> list[str]:
    requests, errors = figures["requests"], figures["errors"]
    rate = f"{100 * errors / requests:.1f}%" if requests else "—"
    return [name, *(_count(figures[f]) for f in COUNTS[:3]), rate]


def _cold_start_table(lines: list[dict[str, Any]]) -> None:
    console.print()
    if not lines:
        console.print("no cold starts in this range")
        return
    columns = ["endpoint", "starts", "failed", "mean", "p95", "max"]
    durations = ("mean_seconds", "p95_seconds", "max_seconds")
    rows = [
        [
            line["model"],
            _count(line["count"]),
            _count(line["failed"] + line["timeout"]),
            *(_seconds(line[f]) for f in durations),
        ]
        for line in lines
    ]
    fitted_table(columns, rows, ("endpoint",), boxed=False)


def costs(
    days: int = DaysOption,
    as_csv: bool = CsvOption,
    as_json: bool = JsonOption,
    url: str | None = UrlOption,
    api_key: str | None = KeyOption,
) -> None:
    """What each endpoint cost: serving, idle and starting dollars and its price per hour.
    Members see only their own share."""
    client = ApiClient(url, api_key)
    params: dict[str, Any] = {"days": days}
    if as_csv:
        answer = client.call("GET", "/api/costs", params=params, headers={"Accept": "text/csv"})
        typer.echo(answer.text, nl=False)
        return
    report = client.call("GET", "/api/costs", params=params).json()
    if as_json:
        print(json.dumps(report, indent=2))
        return
    console.print(f"[bold]Endpoint costs over {days} day{'s' if days > 1 else ''}[/]")
    if report["endpoints"]:
        _endpoint_table(report)
    else:
        _share_table(report["attribution"])


def _endpoint_table(report: dict[str, Any]) -> None:
    columns = ["endpoint", "price/h", "serving", "idle", "starting", "total"]
    rows = [
        [e["model"], _usd(e["price_per_hour"]), *(_usd(e[f]) for f in MONEY)]
        for e in report["endpoints"]
    ]
    rows.append(["total", "", *(_usd(report["totals"][f]) for f in MONEY)])
    fitted_table(columns, rows, ("endpoint",), ("price/h",), boxed=False)


def _share_table(lines: list[dict[str, Any]]) -> None:
    """A member's view: their share of each endpoint's serving cost."""
    if not lines:
        console.print("no cost attributed to you in this range")
        return
    shares: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for line in lines:
        shares[line["model"]][0] += line["tokens"] or 0
        shares[line["model"]][1] += line["usd"] or 0.0
    rows = [[model, _count(tokens), _usd(usd)] for model, (tokens, usd) in sorted(shares.items())]
    fitted_table(["endpoint", "your tokens", "your share"], rows, ("endpoint",), boxed=False)
