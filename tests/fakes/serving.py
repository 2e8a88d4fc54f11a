"""Run a fake provider's ASGI app on a free 127.0.0.1 port in a background thread.

Every provider fake needs the same thing: bind the socket before uvicorn starts (so the port
cannot be taken in between), enter only once the server answers HTTP, and on exit tell the
fake to release delayed requests before stopping the server.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from starlette.types import ASGIApp


@contextmanager
def serving_in_thread(app: ASGIApp, name: str, closing: threading.Event) -> Iterator[str]:
    """Serve `app` until the block ends; yields its base URL. `closing` is set before stopping."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        ws="none",
        log_config=None,  # leave the test process's logging configuration alone
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"{name}-{port}", daemon=True
    )
    thread.start()
    try:
        base_url = f"http://127.0.0.1:{port}"
        _wait_until_answering(base_url, thread, name)
        yield base_url
    finally:
        closing.set()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        if thread.is_alive():
            raise RuntimeError(f"the {name} server did not stop within 10 s")


def _wait_until_answering(base_url: str, thread: threading.Thread, name: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError(f"the {name} server stopped while starting")
        try:
            httpx.get(f"{base_url}/", timeout=1)  # any HTTP answer (404 here) means it is serving
            return
        except httpx.TransportError:
            time.sleep(0.02)
    raise RuntimeError(f"the {name} server did not answer within {timeout:g} s")
