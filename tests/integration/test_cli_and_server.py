"""The `helpline` command as an operator runs it: migrate, create users and tokens, serve, demo."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import redis_url
from tests.integration.live_server import run, serving


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    return {**os.environ, "HELPLINE_DATABASE_URL": database_url, "HELPLINE_COOKIE_SECURE": "false"}


@pytest.fixture
def server(env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    with serving(["serve"], env, tmp_path / "serve.log") as base:
        yield base, env


def test_operator_workflow_against_a_real_server(server: tuple[str, dict[str, str]]) -> None:
    base, env = server
    password = "operator chosen password"
    created = run(
        ["create-user", "Admin@Example.com", "--name", "Admin", "--role", "admin", "--password-stdin"],
        env,
        stdin=password + "\n",
    )
    assert created.returncode == 0, created.stderr
    again = run(
        ["create-user", "admin@example.com", "--name", "Admin", "--password-stdin"],
        env,
        stdin=password + "\n",
    )
    assert again.returncode == 2
    assert "email" in again.stdout
    weak = run(["create-user", "x@example.com", "--name", "X", "--password-stdin"], env, stdin="short\n")
    assert weak.returncode == 2
    token = run(["create-token", "admin@example.com", "--name", "ops"], env)
    assert token.returncode == 0, token.stderr
    bearer = token.stdout.strip()
    assert bearer.startswith("hlp_")
    me = httpx.get(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {bearer}"})
    assert me.status_code == 200
    assert me.json()["role"] == "admin"
    assert httpx.get(f"{base}/api/v1/me").status_code == 401
    login = httpx.post(f"{base}/api/v1/auth/login", json={"email": "admin@example.com", "password": password})
    assert login.status_code == 200
    metrics = httpx.get(f"{base}/metrics").text
    assert 'helpline_http_requests_total{method="GET",route="/api/v1/me",status="200"}' in metrics
    openapi = httpx.get(f"{base}/openapi.json").json()
    assert "/api/v1/contacts/{contact_id}/merge" in openapi["paths"]
    docs = httpx.get(f"{base}/docs").text
    assert "/static/vendor/swagger-ui" in docs
    assert httpx.get(f"{base}/static/vendor/swagger-ui-5.35.0/swagger-ui-bundle.js").status_code == 200


def test_migrate_is_idempotent(env: dict[str, str]) -> None:
    for _ in range(2):
        result = run(["migrate"], env)
        assert result.returncode == 0, result.stderr


def test_several_server_processes_need_redis_and_share_the_work(env: dict[str, str], tmp_path: Path) -> None:
    alone = run(["serve"], {**env, "HELPLINE_WEB_WORKERS": "2"})
    assert alone.returncode == 2
    assert "HELPLINE_REDIS_URL" in alone.stdout + alone.stderr
    multi = {**env, "HELPLINE_WEB_WORKERS": "2", "HELPLINE_REDIS_URL": redis_url()}
    log_path = tmp_path / "serve.log"
    with serving(["serve"], multi, log_path) as base:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and log_path.read_text().count("Application startup complete") < 2:
            time.sleep(0.2)
        with httpx.Client(base_url=base) as client:
            for _ in range(20):
                assert client.get("/healthz", headers={"Connection": "close"}).status_code == 200
        log = log_path.read_text()
    started = {
        line.split("[")[1].split("]")[0] for line in log.splitlines() if "Started server process [" in line
    }
    assert len(started) >= 2, log[-2000:]
    assert "Started parent process" in log


def test_new_chats_are_limited_per_client_behind_a_trusted_proxy_and_tokens_stay_out_of_the_log(
    env: dict[str, str], tmp_path: Path
) -> None:
    """Behind a reverse proxy every customer came from the proxy's address: after 30 new chats an
    hour, nobody could open one. X-Forwarded-For names the client, from the proxies named only."""
    import asyncio

    import websockets

    log = tmp_path / "serve.log"
    trusting = {**env, "HELPLINE_NEW_CHATS_PER_HOUR": "2", "HELPLINE_TRUSTED_PROXIES": "127.0.0.1"}
    with serving(["serve"], trusting, log) as base:

        def open_chat(client: str) -> httpx.Response:
            return httpx.post(f"{base}/widget/v1/session", json={}, headers={"X-Forwarded-For": client})

        assert [open_chat("203.0.113.7").status_code for _ in range(3)] == [200, 200, 429]
        assert open_chat("203.0.113.8").status_code == 200  # another customer behind the same proxy
        token = open_chat("203.0.113.9").json()["token"]

        async def sockets() -> None:  # the widget's way, and the way of widgets cached before
            ws_base = base.replace("http", "ws")
            async with websockets.connect(
                f"{ws_base}/widget/v1/ws", subprotocols=["helpline.visitor", token]
            ) as ws:
                assert json.loads(await ws.recv())["type"] == "hello"
            async with websockets.connect(f"{ws_base}/widget/v1/ws?token={token}") as ws:
                assert json.loads(await ws.recv())["type"] == "hello"

        asyncio.run(sockets())
    assert token not in log.read_text()

    untrusting = {**env, "HELPLINE_NEW_CHATS_PER_HOUR": "2"}
    with serving(["serve"], untrusting, tmp_path / "plain.log") as base:
        codes = [
            httpx.post(
                f"{base}/widget/v1/session", json={}, headers={"X-Forwarded-For": f"198.51.100.{n}"}
            ).status_code
            for n in range(3)
        ]
        assert codes == [200, 200, 429]  # a header anyone can send names nobody
