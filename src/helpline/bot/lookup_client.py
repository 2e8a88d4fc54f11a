"""The HTTP client flow lookups use: it connects only to addresses `lookup_hosts` checked.

The URL keeps its host name, so the Host header, TLS (the name presented and verified) and the
connection pool are all the name's; only the step from name to address is ours: a connection
for a name goes to the addresses the check resolved and passed for it, each tried in turn, and
to nothing else. A DNS server that answers one address to the check and another a moment later
is never asked again, and a pooled connection serves only the name it was opened for.

Proxies from the environment are not used: a proxy resolves the name itself, past the check,
and a bearer token for the company's system would travel through it.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

import httpcore
import httpx

from helpline.bot.lookup_hosts import IPAddress


class CheckedAddresses(httpcore.AsyncNetworkBackend):
    """A network backend that connects a name only to the addresses checked for it."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._checked: dict[str, tuple[str, ...]] = {}

    def allow(self, host: str, addresses: Sequence[IPAddress]) -> None:
        """`host` (as the client sends it) may be connected to `addresses`, which passed the check."""
        self._checked[host.lower()] = tuple(str(a) for a in addresses)

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = self._checked.get(host.lower())
        if not addresses:
            raise httpcore.ConnectError(f"{host} was not checked")
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("lookups use TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _CheckedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, backend: CheckedAddresses, verify: ssl.SSLContext | bool) -> None:
        super().__init__(verify=verify, trust_env=False)
        # httpx builds its pool without a way to pass a network backend: the same pool, with ours.
        ssl_context = self._pool._ssl_context
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context, max_connections=20, keepalive_expiry=5.0, network_backend=backend
        )


class LookupClient:
    """One per process: `http` for the requests, `addresses` for what the check allowed."""

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | bool = True,
        event_hooks: Mapping[str, list[Any]] | None = None,
    ) -> None:
        self.addresses = CheckedAddresses()
        self.http = httpx.AsyncClient(
            transport=_CheckedTransport(self.addresses, verify),
            trust_env=False,
            follow_redirects=False,
            event_hooks=dict(event_hooks or {}),
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> LookupClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()
