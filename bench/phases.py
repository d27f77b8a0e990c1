"""What a run measures, in which order: the plan, and one load-generator process per phase.

Every phase that compares targets runs them in the same load-generator process, alternating
(request by request at concurrency 1, window by window under load), so that whatever else the
machine does hits every target alike. The idle-streams phase runs once per target (it holds
1,000 streams open through one target at a time and reads that target's memory).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import LOADGEN, NONSTREAM_TOKENS, ROOT, STREAM_TOKENS, TARGETS, log, request_body
from peers import Peers
from procs import die_with_parent, machine_busy, own_and_children
from teibench import embedding_phases

# What each mode runs; durations in seconds.
PLANS: dict[str, dict[str, Any]] = {
    "full": {
        "latency_count": 1000,
        "latency_warmup": 100,
        "throughput_concurrency": 64,
        "throughput_duration": 10.0,
        "ttft_count": 300,
        "ttft_warmup": 30,
        "streams_concurrency": 256,
        "streams_duration": 10.0,
        "clients_latency_count": 1000,
        "clients_duration": 10.0,
        "floor_duration": 5.0,
        "idle_streams": 1000,
        "idle_token_delay": 3.0,
        "idle_open_rate": 200,
        "recovery_count": 20,
        "embed_count": 300,
        "embed_warmup": 30,
        "embed_concurrency": 16,
        "embed_duration": 10.0,
        "embed_split_count": 100,
        "slices": 5,
        "ramp": 0.5,
    },
    "quick": {
        "latency_count": 200,
        "latency_warmup": 30,
        "throughput_concurrency": 64,
        "throughput_duration": 2.0,
        "ttft_count": 50,
        "ttft_warmup": 10,
        "streams_concurrency": 256,
        "streams_duration": 2.0,
        "clients_latency_count": 100,
        "clients_duration": 1.5,
        "floor_duration": 2.0,
        "idle_streams": 250,
        "idle_token_delay": 3.0,
        "idle_open_rate": 200,
        "recovery_count": 10,
        "embed_count": 30,
        "embed_warmup": 5,
        "embed_concurrency": 16,
        "embed_duration": 2.0,
        "embed_split_count": 10,
        "slices": 2,
        "ramp": 0.3,
    },
}

# (label, client, connection limit): the limit None means one connection per request in flight.
CLIENT_VARIANTS: tuple[tuple[str, str, int | None], ...] = (
    ("aiohttp", "aiohttp", None),
    ("httpx", "httpx", None),
    ("httpx-pool8", "httpx", 8),
)


def loadgen(spec: dict[str, Any], peers: Peers) -> dict[str, Any]:
    """Run a phase; with ``--retries``, again while other processes took too much CPU.

    Of the attempts, the one during which other processes were quietest is kept.
    """
    attempts = [loadgen_once(spec, peers)]
    while (
        attempts[-1]["other_processes_cores"] > peers.quiet.threshold
        and len(attempts) <= peers.quiet.retries
    ):
        log(
            f"  other processes took {attempts[-1]['other_processes_cores']:.2f} cores;"
            f" running the phase again ({len(attempts)}/{peers.quiet.retries})"
        )
        attempts.append(loadgen_once(spec, peers))
    best = min(attempts, key=lambda a: a["other_processes_cores"])
    best["attempts"] = len(attempts)
    return best


def loadgen_once(spec: dict[str, Any], peers: Peers) -> dict[str, Any]:
    """Run one phase in a fresh load-generator process; adds the servers' CPU seconds."""
    peers.procs.check_alive()
    budget = 300 + 3 * (spec.get("duration", 0) + spec.get("ramp", 0))
    budget += 0.2 * (spec.get("count", 0) + spec.get("warmup", 0)) * len(spec["targets"])
    before, busy0, mine0, wall0 = peers.cpu(), machine_busy(), own_and_children(), time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, str(LOADGEN)],
            input=json.dumps(spec).encode(),
            capture_output=True,
            timeout=budget,
            cwd=ROOT,
            preexec_fn=die_with_parent,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"the {spec['kind']} phase took over {budget:g} s") from None
    after, busy1, mine1, wall1 = peers.cpu(), machine_busy(), own_and_children(), time.monotonic()
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed ({done.returncode}):\n{done.stderr.decode()}")
    result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    result["server_cpu_s"] = {name: after[name] - before[name] for name in before}
    ours = sum(result["server_cpu_s"].values()) + (mine1 - mine0)
    # Other processes on the machine compete for the same cores: say how much they took.
    result["other_processes_cores"] = max(0.0, (busy1 - busy0) - ours) / (wall1 - wall0)
    result["wall_s"] = wall1 - wall0
    return result


def spec(kind: str, targets: list[dict[str, str]], **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "targets": targets, **fields}


def run_phases(peers: Peers, plan: dict[str, Any], profile: Path | None) -> dict[str, Any]:
    r: dict[str, Any] = {}
    plain_phases(peers, plan, r)
    stream_phases(peers, plan, r)
    embedding_phases(peers, plan, r)
    client_phases(peers, plan, r)
    floor_phase(peers, plan, r)
    idle_phases(peers, plan, r)
    if profile is not None:
        from profiling import profile_phases

        r["profile"] = profile_phases(peers, plan, profile)
    r["sim_stats"] = peers.sim_stats()
    return r


