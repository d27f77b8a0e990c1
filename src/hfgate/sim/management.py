"""Hugging Face's Inference Endpoints management API (``/v2``), wired to the served endpoint.

Routes (``Authorization: Bearer``; JSON; record shapes in ``records.py``):

* ``GET /v2/endpoint/{ns}`` → ``{"items": [record, …]}``; ``GET|PUT|DELETE
  /v2/endpoint/{ns}/{name}`` → the record (PUT deep-merges a partial record; DELETE answers the
  record it removed); ``POST /v2/endpoint/{ns}/{name}/pause|resume|scale-to-zero`` → the record
  after the change; ``GET /v2/provider/{ns}`` → the price list (``records.providers``).
* Refusals, in order: ``management_down`` → 503 HTML; ``management_error`` → that status with
  ``{"error"}``; no or unknown bearer → 401 ``{"error": "Unauthorized"}``; a known token without
  the manage scope (the endpoint's ``token`` when ``management_tokens`` leaves it out, or one in
  ``forbidden_tokens``) → 403 ``{"error": "missing permissions: inference.endpoints.write"}``;
  a namespace that is neither the user nor one of its orgs → 401 (huggingface_hub's
  ``list_inference_endpoints("*")`` skips orgs answering 401: "no billing or no access");
  unknown endpoint → 404 ``{"error"}``; resume of a running endpoint → 400 ``{"error":
  "Bad Request: endpoint is already running"}`` (huggingface_hub looks for "already
  running"); scale-to-zero of a paused one → 400. ``POST /v2/endpoint/{ns}`` (create) → 405.

The served endpoint's ``status.state`` is never stored: every answer reads the proxy's lifecycle
(``Runtime.lifecycle``), so a wake-up by traffic, an idle timeout or ``PATCH /_sim/state`` show
at once. Pause and scale-to-zero set the lifecycle; resume starts it ``management_pending_seconds``
in the future, so the proxy answers cold for pending + ``cold_start`` and the record reads
``pending`` while more than ``cold_start`` is left, then ``initializing``, then ``running``.
PUTs land in ``management_overrides`` and a DELETE in ``management_deleted`` (so ``PATCH
/_sim/state`` resets them like any knob); the proxy keeps serving a deleted endpoint.

Admin (no auth, not counted): ``GET /_sim/endpoints`` → every record with its ``namespace``;
``POST /_sim/endpoints`` with a partial record (``name`` required, ``namespace`` optional) adds
or replaces a static record (``management_endpoints``) → 201 the full record, 409 for the served
endpoint's name; ``DELETE /_sim/endpoints/{name}?namespace=`` removes one, the served one
included (deleted on HF's side), 404 if unknown.
"""

from __future__ import annotations

import copy
import http
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hfgate.sim import records
from hfgate.sim.config import ConfigError, SimConfig
from hfgate.sim.http import json_response
from hfgate.sim.proxy import bearer
from hfgate.sim.state import Runtime, Stats

Role = Literal["manage", "infer", "none"]
Handler = Callable[[Request], Awaitable[Response]]
Record = dict[str, Any]

UNAUTHORIZED = {"error": "Unauthorized"}
FORBIDDEN = {"error": "missing permissions: inference.endpoints.write"}
ALREADY_RUNNING = "Bad Request: endpoint is already running"
PAUSED = "Bad Request: endpoint is paused, resume it first"
DOWN = (
    "<html><head><title>503 Service Temporarily Unavailable</title></head><body><center>"
    "<h1>503 Service Temporarily Unavailable</h1></center></body></html>"
)
ACTION_STATES = {"pause": "paused", "resume": "running", "scale-to-zero": "scaledToZero"}
_RESTATED = ("message", "readyReplica", "targetReplica", "errorMessage")


class ManagementStats(Stats):
    """``Stats`` plus ``management``: calls per route template, never counted as ``requests``."""

    def reset(self) -> None:
        super().reset()
        self.management: Counter[str] = Counter()

    def snapshot(self) -> dict[str, Any]:
        return {**super().snapshot(), "management": dict(self.management)}


