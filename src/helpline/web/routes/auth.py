"""Signing in and out: the console's login form and the JSON login for API clients.

Both are rate-limited per client address and per account, and both set the same
HttpOnly, SameSite session cookie.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse

from helpline.logs import get_logger
from helpline.services.auth import NewSession, authenticate_password, do_end_session, do_start_session
from helpline.web import schemas
from helpline.web.deps import container
from helpline.web.security import LOGIN_CSRF_COOKIE, SESSION_COOKIE, Principal, authenticate, require_agent
from helpline.web.templating import templates

router = APIRouter(tags=["auth"])
log = get_logger(__name__)
Agent = Annotated[Principal, Depends(require_agent)]


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _login(request: Request, email: str, password: str) -> NewSession:
    c = container(request)
    keys = (f"ip:{_client(request)}", f"account:{email.strip().lower()}")
    wait = max([await c.login_limiter.retry_after(k) for k in keys])
    if wait > 0:
        log.warning("login.throttled", email=email, client=_client(request))
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many failed logins; try again later",
            headers={"Retry-After": str(int(wait) + 1)},
        )
    async with c.uow() as uow:
        user = await authenticate_password(uow, email, password)
        if user is None:
            for key in keys:
                await c.login_limiter.hit(key)
            log.info("login.failed", email=email, client=_client(request))
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong e-mail or password")
        new = await do_start_session(uow, user, timedelta(hours=c.settings.session_hours))
        await uow.commit()
    await c.login_limiter.reset(keys[1])
    log.info("login.ok", user_id=new.user.id, client=_client(request))
    return new


def _set_session_cookie(request: Request, response: Response, token: str) -> None:
    c = container(request)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=c.settings.session_hours * 3600,
        httponly=True,
        secure=c.settings.cookie_secure,
        samesite="lax",
        path="/",
    )


@router.post("/api/v1/auth/login")
async def api_login(body: schemas.LoginIn, request: Request, response: Response) -> schemas.LoginOut:
    """Start a console session from JSON; the answer carries the CSRF token for later changes."""
    new = await _login(request, body.email, body.password)
    _set_session_cookie(request, response, new.token)
    return schemas.LoginOut(user_id=new.user.id, role=new.user.role, csrf_token=new.csrf_token)


@router.post("/api/v1/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
async def api_logout(request: Request, principal: Agent) -> Response:
    return await _end_session(request, Response(status_code=status.HTTP_204_NO_CONTENT))


async def _end_session(request: Request, response: Response) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        async with container(request).uow() as uow:
            await do_end_session(uow, token)
            await uow.commit()
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
async def login_page(request: Request, error: str | None = None) -> Response:
    """The form carries a one-time token that must match a cookie (double submit), against login CSRF."""
    csrf = secrets.token_urlsafe(24)
    response = templates.TemplateResponse(request, "login.html", {"csrf_token": csrf, "error": error})
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        csrf,
        max_age=3600,
        httponly=True,
        secure=container(request).settings.cookie_secure,
        samesite="strict",
        path="/login",
    )
    return response


@router.post("/login", include_in_schema=False)
async def login_form(
    request: Request,
    email: Annotated[str, Form(max_length=255)],
    password: Annotated[str, Form(max_length=256)],
    csrf_token: Annotated[str, Form(max_length=100)],
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not expected or not secrets.compare_digest(expected, csrf_token):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the login form expired; reload the page")
    try:
        new = await _login(request, email, password)
    except HTTPException as exc:
        if exc.status_code != status.HTTP_401_UNAUTHORIZED:
            raise
        return RedirectResponse("/login?error=1", status_code=status.HTTP_303_SEE_OTHER)
    response = RedirectResponse("/", status_code=status.HTTP_303_SEE_OTHER)
    _set_session_cookie(request, response, new.token)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout", include_in_schema=False)
async def logout_form(request: Request, principal: Agent) -> Response:
    return await _end_session(request, RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER))


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def home(request: Request) -> Response:
    principal = await authenticate(request)
    target = "/login" if principal is None else "/console"
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
