"""The load generator: one process, one event loop, one HTTP client session.

``bench/run.py`` starts it once per phase with a JSON spec on stdin and reads one JSON result
from stdout, so the client never shares a process (or a GIL) with the servers it measures and
every phase starts from a clean interpreter. It can also be run by hand::

    echo '{"kind": "latency", "targets": [...], ...}' | python bench/loadgen.py

Spec fields: ``kind`` (``latency`` | ``throughput`` | ``ttft`` | ``streams``), ``client``
(``aiohttp`` | ``httpx``), ``pool`` (the client's connection limit; default: one per
concurrent request), ``targets`` (``[{"name", "url", "token"}]``), ``body`` (the JSON request),
and ``count``/``warmup`` (latency, ttft: concurrency 1, requests alternating between targets)
or ``concurrency``/``duration``/``ramp``/``slices``/``pids`` (throughput, streams: the
duration is cut into ``slices`` windows per target, alternating between targets, each after
its own ramp; CPU time of the ``pids`` — ``{"name": pid}`` — and of the machine is read at
each window's edges). Non-streaming phases also take ``method`` (default POST; no ``body``
sends none) and ``expect`` (a string every good answer contains; default
``"finish_reason"``).

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

REQUEST_TIMEOUT = 60.0
CONTENT = b'"content":"'
DONE = b"data: [DONE]"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no samples."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary_ms(seconds: list[float]) -> dict[str, float | int | None]:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": percentile(ms, 50),
        "p90_ms": percentile(ms, 90),
        "p99_ms": percentile(ms, 99),
        "mean_ms": sum(ms) / len(ms) if ms else None,
        "max_ms": max(ms) if ms else None,
    }


# -- clients ------------------------------------------------------------------------------------
# A client exposes two coroutines: ``call(method, url, headers, body) -> (status, body)`` and
# ``stream(url, headers, body, on_first_token) -> (status, tokens, complete)``.


@dataclass
class StreamResult:
    status: int
    tokens: int = 0
    complete: bool = False


class SSECounter:
    """Counts content-bearing SSE events (``"content":"<non-empty>"``) and sees ``[DONE]``.

    Works on raw chunks: complete events are split on the blank line, the remainder is kept.
    """

    __slots__ = ("buffer", "done", "tokens")

    def __init__(self) -> None:
        self.buffer = b""
        self.tokens = 0
        self.done = False

    def feed(self, chunk: bytes) -> int:
        data = self.buffer + chunk if self.buffer else chunk
        events = data.split(b"\n\n")
        self.buffer = events.pop()
        new = 0
        for event in events:
            i = event.find(CONTENT)
            if i >= 0 and event[i + 11 : i + 12] != b'"':
                new += 1
            elif event.startswith(DONE):
                self.done = True
        self.tokens += new
        return new


class AiohttpClient:
    name = "aiohttp"

    def __init__(self, concurrency: int, pool: int | None = None) -> None:
        import aiohttp

        self._aiohttp = aiohttp
        connector = aiohttp.TCPConnector(limit=pool or 0, ttl_dns_cache=None)
        self.session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
            auto_decompress=False,
        )

    async def call(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, bytes]:
        async with self.session.request(method, url, data=body, headers=headers) as response:
            return response.status, await response.read()

    async def stream(
        self,
        url: str,
        headers: dict[str, str],
        body: bytes,
        on_tokens: Callable[[int], None],
    ) -> StreamResult:
        async with self.session.post(url, data=body, headers=headers) as response:
            result = StreamResult(response.status)
            if response.status != 200:
                await response.read()
                return result
            counter = SSECounter()
            async for chunk in response.content.iter_any():
                new = counter.feed(chunk)
                if new:
                    on_tokens(new)
            result.tokens, result.complete = counter.tokens, counter.done
            return result

    async def close(self) -> None:
        await self.session.close()


class HttpxClient:
    name = "httpx"

    def __init__(self, concurrency: int, pool: int | None = None) -> None:
        import httpx

        # One connection per in-flight request by default, as aiohttp's unlimited pool does.
        size = pool or concurrency
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        self.client = httpx.AsyncClient(limits=limits, timeout=REQUEST_TIMEOUT)

    async def call(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, bytes]:
        response = await self.client.request(method, url, content=body, headers=headers)
        return response.status_code, response.content

    async def stream(
        self,
        url: str,
        headers: dict[str, str],
        body: bytes,
        on_tokens: Callable[[int], None],
    ) -> StreamResult:
        async with self.client.stream("POST", url, content=body, headers=headers) as response:
            result = StreamResult(response.status_code)
            if response.status_code != 200:
                await response.aread()
                return result
            counter = SSECounter()
            async for chunk in response.aiter_raw():
                new = counter.feed(chunk)
                if new:
                    on_tokens(new)
            result.tokens, result.complete = counter.tokens, counter.done
            return result

    async def close(self) -> None:
        await self.client.aclose()


CLIENTS = {"aiohttp": AiohttpClient, "httpx": HttpxClient}


# -- phases -------------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    url: str
    headers: dict[str, str]

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Target:
        headers = {
            "Authorization": f"Bearer {spec['token']}",
            "Content-Type": "application/json",
        }
        return cls(spec["name"], spec["url"], headers)


@dataclass
class Tally:
    ok: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)

    def fail(self, kind: str) -> None:
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1


@dataclass(frozen=True)
class Call:
    """One request, encoded once: method, body bytes, and what a good answer contains."""

    method: str
    body: bytes | None
    expect: bytes

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Call:
        body = spec.get("body")
        return cls(
            spec.get("method", "POST"),
            json.dumps(body).encode() if body is not None else None,
            spec.get("expect", '"finish_reason"').encode(),
        )


async def one_call(client: Any, target: Target, call: Call, tally: Tally) -> bool:
    try:
        status, reply = await client.call(call.method, target.url, target.headers, call.body)
    except Exception as exc:
        tally.fail(type(exc).__name__)
        return False
    if status != 200:
        tally.fail(f"HTTP {status}")
        return False
    if call.expect not in reply:
        tally.fail("incomplete body")
        return False
    tally.ok += 1
    return True


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

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.tick = os.sysconf("SC_CLK_TCK")

    def _proc(self, pid: int) -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.tick

    def _machine(self) -> float:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:9]]
        user, nice, system, _idle, _iowait, irq, softirq, steal = values
        return (user + nice + system + irq + softirq + steal) / self.tick

    def read(self) -> dict[str, float]:
        marks = {name: self._proc(pid) for name, pid in self.pids.items()}
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


async def streams(client: Any, spec: dict[str, Any], targets: list[Target]) -> dict[str, Any]:
    """``concurrency`` streams open at all times; tokens received inside the windows count."""
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

        await asyncio.gather(*(worker(i) for i in range(concurrency)))

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
}


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    targets = [Target.from_spec(t) for t in spec["targets"]]
    client = CLIENTS[spec.get("client", "aiohttp")](spec.get("concurrency", 1), spec.get("pool"))
    try:
        gc.collect()
        gc.freeze()  # the long-lived objects made so far are never scanned again
        result = await PHASES[spec["kind"]](client, spec, targets)
    finally:
        await client.close()
    return {"kind": spec["kind"], "client": client.name, "pool": spec.get("pool")} | result


def main() -> None:
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
