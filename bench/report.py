"""The printed report: one markdown table per metric, the targets, the upstream clients.

Columns: direct | hfgate | hfgate ×2 | LiteLLM, then the ratios ``hfgate ÷ direct`` and
``hfgate ÷ LiteLLM``, each as "one process / ×2" (e.g. ``0.25× / 0.41×``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import teibench
from common import LABELS, NONSTREAM_TOKENS, STREAM_TOKENS, TARGETS
from summary import ratio

Fmt = Callable[[Any], str]
HEADER = (
    "| | direct | hfgate | hfgate ×2 | LiteLLM | hfgate ÷ direct (1 / ×2)"
    " | hfgate ÷ LiteLLM (1 / ×2) |\n|---|---:|---:|---:|---:|---:|---:|"
)


def fmt(value: float | None, digits: int = 2, suffix: str = "") -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}{suffix}"


def ms(digits: int = 2) -> Fmt:
    return lambda v: fmt(v, digits, " ms")


def signed_ms(value: float | None) -> str:
    return "–" if value is None else f"{value:+,.2f} ms"


def num(digits: int = 0, suffix: str = "") -> Fmt:
    return lambda v: fmt(v, digits, suffix)


def mb(value: float | None) -> str:
    return fmt(None if value is None else value / 1024, 1, " MB")


def times(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×" if value < 10 else f"{value:,.0f}×"


def row(label: str, values: dict[str, Any], show: Fmt, ratios: bool = True) -> str:
    cells = [show(values.get(t)) for t in TARGETS]
    line = f"| {label} | " + " | ".join(cells)
    if not ratios:
        return line + " | | |"
    for reference in ("direct", "litellm"):
        pair = [times(ratio(values.get(gw), values.get(reference))) for gw in ("hfgate", "hfgate2")]
        line += " | " + " / ".join(pair)
    return line + " |"


def table(title: str, rows: list[str]) -> list[str]:
    return [f"### {title}", "", HEADER, *rows, ""]


def latency_tables(s: dict[str, Any], plan: dict[str, Any]) -> list[str]:
    lat, ttft = s["latency_c1"], s["ttft_c1"]
    return [
        *table(
            f"Latency, concurrency 1 (non-streaming, {NONSTREAM_TOKENS} tokens,"
            f" n={plan['latency_count']} per target, alternating)",
            [
                row("p50", lat["p50_ms"], ms()),
                row("p99", lat["p99_ms"], ms()),
                row("**added p50** (− direct)", lat["added_p50_ms"], signed_ms),
                row("added p99", lat["added_p99_ms"], signed_ms),
            ],
        ),
        *table(
            f"Time to first token, concurrency 1 ({STREAM_TOKENS}-token streams,"
            f" n={plan['ttft_count']} per target)",
            [
                row("TTFT p50", ttft["p50_ms"], ms()),
                row("TTFT p99", ttft["p99_ms"], ms()),
                row("added TTFT p50", ttft["added_p50_ms"], signed_ms),
                row("whole stream p50", ttft["stream_p50_ms"], ms()),
            ],
        ),
    ]


def load_tables(s: dict[str, Any], plan: dict[str, Any]) -> list[str]:
    thr, st = s["throughput"], s["streams"]
    cpu, tok = thr["cpu_us_per_request"], st["cpu_us_per_token"]
    windows = f"{plan['slices']} × {plan['throughput_duration'] / plan['slices']:g} s windows"
    swindows = f"{plan['slices']} × {plan['streams_duration'] / plan['slices']:g} s windows"
    return [
        *table(
            f"Requests/s, concurrency {thr['concurrency']} ({windows} per target, alternating)",
            [
                row("**requests/s**", thr["rps"], num()),
                row("latency p50", thr["p50_ms"], ms(1)),
                row("latency p99", thr["p99_ms"], ms(1)),
                row("latency max", thr["max_ms"], ms(0)),
                row("CPU per request: gateway", cpu["gateway"], num(0, " µs")),
                row("CPU per request: simulator", cpu["sim"], num(0, " µs"), False),
                row("CPU per request: load generator", cpu["client"], num(0, " µs"), False),
            ],
        ),
        *table(
            f"Streaming, {st['concurrency']} concurrent streams ({STREAM_TOKENS} tokens each,"
            f" {swindows} per target)",
            [
                row("**tokens/s relayed**", st["tokens_per_s"], num()),
                row("streams/s completed", st["streams_per_s"], num(1)),
                row("CPU per token: gateway", tok["gateway"], num(1, " µs")),
                row("CPU per token: simulator", tok["sim"], num(1, " µs"), False),
            ],
        ),
    ]


def memory_tables(s: dict[str, Any], plan: dict[str, Any]) -> list[str]:
    idle, rest = s["idle_streams"], s["rest_memory"]
    return [
        *table(
            f"{idle['streams']:,} concurrent idle streams (a token every"
            f" {plan['idle_token_delay']:g} s; memory of the target's process tree)",
            [
                row("streams held", idle["held"], num(), False),
                row("**errors**", idle["errors"], num(), False),
                row("RSS before", idle["rss_before_kb"], mb),
                row("RSS with the streams held", idle["rss_held_kb"], mb),
                row("**memory per stream** (Δ RSS ÷ held)", idle["per_stream_kb"], num(1, " KB")),
                row("first content chunk p50", idle["first_chunk_p50_ms"], ms(0), False),
                row("upstream left open after close", idle["upstream_left_open"], num(), False),
                row("errors after (recovery requests)", idle["recovery_errors"], num(), False),
                row("RSS after closing", idle["rss_after_kb"], mb),
            ],
        ),
        *table(
            "Resident memory at rest (after start-up, registration and warm-up; process tree)",
            [
                row("**RSS**", rest["rss_kb"], mb),
                row("PSS", rest["pss_kb"], mb),
                row("processes", rest["processes"], num(), False),
            ],
        ),
    ]


def error_table(s: dict[str, Any]) -> list[str]:
    err = s["errors"]
    rows = [row(phase, values, num(), False) for phase, values in err["by_phase"].items()]
    return table("Errors", [*rows, row("**all phases**", err["total"], num(), False)])


def yes(met: bool) -> str:
    return "yes" if met else "**NO**"


def target_rows(gateway: str, goals: dict[str, Any]) -> list[str]:
    name = LABELS[gateway]
    lat, rps = goals["added_p50_3x_below_litellm"], goals["rps_3x_litellm"]
    held, p50 = goals["idle_streams_no_errors_under_50kb"], goals["added_p50_under_2ms"]
    third = goals["rps_at_least_a_third_of_direct"]
    lower = "–" if lat["times_lower"] is None else f"{lat['times_lower']:.0f}× lower"
    return [
        f"| {name}: added p50 ≥ 3× lower than LiteLLM's | {signed_ms(lat['hfgate_ms'])} vs"
        f" {signed_ms(lat['litellm_ms'])}: {lower} | {yes(lat['met'])} |",
        f"| {name}: requests/s ≥ 3× LiteLLM's | {fmt(rps['hfgate'], 0)} vs"
        f" {fmt(rps['litellm'], 0)}: {times(rps['times'])} | {yes(rps['met'])} |",
        f"| {name}: {fmt(held['streams'], 0)} concurrent streams, 0 errors, < 50 KB each"
        f" | {held['errors']} errors, {fmt(held['per_stream_kb'], 1, ' KB')} per stream"
        f" | {yes(held['met'])} |",
        f"| {name}: added p50 < 2 ms | {signed_ms(p50['measured_ms'])} | {yes(p50['met'])} |",
        f"| {name}: requests/s ≥ ⅓ of direct | {times(third['measured_ratio'])}"
        f" | {yes(third['met'])} |",
    ]


def targets_table(s: dict[str, Any]) -> list[str]:
    lines = ["### Targets", "", "| target | measured | met |", "|---|---:|:---:|"]
    for gateway, goals in s["targets"].items():
        lines += target_rows(gateway, goals)
    return [*lines, ""]


def clients_table(s: dict[str, Any]) -> list[str]:
    conc, cl = s["throughput"]["concurrency"], s["clients"]
    lines = [
        "### Upstream client: aiohttp vs httpx, straight to the simulator (same request)",
        "",
        f"| client | p50, c=1 | p99, c=1 | requests/s, c={conc} | p50, c={conc}"
        f" | client CPU per request, c=1 / c={conc} | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, c in cl.items():
        name = label if c["pool"] is None else f"{label} (pool capped at {c['pool']})"
        lines.append(
            f"| {name} | {fmt(c['p50_ms_c1'])} ms | {fmt(c['p99_ms_c1'])} ms"
            f" | {fmt(c['rps'], 0)} | {fmt(c['p50_ms'], 1)} ms"
            f" | {fmt(c['client_cpu_us_per_request_c1'], 0)}"
            f" / {fmt(c['client_cpu_us_per_request'], 0)} µs | {c['errors']} |"
        )
    floor = s["gateway_floor"]
    lines += [
        "",
        f"hfgate's floor (GET /healthz at concurrency {conc}, no upstream, no auth):"
        f" {fmt(floor['rps'], 0)} requests/s, {fmt(floor['gateway_cpu_us_per_request'], 0)} µs"
        " of gateway CPU per request.",
        "",
    ]
    return lines


def notes(s: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for name, found in s.get("server_exceptions", {}).items():
        if found:
            lines += [f"Exceptions in the {name}'s log (all phases):", ""]
            lines += [f"* {count} × `{text}`" for text, count in list(found.items())[:5]]
            lines.append("")
    timed = {k: v for k, v in s["other_processes_cores"].items() if not k.startswith("idle_")}
    busiest = max(timed.values(), default=0.0)
    if busiest > 0.1:
        lines.append(
            f"Note: other processes on this machine used up to {busiest:.2f} cores during a"
            " phase (per phase in the JSON, `other_processes_cores`); figures are noisier."
        )
    return lines


def tables(summary: dict[str, Any], machine: dict[str, Any], plan: dict[str, Any]) -> str:
    head = [
        f"Machine: {machine['cpu_model']}, {machine['cores']} cores, Python"
        f" {machine['python']}, {machine['platform']}; hfgate {machine['hfgate_commit']};"
        f" LiteLLM {machine['litellm']} (one worker; settings in bench/README.md)",
        "",
    ]
    parts = [
        head,
        latency_tables(summary, plan),
        load_tables(summary, plan),
        teibench.tables(summary.get("embeddings", {}), plan),
        memory_tables(summary, plan),
        error_table(summary),
        targets_table(summary),
        clients_table(summary),
        notes(summary),
    ]
    return "\n".join(line for part in parts for line in part).rstrip()
