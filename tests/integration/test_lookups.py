"""A flow's lookup against a real HTTP server that misbehaves: whatever it does, the lookup ends
as "failed" within its timeout, bounded in memory, and the token goes only where it may.

The company system is a Starlette app served by uvicorn in a thread (tests/fakes/serving.py), so
every byte crosses a real socket: streaming, slow answers and redirects behave as in production.
"""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import json
import ssl
import subprocess
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route
from structlog.testing import capture_logs

from helpline.bot.lookup_client import LookupClient
from helpline.bot.lookup_hosts import LookupHosts
from helpline.bot.lookups import MAX_ANSWER_BYTES, LookupResult, run_lookup
from helpline.domain.flows.model import LOOKUP_TOKEN_ENV_PREFIX, LookupEndpoint
from tests.fakes.serving import serving_in_thread

TOKEN_ENV = f"{LOOKUP_TOKEN_ENV_PREFIX}TEST_LOOKUPS"
NOT_A_LOOKUP_VARIABLE = "HELPLINE_TEST_NOT_A_LOOKUP_SECRET"
HUGE = 32 * 1024 * 1024
CHUNK = b" " * (64 * 1024)


@dataclass
class FakeCrm:
    url: str = ""
    closing: threading.Event = field(default_factory=threading.Event)
    #: Authorization header of each request, by path.
    seen: dict[str, list[str | None]] = field(default_factory=dict)
    #: Host header of each request, by path.
    hosts: dict[str, list[str | None]] = field(default_factory=dict)
    #: Body bytes each streaming route has handed to the server, by route.
    sent: Counter[str] = field(default_factory=Counter)


def crm_app(crm: FakeCrm) -> Starlette:
    gzipped_body = gzip.compress(b" " * (16 * 1024 * 1024), compresslevel=9)  # 16 KB → 16 MB

    def record(request: Request) -> None:
        crm.seen.setdefault(request.url.path, []).append(request.headers.get("authorization"))
        crm.hosts.setdefault(request.url.path, []).append(request.headers.get("host"))

    async def order(request: Request) -> Response:
        record(request)
        return JSONResponse({"status": "shipped", "eta": 2, "paid": True, "items": ["x"]})

    async def endless(name: str) -> AsyncIterator[bytes]:
        while crm.sent[name] < HUGE and not crm.closing.is_set():
            crm.sent[name] += len(CHUNK)
            yield CHUNK

    async def huge(request: Request) -> Response:
        record(request)
        return StreamingResponse(endless("huge"), media_type="application/json")  # chunked

    async def huge_declared(request: Request) -> Response:
        record(request)
        return StreamingResponse(
            endless("huge_declared"), media_type="application/json", headers={"content-length": str(HUGE)}
        )

    async def drip(request: Request) -> Response:
        """A byte every 20 ms: each read is well within any timeout, the whole answer is not."""
        record(request)

        async def bytes_() -> AsyncIterator[bytes]:
            for _ in range(1000):
                if crm.closing.is_set():
                    return
                yield b" "
                await asyncio.sleep(0.02)

        return StreamingResponse(bytes_(), media_type="application/json", headers={"content-length": "1000"})

    async def deep(request: Request) -> Response:
        record(request)
        return Response(b"[" * 60_000, media_type="application/json")

    async def gzipped(request: Request) -> Response:
        """Compressed although the request asked for identity."""
        record(request)
        return Response(gzipped_body, media_type="application/json", headers={"content-encoding": "gzip"})

    async def redirect(request: Request) -> Response:
        record(request)
        return RedirectResponse(f"{crm.url}/steal", status_code=302)

    async def steal(request: Request) -> Response:
        record(request)
        return JSONResponse({"stolen": "yes"})

    return Starlette(
        routes=[
            Route("/orders/{number}", order),
            Route("/huge/{number}", huge),
            Route("/huge-declared/{number}", huge_declared),
            Route("/drip/{number}", drip),
            Route("/deep/{number}", deep),
            Route("/gzip/{number}", gzipped),
            Route("/redirect/{number}", redirect),
            Route("/steal", steal),
        ]
    )


@pytest.fixture(scope="module")
def crm() -> Iterator[FakeCrm]:
    fake = FakeCrm()
    with serving_in_thread(crm_app(fake), "fake-crm", fake.closing) as url:
        fake.url = url
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[LookupClient]:
    """The client the product gives the bot (bootstrap.Container.lookups)."""
    async with LookupClient() as client:
        yield client


async def lookup(
    http: LookupClient,
    url: str,
    *,
    token_env: str | None = None,
    seconds: float = 5.0,
) -> LookupResult:
    endpoint = LookupEndpoint("order_status", url, token_env, seconds)
    return await run_lookup(http, endpoint, {"number": "123456"})


