"""``/_sim/*``: read and change the simulator while it runs (never behind auth or the proxy).

* ``GET /_sim/state`` — every ``SimConfig`` field, with ``state`` being the current lifecycle
  state, plus ``ready_in`` (seconds until an initializing endpoint runs) and ``in_flight``;
* ``PATCH /_sim/state`` — a JSON object of ``SimConfig`` fields to change (``state`` moves the
  lifecycle: ``initializing`` starts a ``cold_start`` timer); answers like ``GET``; 400 with
  ``{"error": …}`` for an unknown field or a bad value, and nothing changes;
* ``GET /_sim/stats`` — counters since start or the last reset (see ``Stats.snapshot``);
* ``POST /_sim/reset`` — zero the counters (the config and the state are kept).

The state holds the endpoint's tokens, and these routes answer anyone who can reach the port
(every account on the machine, for the demo). So ``token``, ``management_tokens`` and
``forbidden_tokens`` are shown only to a request carrying ``Authorization: Bearer <token>`` (the
endpoint's token, or a management token): whoever holds one already knows them. Everyone else
sees ``"hf_…redacted"``.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hfgate.sim.config import ConfigError, SimConfig
from hfgate.sim.http import json_response
from hfgate.sim.proxy import bearer
from hfgate.sim.state import Runtime

SECRET_FIELDS = ("token", "management_tokens", "forbidden_tokens")


def _unlocks(config: SimConfig, request: Request) -> bool:
    """Whether the request carries one of the sim's own tokens (any of them shows them all)."""
    sent = bearer(dict(request.scope["headers"]))
    keys = {config.token, *(config.management_tokens or ())} - {None}
    return sent is not None and sent in keys


def _redact(value: Any) -> Any:
    if isinstance(value, list):
        return [_redact(item) for item in value]
    if isinstance(value, str):
        return "hf_…redacted" if value.startswith("hf_") else "…redacted"
    return value


def _shown(state: dict[str, Any], unlocked: bool) -> dict[str, Any]:
    if unlocked:
        return state
    return state | {name: _redact(state[name]) for name in SECRET_FIELDS if name in state}


def admin_routes(runtime: Runtime) -> list[Route]:
    async def state(request: Request) -> Response:
        unlocked = _unlocks(runtime.config, request)  # as configured before this PATCH
        if request.method == "PATCH":
            try:
                changes = orjson.loads(await request.body())
                if not isinstance(changes, dict):
                    raise ConfigError("expected a JSON object of SimConfig fields")
                runtime.patch(changes)
            except (ConfigError, orjson.JSONDecodeError) as exc:
                return json_response({"error": str(exc)}, 400)
        return json_response(_shown(runtime.describe(), unlocked))

    async def stats(request: Request) -> Response:
        return json_response(runtime.stats.snapshot())

    async def reset(request: Request) -> Response:
        runtime.stats.reset()
        return json_response(runtime.stats.snapshot())

    return [
        Route("/_sim/state", state, methods=["GET", "PATCH"]),
        Route("/_sim/stats", stats, methods=["GET"]),
        Route("/_sim/reset", reset, methods=["POST"]),
    ]
