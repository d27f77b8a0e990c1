"""From the load generator's raw results to the figures: per metric, one value per target.

Every metric is a ``{target: value}`` dict over ``direct``, ``hfgate``, ``hfgate2`` and
``litellm`` (what a gateway *adds* has no ``direct``). CPU time is per process tree: the
simulator (``sim``), the target's gateway, and the load generator (``client``).
"""

from __future__ import annotations

from typing import Any

import teibench
from common import GATEWAYS, TARGETS


def per_unit_us(cpu_s: float | None, units: int) -> float | None:
    return cpu_s / units * 1e6 if units and cpu_s is not None else None


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def pick(figures: dict[str, dict[str, Any]], *path: str) -> dict[str, Any]:
    """``{target: figures[target][path...]}`` for every target present."""
    values = {}
    for name in TARGETS:
        if name in figures:
            value: Any = figures[name]
            for part in path:
                value = None if value is None else value.get(part)
            values[name] = value
    return values


def added(values: dict[str, Any]) -> dict[str, float | None]:
    """What each gateway adds to the direct figure."""
    return {name: diff(values.get(name), values.get("direct")) for name in GATEWAYS}


def server_of(name: str) -> str:
    return "sim" if name == "direct" else name


def latency(results: dict[str, Any]) -> dict[str, Any]:
    lat = results["latency_c1"]["targets"]
    p50, p99 = pick(lat, "p50_ms"), pick(lat, "p99_ms")
    return {"p50_ms": p50, "p99_ms": p99, "added_p50_ms": added(p50), "added_p99_ms": added(p99)}


def throughput(results: dict[str, Any], concurrency: int) -> dict[str, Any]:
    thr = results["throughput_c64"]["targets"]

    def cpu(process: str) -> dict[str, float | None]:
        return {t: per_unit_us(f["cpu_s"].get(process), f["requests"]) for t, f in thr.items()}

    gateway = {t: per_unit_us(f["cpu_s"].get(server_of(t)), f["requests"]) for t, f in thr.items()}
    return {
        "concurrency": concurrency,
        "rps": pick(thr, "rps"),
        "p50_ms": pick(thr, "latency", "p50_ms"),
        "p99_ms": pick(thr, "latency", "p99_ms"),
        "max_ms": pick(thr, "latency", "max_ms"),
        "cpu_us_per_request": {
            "sim": cpu("sim"),
            "gateway": {t: v for t, v in gateway.items() if t != "direct"},
            "client": cpu("client"),
        },
    }


def ttft(results: dict[str, Any]) -> dict[str, Any]:
    tt = results["ttft_c1"]["targets"]
    p50, p99 = pick(tt, "ttft", "p50_ms"), pick(tt, "ttft", "p99_ms")
    return {
        "p50_ms": p50,
        "p99_ms": p99,
        "added_p50_ms": added(p50),
        "added_p99_ms": added(p99),
        "stream_p50_ms": pick(tt, "stream_total", "p50_ms"),
        "tokens_per_stream": pick(tt, "tokens_per_stream"),
    }


def streams(results: dict[str, Any]) -> dict[str, Any]:
    st = results["streams"]["targets"]
    gateway = {t: per_unit_us(f["cpu_s"].get(t), f["tokens"]) for t, f in st.items()}
    return {
        "concurrency": results["streams"]["concurrency"],
        "tokens_per_s": pick(st, "tokens_per_s"),
        "streams_per_s": pick(st, "streams_per_s"),
        "tokens_per_stream": pick(st, "tokens_per_stream"),
        "cpu_us_per_token": {
            "sim": {t: per_unit_us(f["cpu_s"].get("sim"), f["tokens"]) for t, f in st.items()},
            "gateway": {t: v for t, v in gateway.items() if t != "direct"},
        },
    }


def idle(results: dict[str, Any]) -> dict[str, Any]:
    runs = {t: results[f"idle_{t}"]["targets"][t] for t in TARGETS if f"idle_{t}" in results}
    recovery = {t: results[f"idle_{t}_recovery"]["targets"][t] for t in runs}
    return {
        "streams": next((f["count"] for f in runs.values()), None),
        "held": pick(runs, "held"),
        "errors": pick(runs, "errors"),
        "error_kinds": pick(runs, "error_kinds"),
        "per_stream_kb": pick(runs, "per_stream_kb"),
        "rss_before_kb": pick(runs, "memory_before_kb", "rss_kb"),
        "rss_held_kb": pick(runs, "memory_held_kb", "rss_kb"),
        "rss_after_kb": pick(runs, "memory_after_kb", "rss_kb"),
        "pss_held_kb": pick(runs, "memory_held_kb", "pss_kb"),
        "open_s": pick(runs, "open_s"),
        "first_chunk_p50_ms": pick(runs, "first_chunk", "p50_ms"),
        "upstream_left_open": pick(runs, "upstream_in_flight", "upstream_left_open"),
        "upstream_released_s": pick(runs, "upstream_in_flight", "released_s"),
        "recovery_errors": pick(recovery, "errors"),
        "recovery_p50_ms": pick(recovery, "p50_ms"),
    }


def rest_memory(memory: dict[str, dict[str, Any]]) -> dict[str, Any]:
    by_target = {t: memory[server_of(t)] for t in TARGETS if server_of(t) in memory}
    return {
        "rss_kb": pick(by_target, "rss_kb"),
        "pss_kb": pick(by_target, "pss_kb"),
        "processes": pick(by_target, "processes"),
        "members": pick(by_target, "members"),
    }