async def lookup_measured(http: LookupClient, url: str) -> tuple[LookupResult, int]:
    """The lookup's result and the most memory the process held above its start meanwhile."""
    tracemalloc.start()
    try:
        result = await lookup(http, url)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


FAILED = LookupResult(None, failed=True)


async def test_a_good_answer_gives_its_string_and_number_fields(crm: FakeCrm, http: LookupClient) -> None:
    assert await lookup(http, f"{crm.url}/orders/{{number}}") == LookupResult(
        {"status": "shipped", "eta": "2"}
    )


@pytest.mark.parametrize("route", ["huge", "huge-declared"])
async def test_a_huge_answer_is_not_read_past_the_limit(crm: FakeCrm, http: LookupClient, route: str) -> None:
    """Chunked or with its length declared: the lookup stops reading, so it holds no more than
    about the limit (the whole 32 MB used to be read into memory: 300 MB took a worker from 139
    to 773 MB)."""
    result, peak = await lookup_measured(http, f"{crm.url}/{route}/{{number}}")

    assert result == FAILED
    assert peak < 4 * 1024 * 1024


async def test_a_trickling_answer_ends_at_the_lookups_timeout(crm: FakeCrm, http: LookupClient) -> None:
    """One byte every 20 ms of a 1000-byte answer: every read is quick, the whole takes 20 s."""
    started = time.monotonic()

    result = await lookup(http, f"{crm.url}/drip/{{number}}", seconds=0.5)

    assert result == FAILED
    assert time.monotonic() - started < 2.0


async def test_deeply_nested_json_fails_the_lookup_instead_of_the_turn(
    crm: FakeCrm, http: LookupClient
) -> None:
    assert MAX_ANSWER_BYTES > 60_000  # small enough to be read: the parser is what gives up
    assert await lookup(http, f"{crm.url}/deep/{{number}}") == FAILED


async def test_a_compressed_answer_is_refused_rather_than_inflated(crm: FakeCrm, http: LookupClient) -> None:
    """A few kilobytes of gzip can inflate far past the limit before it could be checked."""
    result, peak = await lookup_measured(http, f"{crm.url}/gzip/{{number}}")

    assert result == FAILED
    assert peak < 4 * 1024 * 1024


async def test_redirects_are_not_followed(crm: FakeCrm, http: LookupClient) -> None:
    """The token would go wherever the answer says."""
    crm.seen.pop("/steal", None)
    result = await lookup(http, f"{crm.url}/redirect/{{number}}")

    assert result == FAILED
    assert "/steal" not in crm.seen


async def test_the_token_comes_from_a_lookup_variable(
    crm: FakeCrm, http: LookupClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "crm-token-1")
    crm.seen.pop("/orders/123456", None)

    result = await lookup(http, f"{crm.url}/orders/{{number}}", token_env=TOKEN_ENV)

    assert result.answer == {"status": "shipped", "eta": "2"}
    assert crm.seen["/orders/123456"] == ["Bearer crm-token-1"]