def count(runtime: Runtime, key: str) -> None:
    if isinstance(runtime.stats, ManagementStats):
        runtime.stats.management[key] += 1


def token_role(config: SimConfig, token: str | None) -> Role | None:
    """What a bearer may do: manage, only infer, nothing (a valid token); None if unknown."""
    if token is None:
        return None
    if token in config.forbidden_tokens:
        return "none"
    managers = config.management_tokens
    if managers is None:
        managers = [config.token] if config.token is not None else [token]
    if token in managers:
        return "manage"
    return "infer" if token == config.token else None


def orgs(config: SimConfig) -> list[str]:
    if config.management_orgs is not None:
        return config.management_orgs
    return [config.management_namespace]


def _url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def _json_object(request: Request) -> dict[str, Any] | Response:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        return json_response({"error": f"invalid JSON body: {exc}"}, 400)
    if not isinstance(body, dict):
        return json_response({"error": "expected a JSON object"}, 400)
    return body


class Management:
    """Every endpoint record the sim knows; the served one is read from the runtime each time."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.created = self.updated = datetime.now(UTC)

    @property
    def config(self) -> SimConfig:
        return self.runtime.config

    # -- reading -----------------------------------------------------------------------------

    def phase(self) -> str:
        """The proxy's lifecycle state, or ``pending`` while a resume waits to be scheduled."""
        lifecycle = self.runtime.lifecycle
        state = lifecycle.current()
        left = lifecycle.ready_in()
        if state == "initializing" and left is not None and left > self.config.cold_start:
            return "pending"
        return state

    def is_served(self, namespace: str, name: str) -> bool:
        config = self.config
        return (
            not config.management_deleted
            and namespace == config.management_namespace
            and name == records.endpoint_name(config)
        )

    def _extras(self, namespace: str) -> list[dict[str, Any]]:
        home = self.config.management_namespace
        extras = self.config.management_endpoints
        return [p for p in extras if p.get("namespace", home) == namespace]

    def listing(self, namespace: str, url: str) -> list[Record]:
        config = self.config
        items = []
        if namespace == config.management_namespace and not config.management_deleted:
            times = (self.created, self.updated)
            items.append(records.served_record(config, self.phase(), url, times))
        for partial in self._extras(namespace):
            items.append(records.static_record(partial, config, self.created))
        return items

    def find(self, namespace: str, name: str, url: str) -> Record | None:
        return next((r for r in self.listing(namespace, url) if r["name"] == name), None)

    def namespaces(self) -> list[str]:
        home = self.config.management_namespace
        seen = [home, *(p.get("namespace", home) for p in self.config.management_endpoints)]
        return list(dict.fromkeys(seen))

    def used(self, namespace: str, url: str) -> Counter[str]:
        """Accelerators per compute id: paused and failed endpoints hold none (HF's quota)."""
        used: Counter[str] = Counter()
        for record in self.listing(namespace, url):
            if record["status"]["state"] in ("paused", "failed"):
                continue
            compute, provider = record["compute"], record["provider"]
            size = str(compute["instanceSize"])
            ident = records.compute_id(
                provider["vendor"], provider["region"], compute["instanceType"], size
            )
            used[ident] += records.accelerators(size)
        return used

    # -- changing ----------------------------------------------------------------------------

    def act(self, action: str, namespace: str, name: str) -> str | None:
        """pause | resume | scale-to-zero; the error of a 400, or None once done."""
        if self.is_served(namespace, name):
            error = self._act_served(action)
        else:
            error = self._act_static(action, namespace, name)
        if error is None:
            self.updated = datetime.now(UTC)
        return error

    def _act_served(self, action: str) -> str | None:
        phase, lifecycle = self.phase(), self.runtime.lifecycle
        if action == "pause":
            lifecycle.set("paused")
        elif action == "scale-to-zero":
            if phase == "paused":
                return PAUSED
            if phase != "scaled_to_zero":
                lifecycle.set("scaled_to_zero")
        elif phase == "running":
            return ALREADY_RUNNING
        elif phase in ("paused", "scaled_to_zero"):
            self._start()
        return None

    def _start(self) -> None:
        lifecycle = self.runtime.lifecycle
        lifecycle.set("initializing")
        # Lifecycle has no delayed start (state.py): moving its wake-up start past the pending
        # phase makes the proxy's own timer run pending + cold_start, and keeps "pending"
        # derivable from ready_in() instead of stored beside it.
        lifecycle._wake_started += self.config.management_pending_seconds

    def _act_static(self, action: str, namespace: str, name: str) -> str | None:
        record = self.find(namespace, name, "")
        state = record["status"]["state"] if record is not None else None
        if action == "resume" and state == "running":
            return ALREADY_RUNNING
        if action == "scale-to-zero" and state == "paused":
            return PAUSED
        self._edit_static(namespace, name, lambda p: _restate(p, ACTION_STATES[action]))
        return None

    def update(self, namespace: str, name: str, body: Mapping[str, Any]) -> None:
        # The name and the status are HF's to set, not the caller's.
        change = {k: v for k, v in body.items() if k not in ("name", "status", "namespace")}
        if self.is_served(namespace, name):
            merged = records.merge(self.config.management_overrides, change)
            self.runtime.patch({"management_overrides": merged})
        else:
            self._edit_static(namespace, name, lambda p: records.merge(p, change))
        self.updated = datetime.now(UTC)

    def delete(self, namespace: str, name: str) -> None:
        if self.is_served(namespace, name):
            self.runtime.patch({"management_deleted": True})
        else:
            self._edit_static(namespace, name, lambda p: None)

    def _edit_static(
        self, namespace: str, name: str, edit: Callable[[dict[str, Any]], dict[str, Any] | None]
    ) -> None:
        home = self.config.management_namespace
        fresh = []
        for partial in copy.deepcopy(self.config.management_endpoints):
            if (partial.get("namespace", home), partial["name"]) == (namespace, name):
                edited = edit(partial)
                if edited is not None:
                    fresh.append(edited)
            else:
                fresh.append(partial)
        self.runtime.patch({"management_endpoints": fresh})

    def add(self, partial: dict[str, Any]) -> Record | str:
        """Add or replace a static record; the error text when it cannot be added."""
        config = self.config
        partial.setdefault("namespace", config.management_namespace)
        namespace, name = partial["namespace"], partial.get("name")
        if isinstance(name, str) and self.is_served(namespace, name):
            return f"{name} is the served endpoint's name in {namespace}"
        home = config.management_namespace
        kept = [
            p
            for p in config.management_endpoints
            if (p.get("namespace", home), p["name"]) != (namespace, name)
        ]
        self.runtime.patch({"management_endpoints": [*kept, partial]})
        return records.static_record(partial, self.config, self.created)


