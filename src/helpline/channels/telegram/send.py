"""Sending through the Telegram Bot API (`sendMessage`), as its documentation specifies.

Telegram answers errors as `{"ok": false, "error_code": N, "description": "...",
"parameters": {"retry_after": S}}`; 429 carries `retry_after`. The bot token is part of
the URL, so nothing here ever puts a URL or an httpx exception text into a reason that
agents (or logs) will see: only status codes, Telegram's description and exception names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import httpx

from helpline.channels.base import OutboundMessage, ReplyOption
from helpline.channels.text import split_text, with_numbered_options
from helpline.domain.delivery import Delivered, DeliveryOutcome, Rejected, RetryLater, http_outcome

DEFAULT_API_BASE = "https://api.telegram.org"
#: sendMessage's documented limit (1-4096 characters after entities parsing).
MAX_TEXT = 4096
#: sendPhoto/sendDocument captions: 0-1024 characters.
MAX_CAPTION = 1024
#: InlineKeyboardButton.callback_data: 1-64 bytes.
MAX_CALLBACK_DATA = 64
#: Past this many options a numbered list reads better than a wall of buttons.
MAX_BUTTONS = 10
#: What sendPhoto accepts as a photo; anything else goes as a document.
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})


def inline_keyboard(options: Sequence[ReplyOption]) -> dict[str, Any] | None:
    """One button per row (labels in three languages rarely fit side by side on a phone)."""
    rows = [
        [{"text": o.label, "callback_data": o.payload}]
        for o in options
        if 0 < len(o.payload.encode()) <= MAX_CALLBACK_DATA
    ]
    return {"inline_keyboard": rows} if rows else None


#: Sent with every message that has no buttons of its own: a "Share my number" keyboard hides
#: once used but stays a tap away under the keyboard icon until removed, and a contact shared
#: from it long after the question was asked reached the bot as a question. Removing a keyboard
#: that is not there does nothing. (A message with inline buttons cannot carry this too.)
NO_REPLY_KEYBOARD: Final = {"remove_keyboard": True}


def contact_keyboard(label: str, options: Sequence[ReplyOption]) -> dict[str, Any]:
    """A reply keyboard whose first button sends the customer's own number (request_contact).

    request_contact exists only on reply keyboards (KeyboardButton), not inline ones, and a
    message has one reply_markup, so the other options become text buttons: pressing one sends
    its label, which the flow runtime accepts like the digit. The keyboard hides once used.
    """
    rows: list[list[dict[str, Any]]] = [[{"text": label, "request_contact": True}]]
    rows.extend([{"text": o.label}] for o in options if o.label)
    return {"keyboard": rows, "one_time_keyboard": True, "resize_keyboard": True}


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
        base = f"{str(config.get('api_base') or DEFAULT_API_BASE).rstrip('/')}/bot{token}"
        text = message.text
        caption = None
        if message.files and len(text) <= MAX_CAPTION and not message.options:
            caption, text = text, ""
        outcome: DeliveryOutcome = Rejected("empty message")
        for n, file in enumerate(message.files):
            method, field = (
                ("sendPhoto", "photo") if file.content_type in PHOTO_TYPES else ("sendDocument", "document")
            )
            form = {"chat_id": str(chat_id)}
            if n == 0 and caption:
                form["caption"] = caption
            outcome = await self._call(
                f"{base}/{method}", data=form, files={field: (file.filename, file.data, file.content_type)}
            )
            if not isinstance(outcome, Delivered):
                return outcome
        if text or not message.files:
            fits = len(message.options) <= MAX_BUTTONS
            keyboard: dict[str, Any] | None
            if message.phone_request:
                keyboard = contact_keyboard(message.phone_request, message.options if fits else ())
            elif not message.options:
                keyboard = NO_REPLY_KEYBOARD
            else:
                keyboard = inline_keyboard(message.options) if fits else None
            if message.options and (not fits or keyboard is None):  # not buttons: a numbered list
                text = with_numbered_options(text, message.options)
            pieces = split_text(text, MAX_TEXT)
            for n, piece in enumerate(pieces):
                body: dict[str, Any] = {"chat_id": chat_id, "text": piece}
                if keyboard is not None and n == len(pieces) - 1:
                    body["reply_markup"] = keyboard
                outcome = await self._call(f"{base}/sendMessage", json=body)
                if not isinstance(outcome, Delivered):
                    return outcome
        if isinstance(outcome, Delivered) and outcome.provider_message_id is not None:
            return Delivered(f"{chat_id}:{outcome.provider_message_id}")
        return outcome

    async def _call(self, url: str, **request: Any) -> DeliveryOutcome:
        try:
            response = await self._http.post(url, **request)
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
