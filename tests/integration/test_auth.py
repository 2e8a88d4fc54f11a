"""Console sessions, CSRF, API tokens, login throttling, and secrets kept out of logs."""

from __future__ import annotations

import re

import httpx
import pytest

from helpline.bootstrap import Container
from helpline.domain.users import Role
from helpline.web.security import SESSION_COOKIE
from tests.integration.conftest import PASSWORD, MakeStaff


async def test_json_login_sets_hardened_cookie_and_needs_csrf_for_changes(
    client: httpx.AsyncClient, make_staff: MakeStaff, container: Container
) -> None:
    agent = await make_staff()
    login = await client.post("/api/v1/auth/login", json={"email": agent.email.upper(), "password": PASSWORD})
    assert login.status_code == 200, login.text
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie.replace("Lax", "lax")
    csrf = login.json()["csrf_token"]
    assert (await client.get("/api/v1/me")).json()["email"] == agent.email
    no_csrf = await client.post("/api/v1/me/presence", json={"presence": "online"})
    assert no_csrf.status_code == 403
    wrong = await client.post(
        "/api/v1/me/presence", json={"presence": "online"}, headers={"X-CSRF-Token": "x"}
    )
    assert wrong.status_code == 403
    assert (await client.get("/api/v1/me")).json()["presence"] == "offline"
    ok = await client.post("/api/v1/me/presence", json={"presence": "online"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200
    assert ok.json()["presence"] == "online"
    out = await client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 204
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_secure_cookie_flag_is_the_default(container: Container) -> None:
    assert Container is not None
    from helpline.config import Settings

    assert Settings.from_env({}).cookie_secure is True


async def test_login_form_with_csrf_and_wrong_password(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    agent = await make_staff()
    page = await client.get("/login")
    assert page.status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    forged = await client.post(
        "/login", data={"email": agent.email, "password": PASSWORD, "csrf_token": "nope"}
    )
    assert forged.status_code == 403
    wrong = await client.post(
        "/login", data={"email": agent.email, "password": "wrong password!", "csrf_token": token.group(1)}
    )
    assert wrong.status_code == 303
    assert wrong.headers["location"] == "/login?error=1"
    ok = await client.post(
        "/login", data={"email": agent.email, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert ok.status_code == 303
    assert ok.headers["location"] == "/"
    assert SESSION_COOKIE in client.cookies
    home = await client.get("/")
    assert home.status_code == 303
    assert home.headers["location"] == "/console"
    console = await client.get("/console")
    assert console.status_code == 200
    assert agent.email.split("@")[0].replace("agent", "agent ") in console.text


async def test_login_is_rate_limited(
    client: httpx.AsyncClient, make_staff: MakeStaff, container: Container
) -> None:
    agent = await make_staff()
    limit = container.settings.login_attempts
    for _ in range(limit):
        r = await client.post(
            "/api/v1/auth/login", json={"email": agent.email, "password": "bad password 123"}
        )
        assert r.status_code == 401
    throttled = await client.post("/api/v1/auth/login", json={"email": agent.email, "password": PASSWORD})
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0


async def test_api_tokens_are_shown_once_hashed_and_revocable(
    client: httpx.AsyncClient, make_staff: MakeStaff, container: Container
) -> None:
    agent = await make_staff()
    created = await client.post("/api/v1/me/tokens", json={"name": "crm sync"}, headers=agent.headers)
    assert created.status_code == 201
    token = created.json()["token"]
    listed = await client.get("/api/v1/me/tokens", headers=agent.headers)
    assert all("token" not in t for t in listed.json())
    assert token not in listed.text
    from sqlalchemy import text

    async with container.engine.connect() as conn:
        stored = (await conn.execute(text("SELECT token_hash FROM api_tokens"))).scalars().all()
    assert token not in stored
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 200
    revoked = await client.delete(f"/api/v1/me/tokens/{created.json()['id']}", headers=agent.headers)
    assert revoked.status_code == 200
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 401


async def test_admin_manages_users_and_teams(client: httpx.AsyncClient, make_staff: MakeStaff) -> None:
    admin = await make_staff(Role.ADMIN)
    user = await client.post(
        "/api/v1/users",
        headers=admin.headers,
        json={
            "email": "Layla@Example.com",
            "name": "ليلى",
            "password": "a long password",
            "role": "agent",
            "ui_language": "ar",
            "languages": ["ar", "en"],
            "skills": ["Payments", "prizes"],
            "capacity": 4,
        },
    )
    assert user.status_code == 201, user.text
    assert user.json()["email"] == "layla@example.com"
    assert user.json()["skills"] == ["payments", "prizes"]
    assert "password" not in user.text
    short = await client.post(
        "/api/v1/users",
        headers=admin.headers,
        json={"email": "x@example.com", "name": "X", "password": "short"},
    )
    assert short.status_code == 422
    assert short.json()["detail"][0]["loc"] == ["body", "password"]
    dup = await client.post(
        "/api/v1/users",
        headers=admin.headers,
        json={"email": "layla@example.com", "name": "Other", "password": "a long password"},
    )
    assert dup.status_code == 409
    team = await client.post(
        "/api/v1/teams",
        headers=admin.headers,
        json={"name": "Payments", "skills": ["payments"], "member_ids": [user.json()["id"]]},
    )
    assert team.status_code == 201
    assert team.json()["member_ids"] == [user.json()["id"]]
    missing = await client.patch(
        f"/api/v1/teams/{team.json()['id']}", headers=admin.headers, json={"member_ids": [999999]}
    )
    assert missing.status_code == 404
    kept = (await client.get("/api/v1/teams", headers=admin.headers)).json()
    assert kept[0]["member_ids"] == [user.json()["id"]]
    deactivated = await client.patch(
        f"/api/v1/users/{user.json()['id']}", headers=admin.headers, json={"is_active": False}
    )
    assert deactivated.json()["is_active"] is False


async def test_secrets_never_reach_the_logs(
    client: httpx.AsyncClient, make_staff: MakeStaff, capsys: pytest.CaptureFixture[str]
) -> None:
    from helpline.logs import configure_logging, get_logger

    configure_logging(json=True)
    agent = await make_staff()
    await client.post("/api/v1/auth/login", json={"email": agent.email, "password": "my secret guess 42"})
    await client.post("/api/v1/auth/login", json={"email": agent.email, "password": PASSWORD})
    get_logger("test").info("oops", password=PASSWORD, headers={"Authorization": f"Bearer {agent.token}"})
    logged = capsys.readouterr().err
    assert "login.failed" in logged
    assert "login.ok" in logged
    for secret in ("my secret guess 42", PASSWORD, agent.token):
        assert secret not in logged
