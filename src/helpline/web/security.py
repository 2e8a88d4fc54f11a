"""Who is calling, and may they: every route and websocket declares the least role it needs.

A route is reachable only through `RequireRole` or by being listed in `PUBLIC_ROUTES`; the
route-walk test fails for any route that is neither, so a new route cannot slip past.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Final

from fastapi import HTTPException, status
from starlette.requests import HTTPConnection, Request

from helpline.domain.access import Viewer
from helpline.domain.users import Role
from helpline.services.auth import session_user, token_user
from helpline.services.users import user_team_ids
from helpline.services.webchat import visitor_by_token
from helpline.storage.models import User, WebchatVisitor
from helpline.web.deps import container

SESSION_COOKIE: Final = "helpline_session"
LOGIN_CSRF_COOKIE: Final = "helpline_login_csrf"
CSRF_HEADER: Final = "x-csrf-token"
CSRF_FIELD: Final = "csrf_token"
VISITOR_HEADER: Final = "x-visitor-token"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})

#: (method, path) pairs anyone may call. Everything else needs a role.
PUBLIC_ROUTES: Final = frozenset(
    {
        ("GET", "/healthz"),
        ("GET", "/favicon.ico"),
        # Providers' webhooks: authenticated by the provider's signature or secret instead.
        ("POST", "/webhooks/{channel}/{account_id}"),
        ("GET", "/webhooks/{channel}/{account_id}"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/login"),
        ("POST", "/login"),
        ("POST", "/api/v1/auth/login"),
        ("GET", "/"),
        ("POST", "/widget/v1/session"),
        ("GET", "/widget.js"),
        ("GET", "/widget/demo"),
    }
)


@dataclass(frozen=True, slots=True)
class Principal:
    user: User
    viewer: Viewer
    via_session: bool
    csrf_token: str | None

    @property
    def role(self) -> Role:
        return self.viewer.role


def _bearer(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


async def authenticate(conn: HTTPConnection) -> Principal | None:
    """The caller from an API token (Authorization: Bearer) or a console session cookie."""
    cached: Principal | None = getattr(conn.state, "principal", None)
    if cached is not None:
        return cached
    token = _bearer(conn)
    cookie = conn.cookies.get(SESSION_COOKIE)
    if token is None and cookie is None:
        return None
    async with container(conn).uow() as uow:
        principal: Principal | None = None
        if token is not None:
            user = await token_user(uow, token)
            if user is not None:
                principal = Principal(
                    user,
                    Viewer(user.id, Role(user.role), await user_team_ids(uow, user.id)),
                    via_session=False,
                    csrf_token=None,
                )
        elif cookie is not None:
            found = await session_user(uow, cookie)
            if found is not None:
                user, session = found
                principal = Principal(
                    user,
                    Viewer(user.id, Role(user.role), await user_team_ids(uow, user.id)),
                    via_session=True,
                    csrf_token=session.csrf_token,
                )
        await uow.commit()
    conn.state.principal = principal
    return principal


#: The refusal of a change without the session's CSRF token (in a browser: a form left open
#: across a new sign-in, or a forged request).
CSRF_REFUSED = "missing or wrong CSRF token"


async def _check_csrf(conn: HTTPConnection, principal: Principal) -> None:
    """Cookie-authenticated changes must echo the session's CSRF token (header or form field).

    Bearer tokens are not sent by browsers on their own, so token calls need no CSRF check.
    """
    if not principal.via_session or not isinstance(conn, Request) or conn.method in SAFE_METHODS:
        return
    sent = conn.headers.get(CSRF_HEADER)
    if sent is None and conn.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        field = (await conn.form()).get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    if not sent or not principal.csrf_token or not hmac.compare_digest(sent, principal.csrf_token):
        raise HTTPException(status.HTTP_403_FORBIDDEN, CSRF_REFUSED)


class RequireRole:
    """Dependency: the authenticated caller, who must hold at least `role`.

    401 when nobody is signed in, 403 when the role is too weak or CSRF fails.
    """

    def __init__(self, role: Role) -> None:
        self.role = role

    def __repr__(self) -> str:
        return f"RequireRole({self.role.value})"

    async def __call__(self, conn: HTTPConnection) -> Principal:
        principal = await authenticate(conn)
        if principal is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "authentication required",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not principal.role.at_least(self.role):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"needs the {self.role.value} role")
        await _check_csrf(conn, principal)
        return principal


class RequireVisitor:
    """Dependency: the web chat visitor holding a widget token (header, or `token` query on websockets).

    Visitors are not staff: they reach only the widget's own routes and their own messages.
    """

    def __repr__(self) -> str:
        return "RequireVisitor()"

    async def __call__(self, conn: HTTPConnection) -> WebchatVisitor:
        token = conn.headers.get(VISITOR_HEADER) or (
            socket_token(conn) if conn.scope["type"] == "websocket" else None
        )
        if not token:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "visitor token required")
        async with container(conn).uow() as uow:
            visitor = await visitor_by_token(uow, token)
            await uow.commit()
        if visitor is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown visitor token")
        return visitor


#: The subprotocol a widget's socket names beside its token. A browser cannot set headers on a
#: websocket, and a token in the address is written to access logs (the server's, a proxy's):
#: the widget offers ["helpline.visitor", token] as subprotocols, and the server picks the first.
VISITOR_SUBPROTOCOL = "helpline.visitor"


def socket_token(conn: HTTPConnection) -> str | None:
    """The visitor token a websocket offered among its subprotocols (else, from widgets cached
    before, in its `token` query)."""
    offered = [p.strip() for p in conn.headers.get("sec-websocket-protocol", "").split(",")]
    if VISITOR_SUBPROTOCOL in offered:
        return next((p for p in offered if p and p != VISITOR_SUBPROTOCOL), None)
    return conn.query_params.get("token")


require_visitor = RequireVisitor()
require_agent = RequireRole(Role.AGENT)
require_supervisor = RequireRole(Role.SUPERVISOR)
require_admin = RequireRole(Role.ADMIN)
