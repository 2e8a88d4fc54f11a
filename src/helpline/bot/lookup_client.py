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

from helpline.bot.lookup_hosts import IPAddress, LookupHosts, resolve


class CheckedAddresses(httpcore.AsyncNetworkBackend):
    """A network backend that connects a name only to the addresses checked for it."""

    #: Names remembered at most; the oldest is forgotten first (a lookup URL may put a
    #: customer's answer in its host name, so names are not a closed set).
    KEEP = 256

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._checked: dict[str, tuple[str, ...]] = {}

    def allow(self, host: str, addresses: Sequence[IPAddress]) -> None:
        """`host` (as the client sends it) may be connected to `addresses`, which passed the check."""
        key = host.lower()
        self._checked.pop(key, None)
        self._checked[key] = tuple(str(a) for a in addresses)
        while len(self._checked) > self.KEEP:
            del self._checked[next(iter(self._checked))]

    def forget(self, host: str) -> None:
        """`host` failed its latest check: no connection for it until one passes."""
        self._checked.pop(host.lower(), None)

    def __len__(self) -> int:
        return len(self._checked)

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


#: httpx's own defaults, given to the pool explicitly since the pool is built here.
_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)


class _CheckedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, backend: CheckedAddresses, verify: ssl.SSLContext) -> None:
        super().__init__(verify=verify, trust_env=False, limits=_LIMITS)
        # httpx builds its pool without a way to pass a network backend: the same pool, with ours.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=verify,
            max_connections=_LIMITS.max_connections,
            max_keepalive_connections=_LIMITS.max_keepalive_connections,
            keepalive_expiry=_LIMITS.keepalive_expiry,
            network_backend=backend,
        )


class LookupClient:
    """One per process: `check` a lookup's URL against `hosts`, then send it with `http`, which
    connects only to the addresses that check passed."""

    def __init__(
        self,
        *,
        hosts: LookupHosts | None = None,
        verify: ssl.SSLContext | None = None,
        event_hooks: Mapping[str, list[Any]] | None = None,
    ) -> None:
        self.hosts = hosts if hosts is not None else LookupHosts()
        self.addresses = CheckedAddresses()
        # The operator's certificate authorities (SSL_CERT_FILE, SSL_CERT_DIR) still count: a
        # company's CRM often has a certificate from its own. Only proxies are left out.
        context = verify if verify is not None else httpx.create_ssl_context(trust_env=True)
        self.http = httpx.AsyncClient(
            transport=_CheckedTransport(self.addresses, context),
            trust_env=False,
            follow_redirects=False,
            event_hooks=dict(event_hooks or {}),
        )

    async def check(self, url: str) -> str | None:
        """Why `url`'s host may not be asked (see lookup_hosts), or None, in which case the
        client may now connect the host to the addresses that passed."""
        try:
            host = httpx.URL(url).raw_host.decode("ascii")  # as the client sends it: IDNA 2008
            resolved = await resolve(host)
        except (httpx.InvalidURL, OSError, UnicodeError, ValueError):
            return "the host cannot be resolved"
        refusal = self.hosts.refusal(host, resolved)
        if refusal is None:
            self.addresses.allow(host, resolved)
        else:
            self.addresses.forget(host)
        return refusal

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> LookupClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()
