"""The one place hfgate does HTTP to endpoints.

aiohttp was chosen over httpx by measurement (``bench/``): it relays more requests per second
on the same core, and its pluggable resolver lets the SSRF policy judge the *resolved*
addresses at connect time, so a DNS name that points at 169.254.169.254 is refused too.
Redirects are never followed. Every transport failure becomes an ``UpstreamUnreachable``
with a sentence that says what happened; nothing here logs or repeats the token.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from hfgate.errors import UpstreamProtocolError, UpstreamUnreachable
from hfgate.upstream.netguard import HostPolicy, literal_ip

USER_AGENT = "hfgate"


class ForbiddenAddress(OSError):
    """Raised by the resolver when every address of a host is refused by the policy."""


class GuardedResolver(AbstractResolver):
    """Resolves, then drops the addresses the policy refuses (after DNS: no rebinding bypass)."""

    def __init__(self, policy: HostPolicy) -> None:
        self._policy = policy
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed = [r for r in results if not self._policy.address_problem(host, r["host"])]
        if not allowed:
            reason = self._policy.address_problem(host, results[0]["host"]) if results else None
            raise ForbiddenAddress(reason or f"{host} has no usable address")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete upstream answer."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def is_json(self) -> bool:
        return self.headers.get("Content-Type", "").startswith("application/json")

    def json(self) -> Any:
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            raise UpstreamProtocolError(
                f"the endpoint answered HTTP {self.status} with a body that is not JSON:"
                f" {self.text(120)!r}"
            ) from None

    def text(self, limit: int = 300) -> str:
        return self.body[:limit].decode("utf-8", "replace").strip()


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long hfgate waits on an endpoint (``HFGATE_UPSTREAM_*_TIMEOUT``, docs/operations.md).

    ``connect``: TCP and TLS. ``first_byte``: from sending a generation to its first token (or
    to a non-streaming answer's headers), on top of the cold-start hold the proxy is asked for.
    ``idle``: between two tokens of a stream; keep-alive comments and stray bytes do not count.
    ``total``: a whole generation call, streamed or not.
    """

    connect: float = 10.0
    first_byte: float = 120.0
    idle: float = 60.0
    total: float = 1800.0


class Transport:
    """A shared aiohttp session (created lazily inside the running loop)."""

    def __init__(
        self,
        policy: HostPolicy,
        *,
        connect_timeout: float | None = None,
        timeouts: Timeouts = Timeouts(),
    ) -> None:
        self.policy = policy
        self.timeouts = timeouts
        self.connect_timeout = timeouts.connect if connect_timeout is None else connect_timeout
        self._session: aiohttp.ClientSession | None = None
        self._host_verdicts: dict[str, str | None] = {}

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=0, ttl_dns_cache=30, resolver=GuardedResolver(self.policy)
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": USER_AGENT},
                auto_decompress=True,
                skip_auto_headers=("Accept-Encoding",),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(
        self,
        method: str,
        url: str,
        *,
        token: str | None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = 30.0,
    ) -> Reply:
        """A whole request: status, headers and the complete body."""
        response = await self.open(
            method, url, token=token, json_body=json_body, headers=headers, timeout=timeout
        )
        try:
            body = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _unreachable(url, exc, timeout) from None
        finally:
            response.release()
        return Reply(response.status, response.headers, body)

    async def open(
        self,
        method: str,
        url: str,
        *,
        token: str | None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        read_timeout: float | None = None,
    ) -> aiohttp.ClientResponse:
        """Send a request and return as soon as the status and headers are in (for SSE).

        ``timeout`` bounds the whole exchange, the body's reading included; ``read_timeout``
        each wait for bytes (the headers included). The caller owns the response:
        ``release()`` it when read, ``close()`` it to abandon it.
        """
        self._check_literal_host(url)
        all_headers = _headers(token, json_body is not None, headers)
        data = orjson.dumps(json_body) if json_body is not None else None
        limits = aiohttp.ClientTimeout(
            total=timeout, sock_connect=self.connect_timeout, sock_read=read_timeout
        )
        try:
            return await self._client().request(
                method, url, data=data, headers=all_headers, timeout=limits, allow_redirects=False
            )
        except (aiohttp.ClientError, TimeoutError, ForbiddenAddress) as exc:
            raise _unreachable(url, exc, read_timeout or timeout) from None

    def _check_literal_host(self, url: str) -> None:
        # aiohttp skips the resolver for literal IPs, so they are judged here. The verdict for
        # a host never changes (the policy is fixed at start), so it is remembered.
        host = urlsplit(url).hostname or ""
        if host not in self._host_verdicts:
            problem = self.policy.address_problem(host, host) if literal_ip(host) else None
            self._host_verdicts[host] = problem
        problem = self._host_verdicts[host]
        if problem:
            raise _forbidden(host, problem)


def _headers(token: str | None, has_body: bool, extra: Mapping[str, str] | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if has_body:
        headers["Content-Type"] = "application/json"
    if extra:
        headers.update(extra)
    return headers


def _forbidden(host: str, problem: str) -> UpstreamUnreachable:
    return UpstreamUnreachable(
        f"refused to connect to {host}: {problem}. hfgate does not call internal addresses;"
        " list the host in HFGATE_ALLOW_HOSTS if this endpoint really lives there",
        code="endpoint_address_forbidden",
    )


def _unreachable(url: str, exc: BaseException, timeout: float | None) -> UpstreamUnreachable:
    parts = urlsplit(url)
    host = parts.hostname or url
    where = f"{host}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    # aiohttp wraps what the resolver raised in ClientConnectorDNSError.
    cause = getattr(exc, "os_error", None) or exc.__cause__
    if isinstance(exc, ForbiddenAddress) or isinstance(cause, ForbiddenAddress):
        return _forbidden(host, str(cause if isinstance(cause, ForbiddenAddress) else exc))
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return UpstreamUnreachable(f"could not resolve {host}: check the endpoint URL")
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return UpstreamUnreachable(
            f"the TLS certificate of {host} was not accepted: {exc.certificate_error}"
        )
    if isinstance(exc, aiohttp.ClientSSLError):
        return UpstreamUnreachable(f"the TLS handshake with {where} failed")
    if isinstance(exc, aiohttp.ClientConnectorError):
        reason = exc.os_error.strerror or type(exc.os_error).__name__
        return UpstreamUnreachable(f"could not connect to {where}: {reason.lower()}")
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return UpstreamUnreachable(
            f"could not connect to {where}: timed out", code="upstream_timeout"
        )
    if isinstance(exc, asyncio.TimeoutError):
        waited = f" within {timeout:g} s" if timeout else ""
        return UpstreamUnreachable(f"{host} did not answer{waited}", code="upstream_timeout")
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError)):
        return UpstreamUnreachable(f"{host} closed the connection before the answer was complete")
    return UpstreamUnreachable(f"request to {host} failed: {type(exc).__name__}")
