"""Calling VK API methods and reading their answers, shared by the sender and the receiver.

Every method is `POST {api_base}/{method}` with form parameters, `access_token` and `v` among
them (https://dev.vk.com/ru/api/api-requests). The token travels in the body, never in the URL,
so no URL that reaches a log carries it. VK answers HTTP 200 both ways: `{"response": ...}` or
`{"error": {"error_code": N, "error_msg": "...", "request_params": [...]}}`; only `error_code` and
`error_msg` are ever used (request_params echo what we sent, the token included).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx

from helpline.domain.delivery import Rejected, RetryLater, http_outcome

DEFAULT_API_BASE: Final = "https://api.vk.com/method"
#: The version VK's published JSON schema (VKCOM/vk-api-schema) describes.
DEFAULT_API_VERSION: Final = "5.199"

#: Codes VK documents as passing ("Error codes", dev.vk.com/ru/reference/errors):
#: 1 unknown error ("try again later"), 6 too many requests per second, 9 flood control,
#: 10 internal server error, 29 rate limit reached.
TEMPORARY_CODES: Final = frozenset({1, 6, 9, 10, 29})
#: VK allows a community token 20 requests a second; after error 6 a second is enough.
TOO_MANY_PER_SECOND: Final = 6


@dataclass(frozen=True, slots=True)
class ApiFailure:
    """A call that did not succeed: what to tell the worker, and VK's own code if it gave one."""

    outcome: RetryLater | Rejected
    code: int | None = None


def api_base(config: Mapping[str, Any]) -> str:
    return str(config.get("api_base") or DEFAULT_API_BASE).rstrip("/")


def api_version(config: Mapping[str, Any]) -> str:
    return str(config.get("api_version") or DEFAULT_API_VERSION)


async def call(
    http: httpx.AsyncClient, config: Mapping[str, Any], method: str, params: Mapping[str, Any]
) -> Any | ApiFailure:
    """`response` of a successful call, or an ApiFailure (never raises for VK or network trouble)."""
    form = {key: str(value) for key, value in params.items() if value is not None}
    form["access_token"] = str(config.get("access_token") or "")
    form["v"] = api_version(config)
    try:
        response = await http.post(f"{api_base(config)}/{method}", data=form)
    except httpx.TimeoutException as exc:
        return ApiFailure(RetryLater(f"VK did not answer in time ({type(exc).__name__})"))
    except httpx.TransportError as exc:
        return ApiFailure(RetryLater(f"could not reach VK ({type(exc).__name__})"))
    return read_answer(response)


def read_answer(response: httpx.Response) -> Any | ApiFailure:
    """Classify one HTTP answer from VK (an API method or an upload server)."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code != 200:
        return ApiFailure(http_outcome(response.status_code, f"VK answered HTTP {response.status_code}"))
    if isinstance(data, dict) and "response" in data:
        return data["response"]
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return api_error(error)
    return ApiFailure(RetryLater("VK answered something that is not an API response"))


def api_error(error: Mapping[str, Any]) -> ApiFailure:
    code = error.get("error_code")
    if isinstance(code, bool) or not isinstance(code, int):
        return ApiFailure(RetryLater("VK answered an error without a code"))
    message = str(error.get("error_msg") or "error")[:300]
    reason = f"VK {code}: {message}"
    if code in TEMPORARY_CODES:
        return ApiFailure(RetryLater(reason, 1.0 if code == TOO_MANY_PER_SECOND else None), code)
    return ApiFailure(Rejected(reason), code)
