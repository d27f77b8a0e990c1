"""The ``idle`` phase: hold many streams open through one target, and read its memory meanwhile.

With the simulator slowed down (``token_delay`` of seconds per token), streams stay open and
almost idle. The phase opens ``count`` streams at ``open_rate`` per second (the same arrival
schedule for every target), waits until every one has received its first content chunk (or
failed, or ``open_timeout`` passed), waits ``settle`` seconds and reads the resident memory of
the target's processes (``rss_pids``: a process tree, summed). Then it closes every stream and
waits (``release_timeout`` at most) until the simulator's ``in_flight`` is back where it was
(``sim_state_url``): the target gave its upstream streams up. ``bench/run.py`` then checks that
the target still answers, with the simulator fast again.

Errors: a stream that failed to open, answered non-200, broke or ended before it was closed,
or had no content by ``open_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadgen_clients import SSECounter, Tally, Target, summary_ms


def memory_kb(pids: list[int]) -> dict[str, int]:
    """RSS and PSS (kB) summed over ``pids``, from /proc."""
    rss = pss = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
    return {"rss_kb": rss, "pss_kb": pss}


@dataclass
class Held:
    """The streams' states: how many got their first chunk, failed, or are open now."""

    count: int
    first: int = 0
    open: int = 0
    tally: Tally = field(default_factory=Tally)
    first_chunk_s: list[float] = field(default_factory=list)
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    started: float = field(default_factory=time.perf_counter)

    def check(self) -> None:
        if self.first + self.tally.errors >= self.count:
            self.settled.set()

    def got_first(self, start: float) -> None:
        self.first += 1
        self.first_chunk_s.append(time.perf_counter() - start)
        self.check()

    def fail(self, kind: str, had_first: bool) -> None:
        self.tally.fail(kind)
        if had_first:  # it counted as held; now it is an error instead
            self.first -= 1
        self.check()

    def missing(self) -> int:
        """Streams still without content (no answer yet): errors once the wait is over."""
        return self.count - self.first - self.tally.errors


async def hold_one(session: Any, target: Target, body: bytes, held: Held) -> None:
    """One stream: open it, read until cancelled; anything else ending it is an error."""
    start, had_first = time.perf_counter(), False
    try:
        async with session.post(target.url, data=body, headers=target.headers) as response:
            if response.status != 200:
                await response.read()
                held.fail(f"HTTP {response.status}", False)
                return
            held.open += 1
            try:
                counter = SSECounter()
                async for chunk in response.content.iter_any():
                    if counter.feed(chunk) and not had_first:
                        had_first = True
                        held.got_first(start)
                held.fail("stream ended before it was closed", had_first)
            finally:
                held.open -= 1
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        held.fail(type(exc).__name__, had_first)


async def sim_in_flight(session: Any, url: str | None) -> int | None:
    """The simulator's generations in flight (``GET /_sim/state``), None if unknown."""
    if not url:
        return None
    with contextlib.suppress(Exception):
        async with session.get(url) as response:
            return int((await response.json())["in_flight"])
    return None


async def open_all(session: Any, target: Target, spec: dict[str, Any], held: Held) -> list[Any]:
    """Start the streams at ``open_rate`` per second; wait until each has content or failed."""
    body = json.dumps(spec["body"]).encode()
    rate = float(spec.get("open_rate", 200))
    tasks = []
    for i in range(held.count):
        tasks.append(asyncio.create_task(hold_one(session, target, body, held)))
        await asyncio.sleep(max(0.0, held.started + (i + 1) / rate - time.perf_counter()))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(held.settled.wait(), spec.get("open_timeout", 120))
    return tasks


async def close_all(tasks: list[Any]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def wait_released(url: str | None, baseline: int | None, timeout: float) -> dict[str, Any]:
    """Wait until the simulator's in-flight count is back to ``baseline`` (upstreams closed)."""
    import aiohttp

    start = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        now = await sim_in_flight(session, url)
        while now is not None and baseline is not None and now > baseline:
            if time.perf_counter() - start > timeout:
                break
            await asyncio.sleep(0.1)
            now = await sim_in_flight(session, url)
    left = None if now is None or baseline is None else max(0, now - baseline)
    took = time.perf_counter() - start if left == 0 else None
    return {"upstream_left_open": left, "released_s": took}


async def hold(target: Target, spec: dict[str, Any], held: Held) -> dict[str, Any]:
    """Open the streams, read the memory while they are held, close them."""
    import aiohttp

    pids, sim_url = list(spec.get("rss_pids", [])), spec.get("sim_state_url")
    timeout = aiohttp.ClientTimeout(total=None, sock_read=spec.get("read_timeout", 90))
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        baseline = await sim_in_flight(session, sim_url)
        before = memory_kb(pids)
        held.started = time.perf_counter()
        tasks = await open_all(session, target, spec, held)
        opened_s = time.perf_counter() - held.started
        await asyncio.sleep(spec.get("settle", 1.0))
        figures = {"held": held.first, "open_s": opened_s, "memory_before_kb": before}
        figures["connections_open"] = held.open
        figures["memory_held_kb"] = memory_kb(pids)
        figures["upstream_in_flight"] = {
            "before": baseline,
            "held": await sim_in_flight(session, sim_url),
        }
        missing = held.missing()
        await close_all(tasks)
    if missing > 0:
        held.tally.error_kinds["no content before open_timeout"] = missing
        held.tally.errors += missing
    return figures


async def idle(client: Any, spec: dict[str, Any], targets: list[Target]) -> dict[str, Any]:
    target, held = targets[0], Held(int(spec["count"]))
    figures = await hold(target, spec, held)
    baseline = figures["upstream_in_flight"]["before"]
    figures["upstream_in_flight"] |= await wait_released(
        spec.get("sim_state_url"), baseline, spec.get("release_timeout", 15)
    )
    await asyncio.sleep(spec.get("settle", 1.0))
    figures["memory_after_kb"] = memory_kb(list(spec.get("rss_pids", [])))
    delta = figures["memory_held_kb"]["rss_kb"] - figures["memory_before_kb"]["rss_kb"]
    holding = figures["held"]
    figures |= {
        "count": held.count,
        "errors": held.tally.errors,
        "error_kinds": held.tally.error_kinds,
        "first_chunk": summary_ms(held.first_chunk_s),
        "per_stream_kb": delta / holding if holding else None,
    }
    return {"targets": {target.name: figures}}