def _restate(partial: dict[str, Any], state: str) -> dict[str, Any]:
    """A static record moved to ``state``: what followed from the old state goes with it."""
    status = partial.get("status")
    status = {k: v for k, v in status.items() if k not in _RESTATED} if status else {}
    if status.get("url", "") is None:
        del status["url"]
    return {**partial, "status": {**status, "state": state}}


class Api:
    """The ``/v2`` routes: refusals first, then ``Management``."""

    def __init__(self, management: Management) -> None:
        self.management = management
        self.runtime = management.runtime

    def guard(self, template: str, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            count(self.runtime, f"{request.method} {template}")
            refused = self._refuse(request)
            return refused if refused is not None else await handler(request)

        return endpoint

    def _refuse(self, request: Request) -> Response | None:
        config = self.runtime.config
        if config.management_down:
            return Response(DOWN, 503, media_type="text/html")
        if config.management_error is not None:
            phrase = http.HTTPStatus(config.management_error).phrase
            return json_response({"error": phrase}, config.management_error)
        role = token_role(config, bearer(dict(request.scope["headers"])))
        if role is None:
            return json_response(UNAUTHORIZED, 401)
        if role != "manage":
            return json_response(FORBIDDEN, 403)
        namespace = request.path_params.get("namespace")
        if namespace is not None and namespace not in [config.management_user, *orgs(config)]:
            return json_response(UNAUTHORIZED, 401)
        return None

    def _target(self, request: Request) -> tuple[str, str] | Response:
        namespace, name = request.path_params["namespace"], request.path_params["name"]
        if self.management.find(namespace, name, _url(request)) is None:
            return json_response({"error": f"Endpoint {namespace}/{name} not found"}, 404)
        return namespace, name

    async def list_endpoints(self, request: Request) -> Response:
        items = self.management.listing(request.path_params["namespace"], _url(request))
        return json_response({"items": items})

    async def create(self, request: Request) -> Response:
        return json_response({"error": "creating endpoints is not simulated"}, 405)

    async def get(self, request: Request) -> Response:
        target = self._target(request)
        if isinstance(target, Response):
            return target
        return json_response(self.management.find(*target, _url(request)))

    async def put(self, request: Request) -> Response:
        target = self._target(request)
        if isinstance(target, Response):
            return target
        body = await _json_object(request)
        if isinstance(body, Response):
            return body
        try:
            self.management.update(*target, body)
        except ConfigError as exc:
            return json_response({"error": str(exc)}, 400)
        return json_response(self.management.find(*target, _url(request)))

    async def delete(self, request: Request) -> Response:
        target = self._target(request)
        if isinstance(target, Response):
            return target
        record = self.management.find(*target, _url(request))
        self.management.delete(*target)
        return json_response(record)

    def action(self, action: str) -> Handler:
        async def run(request: Request) -> Response:
            target = self._target(request)
            if isinstance(target, Response):
                return target
            error = self.management.act(action, *target)
            if error is not None:
                return json_response({"error": error}, 400)
            return json_response(self.management.find(*target, _url(request)))

        return run

    async def providers(self, request: Request) -> Response:
        used = self.management.used(request.path_params["namespace"], _url(request))
        return json_response(records.providers(self.runtime.config, used))

    async def unknown(self, request: Request) -> Response:
        count(self.runtime, f"{request.method} {request.url.path}")
        return json_response({"error": "Not Found"}, 404)

    def routes(self) -> list[Route]:
        one = "/v2/endpoint/{namespace}/{name}"
        table: list[tuple[str, str, Handler]] = [
            ("GET", "/v2/endpoint/{namespace}", self.list_endpoints),
            ("POST", "/v2/endpoint/{namespace}", self.create),
            ("GET", one, self.get),
            ("PUT", one, self.put),
            ("DELETE", one, self.delete),
            *(("POST", f"{one}/{a}", self.action(a)) for a in ACTION_STATES),
            ("GET", "/v2/provider/{namespace}", self.providers),
        ]
        routes = [Route(path, self.guard(path, h), methods=[m]) for m, path, h in table]
        anything = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        return [*routes, Route("/v2/{rest:path}", self.unknown, methods=anything)]


def sim_endpoint_routes(management: Management) -> list[Route]:
    """``/_sim/endpoints``: the static records beside the served endpoint (no auth, no counts)."""

    async def listing(request: Request) -> Response:
        url = _url(request)
        items = [
            {"namespace": namespace, **record}
            for namespace in management.namespaces()
            for record in management.listing(namespace, url)
        ]
        return json_response({"items": items})

    async def add(request: Request) -> Response:
        body = await _json_object(request)
        if isinstance(body, Response):
            return body
        try:
            added = management.add(body)
        except ConfigError as exc:
            return json_response({"error": str(exc)}, 400)
        if isinstance(added, str):
            return json_response({"error": added}, 409)
        return json_response(added, 201)

    async def remove(request: Request) -> Response:
        name = request.path_params["name"]
        namespace = request.query_params.get("namespace", management.config.management_namespace)
        if management.find(namespace, name, "") is None:
            return json_response({"error": f"no endpoint {namespace}/{name}"}, 404)
        management.delete(namespace, name)
        return json_response({"deleted": name, "namespace": namespace})

    return [
        Route("/_sim/endpoints", listing, methods=["GET"]),
        Route("/_sim/endpoints", add, methods=["POST"]),
        Route("/_sim/endpoints/{name}", remove, methods=["DELETE"]),
    ]


def management_routes(runtime: Runtime) -> list[Route]:
    management = Management(runtime)
    return [*sim_endpoint_routes(management), *Api(management).routes()]
