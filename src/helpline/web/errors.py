"""Domain errors as HTTP answers, shaped like FastAPI's own 422s so clients parse one format."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from helpline.domain.contacts import Language
from helpline.domain.errors import Conflict, DomainError, NotFound, PermissionDenied
from helpline.web.i18n import browser_language, language_of, text_direction, translations
from helpline.web.security import CSRF_REFUSED, authenticate

#: What a console page says of a request whose values make no sense (an address edited by hand).
NOT_VALID = "This request is not valid: check the link, or the form's values."

_STATUS: list[tuple[type[DomainError], int]] = [(NotFound, 404), (Conflict, 409), (PermissionDenied, 403)]


def status_for(exc: DomainError) -> int:
    return next((code for kind, code in _STATUS if isinstance(exc, kind)), 422)


def _console_page(request: Request) -> bool:
    """A person's browser on a console page: an error is a page for them, not JSON."""
    return request.url.path.startswith("/console") and "text/html" in request.headers.get("accept", "")


async def _reader_language(request: Request) -> Language:
    """The signed-in reader's console language; else the browser's, for a page shown before (or
    without) knowing who reads it. An address no route serves has not asked who is signed in:
    it is asked here, so a mistyped address reads in the console's language too."""
    principal = await authenticate(request)
    if principal is not None:
        return language_of(principal.user.ui_language)
    return browser_language(request.headers.get("accept-language", "")) or Language.EN


async def _error_page(
    request: Request, status_code: int, reason: str | DomainError | None, title: str | None = None
) -> HTMLResponse:
    from helpline.web.labels import problem_teller
    from helpline.web.templating import templates

    language = await _reader_language(request)
    gettext = translations(language).gettext
    titles = {404: "This page does not exist", 403: "Your role does not open this page"}
    title = gettext(title or titles.get(status_code, "This request cannot be done"))
    shown = problem_teller(gettext)(reason) if isinstance(reason, DomainError) else reason and gettext(reason)
    context = {"_": gettext, "lang": language.value, "dir": text_direction(language), "title": title}
    return templates.TemplateResponse(
        request, "console_error_page.html", {**context, "reason": shown}, status_code=status_code
    )


def _customers_language(request: Request) -> Language | None:
    """The language a web chat widget asked its refusals in (its page's): customers read them."""
    if not request.url.path.startswith("/widget/"):
        return None
    return browser_language(request.headers.get("accept-language", ""))


async def domain_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    if _console_page(request):
        return await _error_page(request, status_for(exc), exc)
    message, headers = exc.reason, None
    if (language := _customers_language(request)) is not None:
        from helpline.web.labels import problem_teller

        message = problem_teller(translations(language).gettext)(exc)
        headers = {"Content-Language": language.value}
    detail = [
        {
            "loc": ["body", exc.field] if exc.field else ["body"],
            "msg": message,
            "type": type(exc).__name__.lower(),
        }
    ]
    return JSONResponse({"detail": detail}, status_code=status_for(exc), headers=headers)


async def validation_error_handler(request: Request, exc: Exception) -> Response:
    """FastAPI's own 422 without the values that failed: its default echoes each one back, so a
    bad password or token would be repeated in the answer (and logged by whatever proxies it),
    and half a surrogate pair could not even be encoded (the answer became a 500)."""
    assert isinstance(exc, RequestValidationError)
    if _console_page(request):  # a hand-edited address: /console/admin/flows/versions/abc
        return await _error_page(request, 422, NOT_VALID)
    detail = [
        {"loc": list(error.get("loc", ())), "msg": str(error.get("msg", "")), "type": error.get("type", "")}
        for error in exc.errors()
    ]
    return JSONResponse({"detail": jsonable_encoder(detail)}, status_code=422)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own errors; a console page that does not exist is a page, the rest as before."""
    assert isinstance(exc, StarletteHTTPException)
    if _console_page(request) and exc.status_code == 401:
        # Signed out, or the session expired, also while a form was open: sign in again.
        return RedirectResponse("/login", status_code=303)
    if _console_page(request) and exc.detail == CSRF_REFUSED:
        return await _error_page(request, 403, None, "The form has expired: reload the page and try again")
    if _console_page(request) and exc.status_code in (400, 422):  # a filter in a hand-edited address
        return await _error_page(request, 422, NOT_VALID)
    if _console_page(request) and exc.status_code in (403, 404, 405):
        return await _error_page(request, 404 if exc.status_code == 405 else exc.status_code, None)
    return await http_exception_handler(request, exc)


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, domain_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
