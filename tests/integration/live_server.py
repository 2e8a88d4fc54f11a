"""Running `helpline` as an operator would: a real process on a free loopback port."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

HELPLINE = str(Path(sys.executable).with_name("helpline"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(args: list[str], env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HELPLINE, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120, check=False
    )


def wait_healthy(base: str, proc: subprocess.Popen[bytes], log: Path, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"server did not become healthy in {within:.0f} s")


@contextmanager
def serving(args: list[str], env: dict[str, str], log: Path, ready_within: float = 30) -> Iterator[str]:
    """Run `helpline <args>` until it answers /healthz; stop it with SIGTERM afterwards."""
    port = free_port()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [HELPLINE, *args], env={**env, "HELPLINE_PORT": str(port)}, stdout=out, stderr=subprocess.STDOUT
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(base, proc, log, ready_within)
            yield base
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
