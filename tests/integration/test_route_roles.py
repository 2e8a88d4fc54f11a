"""Every route the app registers is either declared public or guarded by a role, and the guard works.

The test walks `app.routes`, so a route added tomorrow is checked without anyone
remembering to add it here.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import Mount
from starlette.testclient import TestClient, WebSocketDenialResponse

from helpline.bootstrap import build_container
from helpline.domain.users import Role
from helpline.services.auth import do_create_api_token
from helpline.services.users import UserSpec, do_create_user
from helpline.web.app import create_app
from helpline.web.security import PUBLIC_ROUTES, RequireRole, RequireVisitor
from tests.conftest import make_settings


def guards(dependant: Dependant) -> list[object]:
    found = []
    stack = [dependant]
    while stack:
        node = stack.pop()
        if isinstance(node.call, RequireRole | RequireVisitor):
            found.append(node.call)
        stack.extend(node.dependencies)
    return found


def required_role(dependant: Dependant) -> Role | None:
    """The strongest RequireRole anywhere in the route's dependency tree."""
    roles = [g.role for g in guards(dependant) if isinstance(g, RequireRole)]
    return max(roles, key=lambda r: r.rank) if roles else None


def visitor_only(dependant: Dependant) -> bool:
    return any(isinstance(g, RequireVisitor) for g in guards(dependant))


def all_routes(routes: list[Any]) -> list[Any]:
    """Flatten the app's routes; newer FastAPI keeps included routers as nested branches."""
    flat = []
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            context = route.include_context
            # Paths and guards are declared on the routers themselves, not at include time.
            assert context.prefix == "", context
            assert not context.dependencies, context
            flat.extend(all_routes(included.routes))
        else:
            flat.append(route)
    return flat


def concrete_path(path: str) -> str:
    # An id that exists nowhere: the walk must not change data (e.g. revoke its own tokens).
    return re.sub(r"\{[^}]+\}", "999999", path)


def http_routes(app: FastAPI) -> list[tuple[str, str, Role | None]]:
    routes = []
    for route in all_routes(app.routes):
        if isinstance(route, APIRoute) and not visitor_only(route.dependant):
            for method in sorted(route.methods - {"HEAD"}):
                routes.append((method, route.path, required_role(route.dependant)))
    return routes


def visitor_routes(app: FastAPI) -> list[tuple[str, str]]:
    return [
        (m, r.path)
        for r in all_routes(app.routes)
        if isinstance(r, APIRoute) and visitor_only(r.dependant)
        for m in sorted(r.methods - {"HEAD"})
    ]


def test_every_route_is_public_or_guarded(sqlite_template: Any, tmp_path: Any) -> None:
    app = create_app(build_container(make_settings(f"sqlite+aiosqlite:///{tmp_path}/x.db")))
    unguarded = [(m, p) for m, p, role in http_routes(app) if role is None and (m, p) not in PUBLIC_ROUTES]
    assert unguarded == [], f"routes without RequireRole and not in PUBLIC_ROUTES: {unguarded}"
    for route in all_routes(app.routes):
        if isinstance(route, APIWebSocketRoute):
            assert guards(route.dependant), route.path
        elif not isinstance(route, APIRoute):
            # Only the static files mount and FastAPI's docs routes are plain Starlette routes.
            assert isinstance(route, Mount) or route.path in {p for _, p in PUBLIC_ROUTES}, route
    guarded = [r for r in http_routes(app) if r[2] is not None]
    assert len(guarded) >= 20  # the walk really sees the API


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_anonymous_gets_401_and_weaker_roles_get_403(
    backend: str, request: pytest.FixtureRequest, tmp_path: Any, sqlite_template: Any
) -> None:
    if backend == "sqlite":
        import shutil

        shutil.copy(sqlite_template, tmp_path / "h.db")
        url = f"sqlite+aiosqlite:///{tmp_path}/h.db"
    else:
        from tests.conftest import truncate_postgres

        url = request.getfixturevalue("migrated_postgres")
        truncate_postgres(url)
    container = build_container(make_settings(url))
    app = create_app(container)
    serial = itertools.count()
    with TestClient(app) as tc:

        async def seed() -> dict[Role, str]:
            tokens = {}
            for role in Role:
                async with container.uow() as uow:
                    user = await do_create_user(
                        uow,
                        UserSpec(
                            email=f"{role.value}{next(serial)}@t.test",
                            name=role.value,
                            password="long enough password",
                            role=role,
                        ),
                    )
                    tokens[role] = (await do_create_api_token(uow, user.id, "walk")).token
                    await uow.commit()
            return tokens

        tokens = tc.portal.call(seed)
        checked = 0
        for method, path, role in http_routes(app):
            if role is None:
                continue
            url_path = concrete_path(path)
            anonymous = tc.request(method, url_path, json={})
            assert anonymous.status_code == 401, (method, path, anonymous.status_code)
            bad_token = tc.request(method, url_path, json={}, headers={"Authorization": "Bearer hlp_forged"})
            assert bad_token.status_code == 401, (method, path)
            for weaker in [r for r in Role if r.rank < role.rank]:
                answer = tc.request(
                    method, url_path, json={}, headers={"Authorization": f"Bearer {tokens[weaker]}"}
                )
                assert answer.status_code == 403, (method, path, weaker, answer.status_code)
            enough = tc.request(
                method, url_path, json={}, headers={"Authorization": f"Bearer {tokens[role]}"}
            )
            assert enough.status_code not in (401, 403), (method, path, role, enough.text)
            checked += 1
        assert checked >= 20
        # Widget routes take a visitor token, never a staff one.
        for method, path in visitor_routes(app):
            assert tc.request(method, concrete_path(path), json={}).status_code == 401, path
            staff = {"Authorization": f"Bearer {tokens[Role.ADMIN]}", "X-Visitor-Token": "hlv_forged"}
            assert tc.request(method, concrete_path(path), json={}, headers=staff).status_code == 401, path

        for route in all_routes(app.routes):
            if isinstance(route, APIWebSocketRoute) and visitor_only(route.dependant):
                with pytest.raises(WebSocketDenialResponse) as denied, tc.websocket_connect(route.path):
                    pass
                assert denied.value.status_code == 401, route.path
            elif isinstance(route, APIWebSocketRoute):
                with pytest.raises(WebSocketDenialResponse) as denied, tc.websocket_connect(route.path):
                    pass
                assert denied.value.status_code == 401, route.path
                # The walk above revoked its own tokens (DELETE /me/tokens/1); sign in afresh.
                agent = {"Authorization": f"Bearer {tc.portal.call(seed)[Role.AGENT]}"}
                with tc.websocket_connect(route.path, headers=agent) as ws:
                    assert ws.receive_json()["type"] == "hello"


async def test_the_favicon_is_the_products_icon(sqlite_template: Any, tmp_path: Any) -> None:
    """Browsers ask for /favicon.ico on pages that name no icon: a 404 in every access log."""
    container = build_container(make_settings(f"sqlite+aiosqlite:///{tmp_path}/x.db"))
    app = create_app(container)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        icon = await client.get("/favicon.ico", follow_redirects=True)
        login = await client.get("/login")
    await container.close()
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.text.startswith("<svg")
    assert '<link rel="icon" href="/static/helpline.svg"' in login.text
