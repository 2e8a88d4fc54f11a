"""Two `helpline serve` processes sharing one PostgreSQL and one Redis, as a scaled-out install.

The visitor talks to instance A, the agent to instance B; every live event has to cross
Redis to reach the other side.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

from tests.conftest import flush_limits, limit_keys, redis_url, truncate_postgres
from tests.integration.live_server import run, serving


def receive(ws: ClientConnection, kind: str, **match: Any) -> dict[str, Any]:
    """The next frame of `kind` (whose fields equal `match`), skipping unrelated events."""
    for _ in range(50):
        frame = json.loads(ws.recv(timeout=10))
        if frame["type"] == kind and all(frame.get(k) == v for k, v in match.items()):
            return frame  # type: ignore[no-any-return]
    raise AssertionError(f"no {kind} frame among 50")


def test_visitor_on_one_instance_and_agent_on_another(migrated_postgres: str, tmp_path: Path) -> None:
    truncate_postgres(migrated_postgres)
    env = {
        **os.environ,
        "HELPLINE_DATABASE_URL": migrated_postgres,
        "HELPLINE_REDIS_URL": redis_url(),
        "HELPLINE_COOKIE_SECURE": "false",
    }
    created = run(
        ["create-user", "agent@shop.example", "--name", "Agent", "--role", "agent", "--password-stdin"],
        env,
        stdin="a long agent password\n",
    )
    assert created.returncode == 0, created.stderr
    token = run(["create-token", "agent@shop.example", "--name", "console"], env).stdout.strip()
    staff = {"Authorization": f"Bearer {token}"}

    with (
        serving(["serve"], env, tmp_path / "a.log") as a,
        serving(["serve"], env, tmp_path / "b.log") as b,
        connect(f"ws{b.removeprefix('http')}/api/v1/events", additional_headers=staff) as agent_ws,
    ):
        assert receive(agent_ws, "hello")
        session = httpx.post(f"{a}/widget/v1/session", json={}).json()
        visitor = {"X-Visitor-Token": session["token"]}
        with connect(f"ws{a.removeprefix('http')}/widget/v1/ws?token={session['token']}") as visitor_ws:
            assert receive(visitor_ws, "hello")

            sent = httpx.post(
                f"{a}/widget/v1/messages", json={"text": "Где мой заказ?", "client_id": "m1"}, headers=visitor
            )
            assert sent.status_code == 201
            created_event = receive(agent_ws, "message.created", message_id=sent.json()["id"])
            conversation_id = created_event["conversation_id"]

            assert httpx.post(f"{b}/api/v1/conversations/{conversation_id}/typing", headers=staff).is_success
            assert receive(visitor_ws, "typing") == {"type": "typing"}
            reply = httpx.post(
                f"{b}/api/v1/conversations/{conversation_id}/messages",
                json={"text": "Уже в пути!"},
                headers=staff,
            )
            assert reply.status_code == 201
            got = receive(visitor_ws, "message")
            assert got["message"]["id"] == reply.json()["id"]
            assert got["message"]["text"] == "Уже в пути!"

            again = httpx.post(
                f"{a}/widget/v1/messages", json={"text": "Спасибо", "client_id": "m2"}, headers=visitor
            )
            assert receive(agent_ws, "message.created", message_id=again.json()["id"])
    for log in ("a.log", "b.log"):
        text = (tmp_path / log).read_text()
        assert "redis_subscription_lost" not in text, text
        assert "Traceback" not in text, text


def test_failed_logins_count_across_instances(migrated_postgres: str, tmp_path: Path) -> None:
    """Guessing a password through two processes gets no more tries than through one."""
    truncate_postgres(migrated_postgres)
    flush_limits()
    env = {
        **os.environ,
        "HELPLINE_DATABASE_URL": migrated_postgres,
        "HELPLINE_REDIS_URL": redis_url(),
        "HELPLINE_COOKIE_SECURE": "false",
        "HELPLINE_LOGIN_ATTEMPTS": "4",
    }
    password = "the right long password"
    created = run(
        ["create-user", "boss@shop.example", "--name", "Boss", "--role", "admin", "--password-stdin"],
        env,
        stdin=f"{password}\n",
    )
    assert created.returncode == 0, created.stderr
    wrong = {"email": "boss@shop.example", "password": "a wrong guess"}
    with serving(["serve"], env, tmp_path / "a.log") as a, serving(["serve"], env, tmp_path / "b.log") as b:
        for base in (a, b, a, b):
            assert httpx.post(f"{base}/api/v1/auth/login", json=wrong).status_code == 401
        # Each process saw only 2 failures, the account 4: both refuse, even the right password.
        for base in (a, b):
            refused = httpx.post(f"{base}/api/v1/auth/login", json={**wrong, "password": password})
            assert refused.status_code == 429
            assert int(refused.headers["Retry-After"]) > 0
        keys = limit_keys()
        assert keys, "the failures were counted in Redis"
        assert "boss@shop.example" not in str(keys), "keys are hashed, not e-mail addresses"
