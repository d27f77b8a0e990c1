"""The load generator: one process, one event loop, one HTTP client session.

``bench/run.py`` starts it once per phase with a JSON spec on stdin and reads one JSON result
from stdout, so the client never shares a process (or a GIL) with the servers it measures and
every phase starts from a clean interpreter. It can also be run by hand::

    echo '{"kind": "latency", "targets": [...], ...}' | python bench/loadgen.py

Spec fields: ``kind`` (``latency`` | ``throughput`` | ``ttft`` | ``streams`` | ``idle``),
``client`` (``aiohttp`` | ``httpx``), ``pool`` (the client's connection limit; default: one per
concurrent request), ``timeout`` (seconds per request; default 60), ``targets``
(``[{"name", "url", "token"}]``), ``body`` (the JSON request), and ``count``/``warmup``
(latency, ttft: concurrency 1, requests alternating between targets) or
``concurrency``/``duration``/``ramp``/``slices``/``pids`` (throughput, streams: the duration is
cut into ``slices`` windows per target, alternating between targets, each after its own ramp;
CPU time of the ``pids`` — ``{"name": pid or [pids]}``, a list being a process tree, summed —
and of the machine is read at each window's edges). Non-streaming phases also take ``method``
(default POST; no ``body`` sends none) and ``expect`` (a string every good answer contains;
default ``"finish_reason"``). ``idle`` (many streams held open at once, and the server's memory
meanwhile) is described in ``bench/loadgen_idle.py``.

Every phase is bounded: a fixed count, or a fixed window after which no new request starts;
requests have a timeout, and the process exits when the phase is done.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadgen_clients import (
    CLIENTS,
    Call,
    Tally,
    Target,
    cpu_seconds,
    one_call,
    percentile,
    summary_ms,
)
from loadgen_idle import idle


async def latency(client: Any, spec: dict[str, Any], targets: list[Target]) -> dict[str, Any]:
    """Concurrency 1; requests alternate between targets (paired, same conditions)."""
    body = Call.from_spec(spec)
    for _ in range(spec.get("warmup", 50)):
        for target in targets:
            await one_call(client, target, body, Tally())
    samples: dict[str, list[float]] = {t.name: [] for t in targets}
    tallies = {t.name: Tally() for t in targets}
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    for i in range(spec["count"]):
        # alternate which target goes first so neither always follows the other
        order = targets if i % 2 == 0 else targets[::-1]
        for target in order:
            start = time.perf_counter()
            if await one_call(client, target, body, tallies[target.name]):
                samples[target.name].append(time.perf_counter() - start)
    wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
    return {
        "targets": {
            name: summary_ms(values)
            | {"ok": tallies[name].ok, "errors": tallies[name].errors}
            | {"error_kinds": tallies[name].error_kinds}
            for name, values in samples.items()
        },
        "client_cpu_s": cpu,
        "wall_s": wall,
    }


class Meter:
    """CPU seconds of this process, of the servers (by pid) and of the whole machine."""

    def __init__(self, pids: dict[str, int | list[int]]) -> None:
        self.pids = {name: p if isinstance(p, list) else [p] for name, p in pids.items()}
        self.tick = os.sysconf("SC_CLK_TCK")

    def _proc(self, pids: list[int]) -> float:
        total = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # a worker that is gone
                continue
            total += int(fields[11]) + int(fields[12])
        return total / self.tick

    def _machine(self) -> float:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:9]]
        user, nice, system, _idle, _iowait, irq, softirq, steal = values
        return (user + nice + system + irq + softirq + steal) / self.tick

    def read(self) -> dict[str, float]:
        marks = {name: self._proc(pids) for name, pids in self.pids.items()}
        marks["client"] = cpu_seconds()
        marks["machine"] = self._machine()
        marks["wall"] = time.perf_counter()
        return marks

    async def span(self, begin: float, end: float) -> dict[str, float]:
        """CPU spent between two ``perf_counter`` instants (sleeps until each)."""
        await asyncio.sleep(begin - time.perf_counter())
        start = self.read()
        await asyncio.sleep(end - time.perf_counter())
        return self.delta(start, self.read())

    @staticmethod
    def delta(start: dict[str, float], end: dict[str, float]) -> dict[str, float]:
        spent = {name: end[name] - start[name] for name in start}
        ours = sum(v for k, v in spent.items() if k not in ("machine", "wall"))
        # other processes on the machine compete for the same cores: in average cores
        spent["other_cores"] = max(0.0, spent["machine"] - ours) / spent["wall"]
        return spent


@dataclass
class Window:
    """What one target did during its measured windows (summed over slices)."""

    tally: Tally = field(default_factory=Tally)
    counted: int = 0  # requests (or tokens) completed inside the windows
    streams: int = 0
    latencies: list[float] = field(default_factory=list)
    per_stream: list[int] = field(default_factory=list)
    cut: int = 0  # streams still running ``drain`` s after the window: cancelled, not counted
    cpu: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def add_cpu(self, spent: dict[str, float]) -> None:
        for name, value in spent.items():
            if name != "other_cores":
                self.cpu[name] = self.cpu.get(name, 0.0) + value

    def cpu_report(self) -> dict[str, float]:
        report = {k: v for k, v in self.cpu.items() if k not in ("machine", "wall")}
        report["other_cores"] = (
            max(0.0, self.cpu["machine"] - sum(report.values())) / self.cpu["wall"]
        )
        return report


async def sliced(
    spec: dict[str, Any],
    targets: list[Target],
    run_window: Callable[[Target, Window, float, float], Awaitable[None]],
) -> dict[str, Window]:
    """``slices`` rounds; in each, every target gets a ramp + a ``duration / slices`` window.

    Alternating short windows expose both targets to the same machine: on a shared box, what
    other processes do shifts both sides alike instead of whichever ran second.
    """
    slices = max(1, int(spec.get("slices", 1)))
    seconds, ramp = spec["duration"] / slices, spec.get("ramp", 1.0)
    meter = Meter(spec.get("pids", {}))
    windows = {t.name: Window() for t in targets}
    for index in range(slices):
        order = targets if index % 2 == 0 else targets[::-1]
        for target in order:
            window = windows[target.name]
            start = time.perf_counter()
            begin, end = start + ramp, start + ramp + seconds
            marker = asyncio.create_task(meter.span(begin, end))
            await run_window(target, window, begin, end)
            window.add_cpu(await marker)
            window.seconds += seconds
    return windows


async def throughput(client: Any, spec: dict[str, Any], targets: list[Target]) -> dict[str, Any]:
    """``concurrency`` workers loop; requests that complete inside the windows count."""
    call = Call.from_spec(spec)
    concurrency = spec["concurrency"]
    clock = time.perf_counter

    async def run_window(target: Target, window: Window, begin: float, end: float) -> None:
        async def worker() -> None:
            while (start := clock()) < end:
                ok = await one_call(client, target, call, window.tally)
                done = clock()
                if ok and begin <= done < end:
                    window.counted += 1
                    window.latencies.append(done - start)

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    windows = await sliced(spec, targets, run_window)
    return {
        "concurrency": concurrency,
        "duration_s": spec["duration"],
        "slices": spec.get("slices", 1),
        "targets": {
            name: {
                "requests": w.counted,
                "rps": w.counted / w.seconds,
                "latency": summary_ms(w.latencies),
                "ok": w.tally.ok,
                "errors": w.tally.errors,
                "error_kinds": w.tally.error_kinds,
                "cpu_s": w.cpu_report(),
            }
            for name, w in windows.items()
        },
    }


async def ttft(client: Any, spec: dict[str, Any], targets: list[Target]) -> dict[str, Any]:
    """Streams at concurrency 1, alternating targets: time to the first content token."""
    body = json.dumps(spec["body"]).encode()
    firsts: dict[str, list[float]] = {t.name: [] for t in targets}
    totals: dict[str, list[float]] = {t.name: [] for t in targets}
    tokens: dict[str, list[int]] = {t.name: [] for t in targets}
    tallies = {t.name: Tally() for t in targets}

    async def one(target: Target, record: bool) -> None:
        first: list[float] = []
        start = time.perf_counter()

        def on_tokens(_n: int) -> None:
            if not first:
                first.append(time.perf_counter())

        tally = tallies[target.name] if record else Tally()
        try:
            result = await client.stream(target.url, target.headers, body, on_tokens)
        except Exception as exc:
            tally.fail(type(exc).__name__)
            return
        end = time.perf_counter()
        if result.status != 200:
            tally.fail(f"HTTP {result.status}")
        elif not result.complete or not first:
            tally.fail("stream ended without [DONE]" if first else "no tokens")
        else:
            tally.ok += 1
            if record:
                firsts[target.name].append(first[0] - start)
                totals[target.name].append(end - start)
                tokens[target.name].append(result.tokens)

    for _ in range(spec.get("warmup", 20)):
        for target in targets:
            await one(target, record=False)
    for i in range(spec["count"]):
        for target in targets if i % 2 == 0 else targets[::-1]:
            await one(target, record=True)
    return {
        "targets": {
            name: {
                "ttft": summary_ms(firsts[name]),
                "stream_total": summary_ms(totals[name]),
                "tokens_per_stream": percentile([float(n) for n in tokens[name]], 50),
                "ok": tallies[name].ok,
                "errors": tallies[name].errors,
                "error_kinds": tallies[name].error_kinds,
            }
            for name in firsts
        }
    }


async def finish(tasks: list[asyncio.Task[None]], timeout: float) -> int:
    """Wait for the tasks at most ``timeout`` s, then cancel the rest; returns how many."""
    _, pending = await asyncio.wait(tasks, timeout=max(0.0, timeout))
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return len(pending)


async def streams(client: Any, spec: dict[str, Any], targets: list[Target]) -> dict[str, Any]:
    """``concurrency`` streams open at all times; tokens received inside the windows count.

    Streams still running ``drain`` seconds (default 5) after a window are cancelled (a slow
    gateway would otherwise hold the next window back for as long as its streams last).
    """
    body = json.dumps(spec["body"]).encode()
    concurrency = spec["concurrency"]
    clock = time.perf_counter

    async def run_window(target: Target, window: Window, begin: float, end: float) -> None:
        def on_tokens(n: int) -> None:
            if begin <= clock() < end:
                window.counted += n

        async def worker(index: int) -> None:
            # stagger the first wave so 256 connections do not all open in the same tick
            await asyncio.sleep((begin - clock()) / 2 * index / concurrency)
            while clock() < end:
                try:
                    result = await client.stream(target.url, target.headers, body, on_tokens)
                except Exception as exc:
                    window.tally.fail(type(exc).__name__)
                    continue
                if result.status != 200:
                    window.tally.fail(f"HTTP {result.status}")
                elif not result.complete:
                    window.tally.fail("stream ended without [DONE]")
                else:
                    window.tally.ok += 1
                    window.per_stream.append(result.tokens)
                    if begin <= clock() < end:
                        window.streams += 1

        tasks = [asyncio.create_task(worker(i)) for i in range(concurrency)]
        window.cut += await finish(tasks, end + spec.get("drain", 5.0) - clock())

    windows = await sliced(spec, targets, run_window)
    return {
        "concurrency": concurrency,
        "duration_s": spec["duration"],
        "slices": spec.get("slices", 1),
        "targets": {
            name: {
                "tokens": w.counted,
                "tokens_per_s": w.counted / w.seconds,
                "streams_completed": w.streams,
                "streams_per_s": w.streams / w.seconds,
                "streams_cut_after_window": w.cut,
                "tokens_per_stream": percentile([float(n) for n in w.per_stream], 50),
                "ok": w.tally.ok,
                "errors": w.tally.errors,
                "error_kinds": w.tally.error_kinds,
                "cpu_s": w.cpu_report(),
            }
            for name, w in windows.items()
        },
    }


PHASES: dict[str, Callable[[Any, dict[str, Any], list[Target]], Awaitable[dict[str, Any]]]] = {
    "latency": latency,
    "throughput": throughput,
    "ttft": ttft,
    "streams": streams,
    "idle": idle,
}


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    targets = [Target.from_spec(t) for t in spec["targets"]]
    kind = CLIENTS[spec.get("client", "aiohttp")]
    client = kind(spec.get("concurrency", 1), spec.get("pool"), spec.get("timeout", 60.0))
    try:
        gc.collect()
        gc.freeze()  # the long-lived objects made so far are never scanned again
        result = await PHASES[spec["kind"]](client, spec, targets)
    finally:
        await client.close()
    return {"kind": spec["kind"], "client": client.name, "pool": spec.get("pool")} | result


def raise_nofile() -> None:
    """Thousands of sockets in the ``idle`` phase: the soft fd limit up to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main() -> None:
    raise_nofile()
    spec = json.loads(sys.stdin.read())
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        runner = asyncio.run
    result = runner(run(spec))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
