"""Talking to the Graph API: how to authenticate, and what its error answers mean.

Every Graph error has one shape (Messenger Platform "Common Error Codes"):
`{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`, usually with HTTP 400
whatever the cause, so the `code` decides, not the status:

* rate limits: 4 (application), 17 (user), 32 (Page), 613 ("Calls to this API have exceeded the
  rate limit") and the Business Use Case codes 80001 (Pages), 80002 (Instagram), 80006
  (Messenger) of the Graph API "Rate Limits" page; HTTP 429 too. Meta does not send Retry-After:
  the wait is `estimated_time_to_regain_access` (minutes) in the `X-Business-Use-Case-Usage`
  header, which is honoured when present;
* temporary: 1 ("An unknown error occurred"), 2 ("An unexpected error has occurred. Please retry
  your request later"), 1200 ("Temporary send message failure. Please try again later"), any 5xx,
  and errors Meta flags `is_transient`;
* everything else is permanent: 10/2018278 (outside the 24-hour window), 551 ("This person isn't
  available right now"), 190 (invalid OAuth access token), 100 (invalid parameter, no matching
  user), 200 (permissions)…

The token travels in the `Authorization: Bearer` header, never in a URL, and no reason built
here contains a URL, a header or an exception's text: only Meta's own message and code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx

from helpline.domain.delivery import Rejected, RetryLater

RATE_LIMIT_CODES: Final = frozenset({4, 17, 32, 613, 80001, 80002, 80006})
TEMPORARY_CODES: Final = frozenset({1, 2, 1200})
_MAX_REASON = 300


def auth_headers(config: Mapping[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {config.get('page_access_token') or ''}"}


@dataclass(frozen=True, slots=True)
class GraphError:
    """The fields of a Graph error object this adapter uses."""

    message: str
    code: int | None
    subcode: int | None
    transient: bool


def graph_error(body: object) -> GraphError | None:
    """The `error` object of a Graph answer, if it has one (any field may be missing)."""
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return None

    def number(key: str) -> int | None:
        value = error.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    message = error.get("message")
    return GraphError(
        message=" ".join(str(message).split())[:_MAX_REASON] if message else "",
        code=number("code"),
        subcode=number("error_subcode"),
        transient=error.get("is_transient") is True,
    )


def failure(platform: str, response: httpx.Response, body: object) -> RetryLater | Rejected:
    """What an answer other than success means for the message: try again later, or never."""
    status = response.status_code
    error = graph_error(body)
    if error is None or error.code is None:
        detail = (error.message if error else "") or response.reason_phrase or "error"
        reason = f"{platform} HTTP {status}: {detail}"
        code = None
    else:
        numbers = f"{error.code}/{error.subcode}" if error.subcode is not None else f"{error.code}"
        reason = f"{platform} error {numbers}: {error.message or response.reason_phrase or 'error'}"
        code = error.code
    if status == 429 or code in RATE_LIMIT_CODES:
        return RetryLater(reason, retry_after(response.headers))
    if status >= 500 or status == 408 or code in TEMPORARY_CODES or (error and error.transient):
        return RetryLater(reason)
    return Rejected(reason)


def retry_after(headers: httpx.Headers) -> float | None:
    """Seconds to wait: Retry-After if sent, else the longest `estimated_time_to_regain_access`."""
    header = headers.get("retry-after")
    if header is not None:
        try:
            seconds = float(header)
        except ValueError:
            seconds = -1.0
        if 0 <= seconds < float("inf"):
            return seconds
    minutes = [m for name in ("x-business-use-case-usage", "x-app-usage") for m in _regain(headers.get(name))]
    return max(minutes) * 60.0 if minutes and max(minutes) > 0 else None


def _regain(header: str | None) -> list[float]:
    """`estimated_time_to_regain_access` values anywhere in a usage header's JSON."""
    if not header:
        return []
    try:
        usage = json.loads(header)
    except ValueError:
        return []
    found: list[float] = []
    stack: list[object] = [usage]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            value = item.get("estimated_time_to_regain_access")
            if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 10**6:
                found.append(float(value))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found
