"""The FastAPI application: routers, error handlers, static files and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from helpline import __version__
from helpline.bootstrap import Container
from helpline.web import errors
from helpline.web.metrics import HttpMetrics
from helpline.web.routes import auth, contacts, conversations, events, system, users
from helpline.web.templating import STATIC


def create_app(container: Container, *, own_container: bool = True) -> FastAPI:
    """Build the app around `container`; with `own_container` the app disposes it on shutdown."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if own_container:
            await container.close()

    app = FastAPI(
        title="Helpline",
        version=__version__,
        lifespan=lifespan,
        description="Omnichannel contact center: REST API v1. Authenticate with a Bearer API token "
        "(create one under /api/v1/me/tokens) or a console session.",
    )
    app.state.container = container
    errors.install(app)
    for router in (
        system.router,
        auth.router,
        contacts.router,
        conversations.router,
        users.admin,
        users.me,
        events.router,
    ):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(HttpMetrics, registry=container.metrics)
    return app
