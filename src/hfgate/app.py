"""The ASGI application: services in; the API, the workspace and the error boundary on top."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from hfgate import __version__, shutdown
from hfgate.api import errors
from hfgate.api.fastlane import Gateway
from hfgate.api.limits import BodySizeLimit
from hfgate.api.routes import (
    budgets,
    conversations,
    costs,
    embeddings,
    health,
    hf,
    integrations,
    models,
    openai,
    people,
    tgi,
    usage,
)
from hfgate.api.routes import (
    settings as server_settings,
)
from hfgate.services import Services
from hfgate.settings import Settings
from hfgate.web import routes as web


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    svc = Services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await svc.start()
        shutdown.install_drain(settings.drain_seconds)
        try:
            yield
        finally:
            await svc.close()

    app = Gateway(
        max_body_bytes=settings.max_body_bytes,
        title="hfgate",
        version=__version__,
        summary="A gateway and workspace for Hugging Face Inference Endpoints",
        lifespan=lifespan,
    )
    app.state.services = svc
    errors.install(app, not_found_page=web.not_found_page)
    routers = (
        health, models, openai, embeddings, integrations, hf, people, budgets, usage, costs,
        tgi, conversations, server_settings,
    )  # fmt: skip
    for module in (*routers, web):
        app.include_router(module.router)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # The generation routes, by far the most called, skip FastAPI's per-request machinery.
    app.fast_lane(
        openai.chat_completions,
        openai.completions,
        embeddings.embeddings,
        embeddings.rerank,
        tgi.tgi_post,
    )
    return app
