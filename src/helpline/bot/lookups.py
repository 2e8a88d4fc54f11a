"""A flow's external lookups (order status, balance…): one HTTP GET, a bounded wait, JSON back.

The company's system answers `GET url` (with the collected fields filled into the URL, each
URL-encoded) with a JSON object whose string/number fields the flow's answer template may use;
404 means "no such thing". The bearer token, when the system needs one, comes from the
environment variable the flow names, so flow files never hold secrets.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

import httpx

from helpline.domain.flows.model import LookupEndpoint
from helpline.logs import get_logger

log = get_logger(__name__)

#: Answers larger than this are not a record about one customer.
MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class LookupResult:
    """`answer` is None when the system knows nothing; `failed` when it could not be asked."""

    answer: Mapping[str, str] | None
    failed: bool = False


class _Fields(dict[str, str]):
    def __missing__(self, key: str) -> str:
        raise KeyError(key)


def lookup_url(endpoint: LookupEndpoint, fields: Mapping[str, str]) -> str:
    """The URL with each `{field}` replaced by its URL-encoded value (a value cannot add a path)."""
    return endpoint.url.format_map(_Fields({k: quote(v, safe="") for k, v in fields.items()}))


async def run_lookup(
    http: httpx.AsyncClient, endpoint: LookupEndpoint, fields: Mapping[str, str]
) -> LookupResult:
    try:
        url = lookup_url(endpoint, fields)
    except (KeyError, ValueError, IndexError):
        log.warning("lookup_url_incomplete", lookup=endpoint.name)
        return LookupResult(None, failed=True)
    headers = {"Accept": "application/json"}
    if endpoint.token_env:
        token = os.environ.get(endpoint.token_env)
        if token:
            headers["Authorization"] = f"Bearer {token}"
    try:
        response = await http.get(url, headers=headers, timeout=endpoint.timeout_seconds)
    except httpx.HTTPError as exc:
        log.warning("lookup_unreachable", lookup=endpoint.name, error=type(exc).__name__)
        return LookupResult(None, failed=True)
    if response.status_code == 404:
        return LookupResult(None)
    if response.status_code != 200 or len(response.content) > MAX_ANSWER_BYTES:
        log.warning("lookup_bad_answer", lookup=endpoint.name, status=response.status_code)
        return LookupResult(None, failed=True)
    try:
        data = response.json()
    except ValueError:
        return LookupResult(None, failed=True)
    if not isinstance(data, dict):
        return LookupResult(None, failed=True)
    flat = {
        str(k): str(v)
        for k, v in data.items()
        if isinstance(v, str | int | float) and not isinstance(v, bool)
    }
    return LookupResult(flat)
