"""The `helpline` command as an operator runs it: migrate, create users and tokens, serve, demo."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

HELPLINE = str(Path(sys.executable).with_name("helpline"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(args: list[str], env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HELPLINE, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    return {**os.environ, "HELPLINE_DATABASE_URL": database_url, "HELPLINE_COOKIE_SECURE": "false"}


def wait_healthy(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not become healthy in 30 s")


@contextmanager
def serving(args: list[str], env: dict[str, str], log: Path) -> Iterator[str]:
    """Run `helpline <args>` until it answers /healthz; stop it with SIGTERM afterwards."""
    port = free_port()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [HELPLINE, *args], env={**env, "HELPLINE_PORT": str(port)}, stdout=out, stderr=subprocess.STDOUT
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(base, proc, log)
            yield base
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)


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
