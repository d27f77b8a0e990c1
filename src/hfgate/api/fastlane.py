"""The fast lane: generation requests skip FastAPI's per-request machinery.

A generation request through the full FastAPI stack walks the middleware chain, the router's
match over every route, dependency solving and two exit stacks: about a third of the
gateway's CPU per request (bench/RESULTS.md, "lean" variant). The generation endpoints need
none of it — they take the request, authenticate it themselves and read their own body — so
``Gateway`` sends exactly those (method, path) pairs straight to the same endpoint functions,
keeping what matters on the way: the body size limit and the one error boundary
(``HfgateError`` → its status and OpenAI-shaped body, anything else → a logged 500).

Everything else, including a wrong method on a fast path (405), goes through FastAPI as
before, and the fast routes stay declared on the app for the OpenAPI schema. When FastAPI's
own OpenTelemetry hook is configured, the lane stays closed so every request is traced.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from hfgate.api.errors import hfgate_error_response, unexpected_error_response
from hfgate.api.limits import BodySizeLimit, BodyTooLarge
from hfgate.errors import HfgateError

Endpoint = Callable[..., Awaitable[Response]]


class Gateway(FastAPI):
    """FastAPI with a fast lane for the endpoints named to ``fast_lane``."""

    def __init__(self, *, max_body_bytes: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._exact: dict[tuple[str, str], Endpoint] = {}
        self._prefixes: list[tuple[str, str, str, Endpoint]] = []
        self._lane = BodySizeLimit(self._serve_fast, max_body_bytes)
        self._lane_open: bool | None = None  # decided on the first request (see the docstring)

    def fast_lane(self, *endpoints: Endpoint) -> None:
        """Serve these endpoints' declared routes (paths and methods as declared on the app)
        through the lane. They must take only the request and their ``{name:path}`` rest."""
        # Included routers stay nested in FastAPI 0.16x: their effective routes (prefix
        # applied) are what the app serves.
        found = set()
        for route in iter_route_contexts(self.routes):
            if route.endpoint in endpoints and route.path and route.methods:
                found.add(route.endpoint)
                for method in route.methods:
                    self._fast_route(method, route.path, route.endpoint)
        if missing := [e.__name__ for e in endpoints if e not in found]:
            raise RuntimeError(f"no declared route for the fast lane's {missing}")

    def _fast_route(self, method: str, path: str, endpoint: Endpoint) -> None:
        """``endpoint(request)`` for ``method path``; a path ending in ``{name:path}`` matches
        by prefix and passes the rest as ``name``."""
        if path.endswith(":path}"):
            prefix, _, param = path.rpartition("{")
            self._prefixes.append((method, prefix, param.split(":", 1)[0], endpoint))
        else:
            self._exact[(method, path)] = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._open() and self._match(scope):
            scope["app"] = self
            await self._lane(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def _open(self) -> bool:
        if self._lane_open is None:
            telemetry = getattr(self, "_native_telemetry", None)
            self._lane_open = telemetry is None or not telemetry.enabled()
        return self._lane_open

    def _match(self, scope: Scope) -> bool:
        """Find the fast endpoint for this request and put it in the scope, as routing does."""
        method, path = scope["method"], _route_path(scope)
        endpoint = self._exact.get((method, path))
        if endpoint is not None:
            scope["endpoint"], scope["path_params"] = endpoint, {}
            return True
        for fast_method, prefix, param, endpoint in self._prefixes:
            if method == fast_method and path.startswith(prefix) and len(path) > len(prefix):
                scope["endpoint"], scope["path_params"] = endpoint, {param: path[len(prefix) :]}
                return True
        return False

    async def _serve_fast(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await scope["endpoint"](request, **scope["path_params"])
        except BodyTooLarge:
            raise  # BodySizeLimit answers it
        except HfgateError as exc:
            response = hfgate_error_response(exc)
        except Exception as exc:
            response = unexpected_error_response(request, exc)
        await response(scope, receive, send)


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path
