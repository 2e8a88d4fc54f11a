"""Operations endpoints: liveness/readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from helpline.web.deps import container

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz(request: Request) -> Response:
    """200 when the database answers; 503 otherwise, so a load balancer stops sending traffic here."""
    try:
        async with container(request).engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any database failure means "not ready"
        return JSONResponse({"status": "unavailable", "database": type(exc).__name__}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(generate_latest(container(request).metrics), media_type=CONTENT_TYPE_LATEST)