async def test_any_other_variable_is_never_read_nor_logged(
    crm: FakeCrm, http: LookupClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flow stored before the schema checked the name, or built some other way, still cannot
    send the server's own secrets (HELPLINE_DATABASE_URL…) to its URL."""
    monkeypatch.setenv(NOT_A_LOOKUP_VARIABLE, "db-password-1")
    crm.seen.pop("/orders/123456", None)

    with capture_logs() as logs:
        result = await lookup(http, f"{crm.url}/orders/{{number}}", token_env=NOT_A_LOOKUP_VARIABLE)

    assert result.answer == {"status": "shipped", "eta": "2"}  # asked, without a token
    assert crm.seen["/orders/123456"] == [None]
    assert any(entry["log_level"] == "warning" for entry in logs)
    assert "db-password-1" not in repr(logs)


class Requests:
    """What an httpx client was asked to send (its request hook runs before any connection)."""

    def __init__(self) -> None:
        self.sent: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> None:
        self.sent.append(request)


@pytest.mark.parametrize(
    ("url", "carries_token"),
    [
        ("http://crm.example.test/orders/{number}", False),
        ("http://192.0.2.10/orders/{number}", False),
        ("https://192.0.2.10/orders/{number}", True),  # TEST-NET-1: resolved, never answers
        ("http://127.0.0.1:9/orders/{number}", True),
        ("http://[::1]:9/orders/{number}", True),
        ("http://localhost:9/orders/{number}", True),
    ],
)
async def test_a_token_crosses_a_network_only_encrypted(
    monkeypatch: pytest.MonkeyPatch, url: str, carries_token: bool
) -> None:
    """Plain http carries the token only to this host; to anything else the lookup fails before
    a request is made (none of these addresses answer, so every lookup here fails)."""
    monkeypatch.setenv(TOKEN_ENV, "crm-token-1")
    requests = Requests()

    async with LookupClient(event_hooks={"request": [requests]}) as client:
        with capture_logs() as logs:
            result = await lookup(client, url, token_env=TOKEN_ENV, seconds=2.0)

    assert result == FAILED
    if carries_token:
        assert [r.headers.get("authorization") for r in requests.sent] == ["Bearer crm-token-1"]
    else:
        assert requests.sent == []
        assert "crm-token-1" not in repr(logs)


async def test_plain_http_to_this_host_carries_the_token(
    crm: FakeCrm, http: LookupClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "crm-token-2")
    crm.seen.pop("/orders/123456", None)
    port = crm.url.rsplit(":", 1)[1]

    result = await lookup(http, f"http://localhost:{port}/orders/{{number}}", token_env=TOKEN_ENV)

    assert result.answer == {"status": "shipped", "eta": "2"}
    assert crm.seen["/orders/123456"] == ["Bearer crm-token-2"]


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/{number}",  # a cloud's instance credentials
        "http://[::ffff:169.254.169.254]/latest/meta-data/{number}",  # the same, written as IPv6
        "http://[fe80::1]/orders/{number}",
        "http://0.0.0.0:9/orders/{number}",
        "http://224.0.0.1/orders/{number}",
        "http://crm.invalid/orders/{number}",  # resolves to nothing: not left for httpx to retry
    ],
)
async def test_what_no_lookup_may_ask_is_refused_before_a_request(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_such_name(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        """Addresses stand for themselves; a name is unknown, at once. The system resolver,
        asked about crm.invalid, may wait 5 s on a lost packet: longer than the lookup's time."""
        try:
            return [ipaddress.ip_address(host.strip("[]"))]
        except ValueError:
            raise OSError(f"{host}: Name or service not known") from None

    monkeypatch.setattr("helpline.bot.lookup_client.resolve", no_such_name)
    requests = Requests()
    async with LookupClient(event_hooks={"request": [requests]}) as client:
        with capture_logs() as logs:
            result = await lookup(client, url, seconds=2.0)
    assert result == FAILED
    assert requests.sent == []
    assert [e["event"] for e in logs] == ["lookup_host_refused"], logs


@pytest.mark.parametrize(
    ("listed", "host", "allowed"),
    [
        ("127.0.0.1", "127.0.0.1", True),
        ("10.0.0.0/8, 127.0.0.0/8", "127.0.0.1", True),
        ("localhost", "localhost", True),
        ("localhost", "127.0.0.1", False),  # the name is listed, not the address
        ("crm.internal, 10.0.0.0/8", "127.0.0.1", False),
        ("crm.internal, 10.0.0.0/8", "localhost", False),
    ],
)
async def test_an_operators_list_sends_lookups_only_to_its_hosts(
    crm: FakeCrm, listed: str, host: str, allowed: bool
) -> None:
    port = crm.url.rsplit(":", 1)[1]
    async with LookupClient(hosts=LookupHosts.parse(listed)) as client:
        with capture_logs() as logs:
            result = await lookup(client, f"http://{host}:{port}/orders/{{number}}")
    if allowed:
        assert result.answer == {"status": "shipped", "eta": "2"}
    else:
        assert result == FAILED
        assert [e["reason"] for e in logs if e["event"] == "lookup_host_refused"] == [
            "not in HELPLINE_LOOKUP_HOSTS"
        ]


class FakeZone:
    """DNS for names we cannot register: each name answers its addresses in turn, the last
    one from then on (a zone that rebinds)."""

    def __init__(self, zone: dict[str, list[str]]) -> None:
        self.zone = zone
        self.asked: list[str] = []

    async def __call__(self, host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        self.asked.append(host)
        answers = self.zone[host]
        return [ipaddress.ip_address(answers.pop(0) if len(answers) > 1 else answers[0])]


async def test_the_request_goes_to_the_address_that_was_checked_under_the_name_it_was_sent_as(
    crm: FakeCrm, monkeypatch: pytest.MonkeyPatch
) -> None:
    """straße is sent as xn--strae-oqa (IDNA 2008), not as strasse: the name checked is the name
    the client would have resolved, and the client is given the address, not the name, so a
    second answer (127.0.0.2 here, a metadata address in an attack) is never asked for."""
    port = crm.url.rsplit(":", 1)[1]
    zone = FakeZone({"xn--strae-oqa.test": ["127.0.0.1", "127.0.0.2"], "strasse.test": ["10.9.9.9"]})
    monkeypatch.setattr("helpline.bot.lookup_client.resolve", zone)
    crm.hosts.pop("/orders/123456", None)

    async with LookupClient(hosts=LookupHosts.parse("127.0.0.1")) as client:
        result = await lookup(client, f"http://straße.test:{port}/orders/{{number}}")

    assert result.answer == {"status": "shipped", "eta": "2"}
    assert zone.asked == ["xn--strae-oqa.test"]
    assert crm.hosts["/orders/123456"] == [f"xn--strae-oqa.test:{port}"]


async def test_a_name_that_leads_to_a_metadata_address_is_refused(
    http: LookupClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    zone = FakeZone({"crm.evil.test": ["64:ff9b::a9fe:a9fe"]})  # 169.254.169.254 through NAT64
    monkeypatch.setattr("helpline.bot.lookup_client.resolve", zone)
    with capture_logs() as logs:
        assert await lookup(http, "http://crm.evil.test/orders/{number}") == FAILED
    assert [e["reason"] for e in logs if e["event"] == "lookup_host_refused"] == [
        "a link-local, multicast or unspecified address"
    ]


@pytest.fixture(scope="module")
def tls_crm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, ssl.SSLContext, Path]]:
    """A CRM on https with a certificate for crm.test only, and a client context trusting it."""
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=crm.test",
            "-addext",
            "subjectAltName=DNS:crm.test",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )

    class Crm(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"status": "shipped", "host": self.headers.get("host")}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Crm)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], ssl.create_default_context(cafile=str(cert)), cert
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("name", "answers"), [("crm.test", True), ("other.test", False)])
async def test_a_pinned_https_lookup_still_checks_the_certificate_against_the_name(
    tls_crm: tuple[int, ssl.SSLContext, Path], monkeypatch: pytest.MonkeyPatch, name: str, answers: bool
) -> None:
    """The request goes to the checked address, and TLS still presents and verifies the name: the
    certificate for crm.test is accepted for crm.test only."""
    port, trusted, _ = tls_crm
    monkeypatch.setattr("helpline.bot.lookup_client.resolve", FakeZone({name: ["127.0.0.1"]}))
    async with LookupClient(verify=trusted) as client:
        result = await lookup(client, f"https://{name}:{port}/orders/{{number}}")
    if answers:
        assert result.answer == {"status": "shipped", "host": f"crm.test:{port}"}
    else:
        assert result == FAILED