def plain_phases(peers: Peers, plan: dict[str, Any], r: dict[str, Any]) -> None:
    """Non-streaming: latency at concurrency 1, requests/s at concurrency 64."""
    every, plain, slices = peers.targets(), request_body(stream=False), plan["slices"]
    conc, duration = plan["throughput_concurrency"], plan["throughput_duration"]
    peers.patch_sim(reply_tokens=NONSTREAM_TOKENS)
    log(f"latency, concurrency 1: {plan['latency_count']} requests per target, alternating")
    r["latency_c1"] = loadgen(
        spec("latency", every, body=plain, count=plan["latency_count"],
             warmup=plan["latency_warmup"]),
        peers,
    )  # fmt: skip
    log(f"throughput, concurrency {conc}: {slices} × {duration / slices:g} s windows per target")
    r["throughput_c64"] = loadgen(
        spec("throughput", every, body=plain, concurrency=conc, duration=duration,
             ramp=plan["ramp"], slices=slices, pids=peers.pids()),
        peers,
    )  # fmt: skip


def stream_phases(peers: Peers, plan: dict[str, Any], r: dict[str, Any]) -> None:
    """Streaming: time to first token at concurrency 1, tokens/s with 256 streams."""
    every, stream, slices = peers.targets(), request_body(stream=True), plan["slices"]
    sconc, sduration = plan["streams_concurrency"], plan["streams_duration"]
    peers.patch_sim(reply_tokens=STREAM_TOKENS)
    log(f"time to first token, concurrency 1: {plan['ttft_count']} streams per target")
    r["ttft_c1"] = loadgen(
        spec("ttft", every, body=stream, count=plan["ttft_count"], warmup=plan["ttft_warmup"]),
        peers,
    )
    log(f"streaming, {sconc} concurrent streams: {slices} × {sduration / slices:g} s windows")
    r["streams"] = loadgen(
        spec("streams", every, body=stream, concurrency=sconc, duration=sduration,
             ramp=2 * plan["ramp"], slices=slices, pids=peers.pids()),
        peers,
    )  # fmt: skip
    peers.patch_sim(reply_tokens=NONSTREAM_TOKENS)


def client_phases(peers: Peers, plan: dict[str, Any], r: dict[str, Any]) -> None:
    """aiohttp vs httpx as clients of the simulator (hfgate's upstream client choice)."""
    direct, plain = peers.targets(("direct",)), request_body(stream=False)
    conc = plan["throughput_concurrency"]
    for label, client, pool in CLIENT_VARIANTS:
        log(f"client {label} → simulator: concurrency 1, then {conc}")
        r[f"client_{label}_c1"] = loadgen(
            spec("latency", direct, client=client, pool=pool, body=plain,
                 count=plan["clients_latency_count"], warmup=plan["latency_warmup"]),
            peers,
        )  # fmt: skip
        r[f"client_{label}_c{conc}"] = loadgen(
            spec("throughput", direct, client=client, pool=pool, body=plain, concurrency=conc,
                 duration=plan["clients_duration"], ramp=plan["ramp"], pids=peers.pids()),
            peers,
        )  # fmt: skip


def floor_phase(peers: Peers, plan: dict[str, Any], r: dict[str, Any]) -> None:
    """``GET /healthz`` on hfgate at concurrency 64: the server and framework alone."""
    conc = plan["throughput_concurrency"]
    log(f"hfgate's floor: GET /healthz (no upstream, no auth), concurrency {conc}")
    health = [{"name": "hfgate", "url": peers.servers["hfgate"].url + "/healthz", "token": "-"}]
    r["gateway_healthz"] = loadgen(
        spec("throughput", health, method="GET", expect='"ok"', concurrency=conc,
             duration=plan["floor_duration"], ramp=plan["ramp"], pids=peers.pids()),
        peers,
    )  # fmt: skip


def idle_phases(peers: Peers, plan: dict[str, Any], r: dict[str, Any]) -> None:
    """1,000 streams held open through each target in turn; its memory; then its recovery.

    The simulator sends a token every ``idle_token_delay`` seconds, so the streams stay open
    and nearly idle. LiteLLM goes last: streams it keeps reading upstream after its clients
    left would otherwise load the simulator during the others' turns.
    """
    count, delay = plan["idle_streams"], plan["idle_token_delay"]
    for name in TARGETS:
        server = peers.servers["sim" if name == "direct" else name]
        peers.patch_sim(token_delay=delay, reply_tokens=256)
        log(f"{count} idle streams through {name} (a token every {delay:g} s)")
        try:
            r[f"idle_{name}"] = survive(
                spec("idle", peers.targets((name,)), body=request_body(stream=True),
                     count=count, open_rate=plan["idle_open_rate"], rss_pids=server.pids(),
                     sim_state_url=f"{peers.sim_url}/_sim/state", open_timeout=120,
                     release_timeout=15, settle=1.0),
                peers, count,
            )  # fmt: skip
        finally:
            peers.patch_sim(token_delay=0, reply_tokens=NONSTREAM_TOKENS)
        r[f"idle_{name}_recovery"] = survive(
            spec("latency", peers.targets((name,)), body=request_body(stream=False),
                 count=plan["recovery_count"], warmup=0, timeout=10),
            peers, plan["recovery_count"],
        )  # fmt: skip


def survive(phase: dict[str, Any], peers: Peers, count: int) -> dict[str, Any]:
    """A one-target phase whose failure (a gateway stuck, say) counts as errors, not a crash."""
    try:
        return loadgen_once(phase, peers)  # no --retries: memory, not CPU time, is measured
    except RuntimeError as exc:
        name = phase["targets"][0]["name"]
        log(f"  {phase['kind']} through {name} failed: {str(exc)[:300]}")
        failed = {"count": count, "held": 0, "errors": count, "error_kinds": {str(exc): count}}
        return {"targets": {name: failed}, "failed": str(exc)}
