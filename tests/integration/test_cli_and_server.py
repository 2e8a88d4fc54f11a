"""The `helpline` command as an operator runs it: migrate, create users and tokens, serve, demo."""

from __future__ import annotations

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
