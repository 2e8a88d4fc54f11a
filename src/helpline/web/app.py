"""The FastAPI application: routers, error handlers, static files and metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from helpline import __version__
from helpline.bootstrap import Container, build_container
from helpline.config import Settings
from helpline.gc_tuning import freeze_long_lived
from helpline.logs import configure_logging
from helpline.storage.db import open_pool
from helpline.web import errors
from helpline.web.cors import WidgetCORS
from helpline.web.metrics import HttpMetrics
from helpline.web.routes import (
    attachments,
    auth,
    channels,
    console,
    console_bot,
    console_channels,
    contacts,
    conversations,
    events,
    system,
    users,
    widget,
)
from helpline.web.templating import STATIC

SWAGGER = "/static/vendor/swagger-ui-5.35.0"


def create_app(container: Container, *, own_container: bool = True, server_process: bool = False) -> FastAPI:
    """Build the app around `container`; with `own_container` the app disposes it on shutdown.

    ``server_process``: the app is the whole process (``helpline serve``), so once started it
    exempts the start-up heap from garbage collection (see ``gc_tuning``); tests that build
    many apps in one process leave it off.
    """

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await container.bus.start()
        await open_pool(container.engine)
        stop = asyncio.Event()
        worker = None
        if container.settings.worker_in_web and own_container:
            worker = asyncio.create_task(container.delivery_worker().run(stop), name="delivery-worker")
        if server_process:
            freeze_long_lived()
        yield
        stop.set()
        if worker is not None:
            await worker
        if own_container:
            await container.close()

    app = FastAPI(
        title="Helpline",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # served below from vendored files: no CDN, works offline
        redoc_url=None,
        description="Omnichannel contact center: REST API v1. Authenticate with a Bearer API token "
        "(create one under /api/v1/me/tokens) or a console session.",
    )
    app.state.container = container
    errors.install(app)
    for router in (
        # Providers' webhooks first: the hottest route should not be matched against all others.
        channels.webhooks,
        system.router,
        auth.router,
        contacts.router,
        conversations.router,
        users.admin,
        users.me,
        events.router,
        widget.router,
        console.router,
        console_channels.router,
        console_bot.router,
        attachments.router,
        channels.admin,
    ):
        app.include_router(router)
    install_docs(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> RedirectResponse:
        """Browsers ask for it on every page that names no icon (a JSON URL, the API docs)."""
        return RedirectResponse("/static/helpline.svg", status_code=301)

    app.add_middleware(WidgetCORS, origins=container.settings.widget_origins)
    app.add_middleware(HttpMetrics, registry=container.metrics)
    return app


def install_docs(app: FastAPI) -> None:
    """Interactive API docs from vendored Swagger UI (a self-hosted product must not need a CDN)."""

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Helpline API v1",
            swagger_js_url=f"{SWAGGER}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER}/favicon-32x32.png",
        )


def app_from_env() -> FastAPI:
    """The app of one of several `helpline serve` processes (uvicorn's factory for --workers)."""
    settings = Settings.from_env()
    configure_logging(json=settings.log_json)
    return create_app(build_container(settings), server_process=True)
