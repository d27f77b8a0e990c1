"""``/_sim/*``: read and change the simulator while it runs (never behind auth or the proxy).

* ``GET /_sim/state`` — every ``SimConfig`` field, with ``state`` being the current lifecycle
  state, plus ``ready_in`` (seconds until an initializing endpoint runs) and ``in_flight``;
* ``PATCH /_sim/state`` — a JSON object of ``SimConfig`` fields to change (``state`` moves the
  lifecycle: ``initializing`` starts a ``cold_start`` timer); answers like ``GET``; 400 with
  ``{"error": …}`` for an unknown field or a bad value, and nothing changes;
* ``GET /_sim/stats`` — counters since start or the last reset (see ``Stats.snapshot``);
* ``POST /_sim/reset`` — zero the counters (the config and the state are kept).
"""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hfgate.sim.config import ConfigError
from hfgate.sim.http import json_response
from hfgate.sim.state import Runtime


def admin_routes(runtime: Runtime) -> list[Route]:
    async def state(request: Request) -> Response:
        if request.method == "PATCH":
            try:
                changes = orjson.loads(await request.body())
                if not isinstance(changes, dict):
                    raise ConfigError("expected a JSON object of SimConfig fields")
                runtime.patch(changes)
            except (ConfigError, orjson.JSONDecodeError) as exc:
                return json_response({"error": str(exc)}, 400)
        return json_response(runtime.describe())

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
