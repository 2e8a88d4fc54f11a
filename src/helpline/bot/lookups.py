"""A flow's external lookups (order status, balance…): one HTTP GET, a bounded wait, JSON back.

The company's system answers `GET url` (with the collected fields filled into the URL, each
URL-encoded) with a JSON object whose string/number fields the flow's answer template may use;
404 means "no such thing". The bearer token, when the system needs one, comes from the
environment variable the flow names, so flow files never hold secrets.

A lookup runs inside a customer's turn, so whatever the other system does (answers slowly,
answers too much, answers nonsense, redirects) it ends within `timeout_seconds` as "failed" and
the flow takes its "lookup failed" branch; it never takes the turn (or the worker's memory) down.
Where it may connect at all is `lookup_hosts`' business.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

import httpx

from helpline.bot.lookup_client import LookupClient
from helpline.domain.flows.model import (
    LOOKUP_TOKEN_ENV_PREFIX,
    LookupEndpoint,
    fill_placeholders,
    placeholders,
)
from helpline.logs import get_logger

log = get_logger(__name__)

#: Answers larger than this are not a record about one customer.
MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class LookupResult:
    """`answer` is None when the system knows nothing; `failed` when it could not be asked."""

    answer: Mapping[str, str] | None
    failed: bool = False


FAILED = LookupResult(None, failed=True)


def lookup_url(endpoint: LookupEndpoint, fields: Mapping[str, str]) -> str:
    """The URL with each `{field}` replaced by its URL-encoded value (a value cannot add a path).

    KeyError when the flow has not collected a field the URL names."""
    missing = placeholders(endpoint.url) - fields.keys()
    if missing:
        raise KeyError(", ".join(sorted(missing)))
    return fill_placeholders(endpoint.url, {k: quote(v, safe="") for k, v in fields.items()})


async def run_lookup(
    client: LookupClient, endpoint: LookupEndpoint, fields: Mapping[str, str]
) -> LookupResult:
    try:
        url = lookup_url(endpoint, fields)
    except (KeyError, ValueError, IndexError):
        log.warning("lookup_url_incomplete", lookup=endpoint.name)
        return FAILED
    headers = {"Accept": "application/json", "Accept-Encoding": "identity"}
    token = _token(endpoint)
    if token:
        if not _token_may_travel(url):
            log.warning("lookup_token_over_plain_http", lookup=endpoint.name)
            return FAILED
        headers["Authorization"] = f"Bearer {token}"
    try:
        # httpx's timeout bounds each read, not the whole answer: a server sending a byte just
        # inside it each time would hold the turn for as long as it liked.
        async with asyncio.timeout(endpoint.timeout_seconds):
            refused = await client.check(url)
            if refused is not None:
                log.warning("lookup_host_refused", lookup=endpoint.name, reason=refused)
                return FAILED
            body = await _fetch(client.http, endpoint, url, headers)
    except TimeoutError:
        log.warning("lookup_too_slow", lookup=endpoint.name, seconds=endpoint.timeout_seconds)
        return FAILED
    if isinstance(body, LookupResult):
        return body
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # deep nesting ("[[[[…") exhausts the parser's stack
        log.warning("lookup_bad_json", lookup=endpoint.name)
        return FAILED
    if not isinstance(data, dict):
        return FAILED
    flat = {
        str(k): str(v)
        for k, v in data.items()
        if isinstance(v, str | int | float) and not isinstance(v, bool)
    }
    return LookupResult(flat)


def _token(endpoint: LookupEndpoint) -> str | None:
    """The endpoint's bearer token, read only from a variable meant for lookups.

    The flow schema already refuses other names; this check also covers flows stored before it
    and any other way an endpoint is built, since the name is chosen by whoever writes flows and
    anything else in the environment (the database URL…) would be sent to their URL.
    """
    name = endpoint.token_env
    if not name:
        return None
    if not name.startswith(LOOKUP_TOKEN_ENV_PREFIX):
        log.warning("lookup_token_variable_refused", lookup=endpoint.name, variable=name)
        return None
    return os.environ.get(name) or None


def _token_may_travel(url: str) -> bool:
    """Whether a bearer token may go to `url`: not in clear text over a network.

    Plain `http://` is allowed to loopback only (a system on the same host, a sidecar, tests).
    """
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return False
    if parsed.scheme != "http":
        return True  # https; any other scheme is refused by the client before a byte is sent
    host = parsed.host.rstrip(".").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _fetch(
    http: httpx.AsyncClient, endpoint: LookupEndpoint, url: str, headers: Mapping[str, str]
) -> bytes | LookupResult:
    """The answer's body, at most MAX_ANSWER_BYTES of it read; or the result when there is none.

    Streamed, so an answer of any size costs at most MAX_ANSWER_BYTES of memory. Compressed
    answers are not accepted (the request says `identity`): a few kilobytes of gzip can inflate
    to far more than the limit before it could be checked.
    """
    try:
        async with http.stream(
            "GET", url, headers=headers, timeout=endpoint.timeout_seconds, follow_redirects=False
        ) as response:
            if response.status_code == 404:
                return LookupResult(None)
            encoding = response.headers.get("content-encoding", "identity").strip().lower()
            declared = response.headers.get("content-length", "")
            if (
                response.status_code != 200
                or encoding not in ("", "identity")
                or (declared.isdigit() and int(declared) > MAX_ANSWER_BYTES)
            ):
                log.warning("lookup_bad_answer", lookup=endpoint.name, status=response.status_code)
                return FAILED
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_ANSWER_BYTES:
                    log.warning("lookup_answer_too_large", lookup=endpoint.name)
                    return FAILED
            return bytes(body)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        log.warning("lookup_unreachable", lookup=endpoint.name, error=type(exc).__name__)
        return FAILED
