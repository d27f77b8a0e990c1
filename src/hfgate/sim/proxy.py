"""The Inference Endpoints proxy in front of the container (docs/protocols.md §1).

In order, for every request that is not ``/_sim/*`` or the Hub:

1. count it, remember its headers (Authorization redacted) and ``X-Scale-Up-Timeout``;
2. auth: a token in ``forbidden_tokens`` → 403 ``missing permissions:
   inference.endpoints.infer.write``; with ``token`` set, a missing or other bearer → 401
   ``UNAUTHORIZED``. Rejected requests are not activity for the idle timer;
3. state: ``paused`` → 400 ``Bad Request: The endpoint is paused, ask a maintainer to restart
   it`` (never wakes); ``scaled_to_zero`` → the first request (any, or only POSTs with
   ``wake_on="inference"``) starts ONE wake-up and the state becomes ``initializing`` for
   ``cold_start`` seconds; meanwhile requests get ``cold_status`` (503) with an HTML body, unless
   ``X-Scale-Up-Timeout: N`` holds them up to N seconds until the replica runs. Requests that
   do not wake it (GETs with ``wake_on="inference"``) do not reset ``idle_timeout`` either;
4. running → the container (``EngineRouter``).
"""

from __future__ import annotations

import math

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hfgate.sim.state import Runtime

UNAUTHORIZED = Response(b"UNAUTHORIZED", 401, media_type="text/plain")
FORBIDDEN = Response(
    b"missing permissions: inference.endpoints.infer.write", 403, media_type="text/plain"
)
PAUSED = Response(
    b"Bad Request: The endpoint is paused, ask a maintainer to restart it",
    400,
    media_type="text/plain",
)
_COLD_BODY = "<html>{status} {reason}</html>"
_REASONS = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


def cold(status: int) -> Response:
    body = _COLD_BODY.format(status=status, reason=_REASONS[status])
    return Response(body, status, media_type="text/html")


def bearer(headers: dict[bytes, bytes]) -> str | None:
    raw = headers.get(b"authorization")
    if raw is None:
        return None
    scheme, _, credential = raw.decode("latin-1").partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        return None
    return credential.strip()


def _redacted(headers: dict[bytes, bytes]) -> dict[str, str]:
    seen = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers.items()}
    if "authorization" in seen:
        scheme = seen["authorization"].partition(" ")[0]
        seen["authorization"] = f"{scheme} <redacted>"
    return seen


def _hold_seconds(headers: dict[bytes, bytes]) -> float | None:
    raw = headers.get(b"x-scale-up-timeout")
    try:
        value = float(raw) if raw is not None else math.nan
    except ValueError:
        return None
    return value if value > 0 and math.isfinite(value) else None


class Proxy:
    """ASGI middleware: the IE proxy's auth and lifecycle in front of ``app``."""

    def __init__(self, runtime: Runtime, app: ASGIApp) -> None:
        self.runtime = runtime
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        self._observe(scope, headers)
        send = self._counting(send)
        refused = self._auth(headers)
        if refused is None:
            refused = await self._admit(scope, headers)
        if refused is not None:
            await refused(scope, receive, send)
            return
        await self._serve(scope, receive, send)

    def _observe(self, scope: Scope, headers: dict[bytes, bytes]) -> None:
        stats = self.runtime.stats
        stats.requests[f"{scope['method']} {scope['path']}"] += 1
        stats.last_headers = _redacted(headers)
        hold = headers.get(b"x-scale-up-timeout")
        if hold is not None:
            stats.scale_up_timeout_seen = hold.decode("latin-1")

    def _counting(self, send: Send) -> Send:
        statuses = self.runtime.stats.statuses

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                statuses[str(message["status"])] += 1
            await send(message)

        return counted

    def _auth(self, headers: dict[bytes, bytes]) -> Response | None:
        config = self.runtime.config
        token = bearer(headers)
        if token is not None and token in config.forbidden_tokens:
            return FORBIDDEN
        if config.token is not None and token != config.token:
            return UNAUTHORIZED
        return None

    async def _admit(self, scope: Scope, headers: dict[bytes, bytes]) -> Response | None:
        lifecycle = self.runtime.lifecycle
        state = lifecycle.current()
        if state == "running":
            return None
        if state == "paused":
            return PAUSED
        if state == "scaled_to_zero" and self._counts(scope) and lifecycle.wake():
            self.runtime.stats.wakeups += 1
        hold = _hold_seconds(headers)
        if hold is not None:
            state = await lifecycle.wait_running(hold)
            if state == "running":
                return None
            if state == "paused":
                return PAUSED
        return cold(self.runtime.config.cold_status)

    def _counts(self, scope: Scope) -> bool:
        """Does this request wake the endpoint and keep it awake? (``wake_on``)"""
        return self.runtime.config.wake_on == "any" or scope["method"] == "POST"

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._counts(scope):
            await self.app(scope, receive, send)
            return
        lifecycle = self.runtime.lifecycle
        lifecycle.busy += 1
        lifecycle.touch()
        try:
            await self.app(scope, receive, send)
        finally:
            lifecycle.busy -= 1
            lifecycle.touch()
