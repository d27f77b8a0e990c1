"""``create_app``: the admin routes, the Hub, the management API and the proxied container."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Mount

from hfgate.sim.admin import admin_routes
from hfgate.sim.config import SimConfig
from hfgate.sim.engines import EngineRouter
from hfgate.sim.hub import hub_routes
from hfgate.sim.management import ManagementStats, management_routes
from hfgate.sim.proxy import Proxy
from hfgate.sim.sse import silence_drops
from hfgate.sim.state import Runtime


def create_app(config: SimConfig | None = None) -> Starlette:
    """A simulated Inference Endpoint; ``app.state.sim`` is its ``Runtime``."""
    runtime = Runtime(config if config is not None else SimConfig())
    runtime.stats = ManagementStats()  # /_sim/stats also counts the management API's calls
    silence_drops()
    endpoint = Proxy(runtime, EngineRouter(runtime))
    routes = [*admin_routes(runtime), *hub_routes(runtime), *management_routes(runtime)]
    app = Starlette(routes=[*routes, Mount("", app=endpoint)])
    app.state.sim = runtime
    return app
