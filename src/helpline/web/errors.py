"""Domain errors as HTTP answers, shaped like FastAPI's own 422s so clients parse one format."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from helpline.domain.errors import Conflict, DomainError, NotFound, PermissionDenied

_STATUS: list[tuple[type[DomainError], int]] = [(NotFound, 404), (Conflict, 409), (PermissionDenied, 403)]


def status_for(exc: DomainError) -> int:
    return next((code for kind, code in _STATUS if isinstance(exc, kind)), 422)


async def domain_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    detail = [
        {
            "loc": ["body", exc.field] if exc.field else ["body"],
            "msg": exc.reason,
            "type": type(exc).__name__.lower(),
        }
    ]
    return JSONResponse({"detail": detail}, status_code=status_for(exc))


async def validation_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own 422 without the values that failed: its default echoes each one back, so a
    bad password or token would be repeated in the answer (and logged by whatever proxies it),
    and half a surrogate pair could not even be encoded (the answer became a 500)."""
    assert isinstance(exc, RequestValidationError)
    detail = [
        {"loc": list(error.get("loc", ())), "msg": str(error.get("msg", "")), "type": error.get("type", "")}
        for error in exc.errors()
    ]
    return JSONResponse({"detail": jsonable_encoder(detail)}, status_code=422)


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, domain_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
