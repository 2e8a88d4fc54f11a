"""Sending through the Telegram Bot API (`sendMessage`), as its documentation specifies.

Telegram answers errors as `{"ok": false, "error_code": N, "description": "...",
"parameters": {"retry_after": S}}`; 429 carries `retry_after`. The bot token is part of
the URL, so nothing here ever puts a URL or an httpx exception text into a reason that
agents (or logs) will see: only status codes, Telegram's description and exception names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from helpline.channels.base import OutboundMessage
from helpline.domain.delivery import Delivered, DeliveryOutcome, Rejected, RetryLater, http_outcome

DEFAULT_API_BASE = "https://api.telegram.org"
#: sendMessage's documented limit (1-4096 characters after entities parsing).
MAX_TEXT = 4096


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Pieces of at most `limit` characters, cut at a line break or space where there is one."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = max(text.rfind("\n", 0, limit), text.rfind(" ", 0, limit))
        if cut <= 0:
            cut = limit
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n ")
    if text or not pieces:
        pieces.append(text)
    return pieces


class TelegramSender:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def send(self, config: Mapping[str, Any], message: OutboundMessage) -> DeliveryOutcome:
        token = config.get("bot_token")
        if not token:
            return Rejected("the Telegram account has no bot token configured")
        try:
            chat_id = int(message.recipient)
        except ValueError:
            return Rejected("not a Telegram chat id")
        base = str(config.get("api_base") or DEFAULT_API_BASE).rstrip("/")
        outcome: DeliveryOutcome = Rejected("empty message")
        for piece in split_text(message.text):
            outcome = await self._call(f"{base}/bot{token}/sendMessage", {"chat_id": chat_id, "text": piece})
            if not isinstance(outcome, Delivered):
                return outcome
        if isinstance(outcome, Delivered) and outcome.provider_message_id is not None:
            return Delivered(f"{chat_id}:{outcome.provider_message_id}")
        return outcome

    async def _call(self, url: str, body: Mapping[str, Any]) -> DeliveryOutcome:
        try:
            response = await self._http.post(url, json=body)
        except httpx.TimeoutException as exc:
            return RetryLater(f"Telegram did not answer in time ({type(exc).__name__})")
        except httpx.TransportError as exc:
            return RetryLater(f"could not reach Telegram ({type(exc).__name__})")
        try:
            data = response.json()
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        if response.status_code == 200 and data.get("ok") is True:
            result = data.get("result")
            message_id = result.get("message_id") if isinstance(result, dict) else None
            return Delivered(str(message_id) if message_id is not None else None)
        code = int(data.get("error_code") or response.status_code)
        description = str(data.get("description") or response.reason_phrase or "error")[:300]
        return http_outcome(code, f"Telegram {code}: {description}", retry_after(data, response))


def retry_after(data: Mapping[str, Any], response: httpx.Response) -> float | None:
    parameters = data.get("parameters")
    if isinstance(parameters, dict) and isinstance(parameters.get("retry_after"), int | float):
        return float(parameters["retry_after"])
    header = response.headers.get("retry-after")
    if header is not None:
        try:
            return float(header)
        except ValueError:
            return None
    return None
