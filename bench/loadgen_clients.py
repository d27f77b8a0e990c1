"""The load generator's clients and request bookkeeping (``bench/loadgen.py`` runs the phases).

A client exposes two coroutines: ``call(method, url, headers, body) -> (status, body)`` and
``stream(url, headers, body, on_tokens) -> StreamResult``; aiohttp is the one the benchmark
uses, httpx is there to compare upstream clients.
"""

from __future__ import annotations

import json
import resource
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
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


async def counted(
    status: int, chunks: AsyncIterator[bytes], on_tokens: Callable[[int], None]
) -> StreamResult:
    """Read a 200 stream to its end, reporting tokens as they arrive."""
    result, counter = StreamResult(status), SSECounter()
    async for chunk in chunks:
        if new := counter.feed(chunk):
            on_tokens(new)
    result.tokens, result.complete = counter.tokens, counter.done
    return result


class AiohttpClient:
    name = "aiohttp"

    def __init__(
        self, concurrency: int, pool: int | None = None, timeout: float = REQUEST_TIMEOUT
    ) -> None:
        import aiohttp

        self._aiohttp = aiohttp
        connector = aiohttp.TCPConnector(limit=pool or 0, ttl_dns_cache=None)
        self.session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=timeout),
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
            if response.status != 200:
                await response.read()
                return StreamResult(response.status)
            return await counted(response.status, response.content.iter_any(), on_tokens)

    async def close(self) -> None:
        await self.session.close()


class HttpxClient:
    name = "httpx"

    def __init__(
        self, concurrency: int, pool: int | None = None, timeout: float = REQUEST_TIMEOUT
    ) -> None:
        import httpx

        # One connection per in-flight request by default, as aiohttp's unlimited pool does.
        size = pool or concurrency
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        self.client = httpx.AsyncClient(limits=limits, timeout=timeout)

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
            if response.status_code != 200:
                await response.aread()
                return StreamResult(response.status_code)
            return await counted(response.status_code, response.aiter_raw(), on_tokens)

    async def close(self) -> None:
        await self.client.aclose()


CLIENTS: dict[str, type[AiohttpClient | HttpxClient]] = {
    "aiohttp": AiohttpClient,
    "httpx": HttpxClient,
}


# -- requests -------------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    url: str
    headers: dict[str, str]
    # The target's own requests, sent one after another as one measured call (a caller that
    # sends the pieces of a batch in turn); none: the phase's request.
    bodies: tuple[bytes, ...] = ()

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Target:
        headers = {
            "Authorization": f"Bearer {spec['token']}",
            "Content-Type": "application/json",
        }
        bodies = tuple(json.dumps(body).encode() for body in spec.get("bodies", ()))
        return cls(spec["name"], spec["url"], headers, bodies)


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
    for body in target.bodies or (call.body,):
        try:
            status, reply = await client.call(call.method, target.url, target.headers, body)
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