def floor(results: dict[str, Any], concurrency: int) -> dict[str, Any]:
    f = results["gateway_healthz"]["targets"]["hfgate"]
    return {
        "what": f"GET /healthz at concurrency {concurrency}: uvicorn + FastAPI + middleware only",
        "rps": f["rps"],
        "gateway_cpu_us_per_request": per_unit_us(f["cpu_s"].get("hfgate"), f["requests"]),
        "errors": f["errors"],
    }


def clients(results: dict[str, Any], variants: Any, concurrency: int) -> dict[str, Any]:
    """aiohttp vs httpx against the simulator: latency at c=1, requests/s at c=64."""
    found = {}
    for label, _, pool in variants:
        c1 = results[f"client_{label}_c1"]
        one = c1["targets"]["direct"]
        many = results[f"client_{label}_c{concurrency}"]["targets"]["direct"]
        found[label] = {
            "pool": pool,
            "p50_ms_c1": one["p50_ms"],
            "p99_ms_c1": one["p99_ms"],
            "client_cpu_us_per_request_c1": per_unit_us(c1["client_cpu_s"], one["ok"]),
            "rps": many["rps"],
            "p50_ms": many["latency"]["p50_ms"],
            "client_cpu_us_per_request": per_unit_us(many["cpu_s"]["client"], many["requests"]),
            "errors": one["errors"] + many["errors"],
        }
    return found


PHASES = ("latency_c1", "throughput_c64", "ttft_c1", "streams")


def errors(results: dict[str, Any]) -> dict[str, Any]:
    """Errors per target: in the measured phases, holding the idle streams, recovering."""
    by_phase = {p: pick(results[p]["targets"], "errors") for p in PHASES}
    idle_errors = {t: results[f"idle_{t}"]["targets"][t]["errors"] for t in TARGETS}
    recovery = {t: results[f"idle_{t}_recovery"]["targets"][t]["errors"] for t in TARGETS}
    by_phase |= {"idle_streams": idle_errors, "idle_recovery": recovery}
    total = {t: sum(int(v.get(t) or 0) for v in by_phase.values()) for t in TARGETS}
    kinds = {p: pick(results[p]["targets"], "error_kinds") for p in ("throughput_c64", "streams")}
    return {"total": total, "by_phase": by_phase, "kinds": kinds}


def other_load(results: dict[str, Any]) -> dict[str, float]:
    """Cores other processes used, per phase and per measured window set."""
    phases = {k: v for k, v in results.items() if isinstance(v, dict) and "wall_s" in v}
    other = {name: round(v["other_processes_cores"], 3) for name, v in phases.items()}
    for phase in ("throughput_c64", "streams"):
        for target, f in results[phase]["targets"].items():
            other[f"{phase}_{target}_windows"] = round(f["cpu_s"]["other_cores"], 3)
    return other


IDLE_KB_LIMIT = 50.0


def goals(s: dict[str, Any], gateway: str) -> dict[str, dict[str, Any]]:
    """Issue 7's targets (and the README's), for one of hfgate's set-ups."""
    lat, thr, held = s["latency_c1"], s["throughput"], s["idle_streams"]
    mine, theirs = lat["added_p50_ms"][gateway], lat["added_p50_ms"]["litellm"]
    lower = ratio(theirs, mine) if mine is not None and mine > 0 else None
    rps = thr["rps"]
    kb, errs = held["per_stream_kb"].get(gateway), held["errors"].get(gateway)
    rps_vs_direct = ratio(rps.get(gateway), rps.get("direct"))
    return {
        "added_p50_3x_below_litellm": {
            "hfgate_ms": mine,
            "litellm_ms": theirs,
            "times_lower": lower,
            "met": mine is not None and theirs is not None and mine * 3 <= theirs,
        },
        "rps_3x_litellm": {
            "hfgate": rps.get(gateway),
            "litellm": rps.get("litellm"),
            "times": ratio(rps.get(gateway), rps.get("litellm")),
            "met": (ratio(rps.get(gateway), rps.get("litellm")) or 0) >= 3,
        },
        "idle_streams_no_errors_under_50kb": {
            "streams": held["streams"],
            "errors": errs,
            "per_stream_kb": kb,
            "met": errs == 0 and kb is not None and kb < IDLE_KB_LIMIT,
        },
        "added_p50_under_2ms": {"measured_ms": mine, "met": mine is not None and mine < 2.0},
        "rps_at_least_a_third_of_direct": {
            "measured_ratio": rps_vs_direct,
            "met": rps_vs_direct is not None and rps_vs_direct >= 1 / 3,
        },
    }


def summarize(
    results: dict[str, Any], plan: dict[str, Any], memory: dict[str, Any], variants: Any
) -> dict[str, Any]:
    conc = plan["throughput_concurrency"]
    summary: dict[str, Any] = {
        "latency_c1": latency(results),
        "throughput": throughput(results, conc),
        "ttft_c1": ttft(results),
        "streams": streams(results),
        "idle_streams": idle(results),
        "rest_memory": rest_memory(memory),
        "gateway_floor": floor(results, conc),
        "clients": clients(results, variants, conc),
        "errors": errors(results),
        "other_processes_cores": other_load(results),
        "embeddings": teibench.summarize(results),
    }
    summary["targets"] = {gw: goals(summary, gw) for gw in ("hfgate", "hfgate2")}
    return summary