async def test_one_client_checks_each_names_certificate_on_its_own_connection(
    tls_crm: tuple[int, ssl.SSLContext, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two names on one address: the connection opened (and verified) for crm.test never serves
    other.test, whose certificate check fails."""
    port, trusted, _ = tls_crm
    monkeypatch.setattr(
        "helpline.bot.lookup_client.resolve",
        FakeZone({"crm.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]}),
    )
    async with LookupClient(verify=trusted) as client:
        first = await lookup(client, f"https://crm.test:{port}/orders/{{number}}")
        second = await lookup(client, f"https://other.test:{port}/orders/{{number}}")
    assert first.answer is not None
    assert second == FAILED


async def test_each_checked_address_is_tried_in_turn(
    crm: FakeCrm, http: LookupClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name answers ::1 first, where nothing listens; the CRM is on 127.0.0.1."""
    port = crm.url.rsplit(":", 1)[1]

    async def both(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        return [ipaddress.ip_address("::1"), ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr("helpline.bot.lookup_client.resolve", both)
    result = await lookup(http, f"http://crm.test:{port}/orders/{{number}}")
    assert result.answer == {"status": "shipped", "eta": "2"}


async def test_a_proxy_from_the_environment_is_not_used(
    crm: FakeCrm, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy would resolve the name itself, past the check, and carry the token."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with LookupClient() as client:
        result = await lookup(client, f"{crm.url}/orders/{{number}}")
    assert result.answer == {"status": "shipped", "eta": "2"}


async def test_the_operators_certificate_authorities_are_trusted(
    tls_crm: tuple[int, ssl.SSLContext, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SSL_CERT_FILE names the company's own authority: the CRM's certificate comes from it."""
    port, _, cert = tls_crm
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    monkeypatch.setattr("helpline.bot.lookup_client.resolve", FakeZone({"crm.test": ["127.0.0.1"]}))
    async with LookupClient() as client:
        result = await lookup(client, f"https://crm.test:{port}/orders/{{number}}")
    assert result.answer is not None
