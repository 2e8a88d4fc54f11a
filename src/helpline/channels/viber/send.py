"""Sending through the Viber REST bot API (`send_message`), as its documentation specifies.

Every request carries the account's token in the `X-Viber-Auth-Token` header and a JSON body
(https://developers.viber.com/docs/api/rest-bot-api/#send-message). Viber answers HTTP 200 for
its own errors too, so what happened is read from the body's `status` (0 is success) and
`status_message`; only a 5xx, a timeout or a dropped connection says nothing about the message.
The token is in a header, never in a URL, and no reason built here contains a URL, a header or an
httpx exception text: reasons are shown to agents.

Viber takes pictures and files only as public URLs (`media`), and Helpline's files are private
to its file store, so attached files are named in the text instead of being sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

import httpx

from helpline.channels.base import OutboundFile, OutboundMessage, ReplyOption
from helpline.channels.text import split_text, with_numbered_options
from helpline.domain.delivery import Delivered, DeliveryOutcome, Rejected, RetryLater, http_outcome

DEFAULT_API_BASE = "https://chatapi.viber.com/pa"
AUTH_HEADER = "X-Viber-Auth-Token"
#: Text message: "Max length 7,000 characters".
MAX_TEXT = 7000
#: "The maximum JSON for all API requests is 30kb" (FAQ). A piece of text is kept well under it
#: in UTF-8 (7,000 four-byte characters would not fit), leaving room for the keyboard.
MAX_TEXT_BYTES = 20 * 1024
#: ...and a keyboard bigger than this goes as numbered text (long payloads could fill the request).
MAX_KEYBOARD_BYTES = 8 * 1024
#: "The keyboard can contain up to 12 rows in portrait mode" (FAQ); one button per row.
MAX_BUTTONS = 12
#: Button `Text`: "Max 250 characters".
MAX_BUTTON_TEXT = 250
#: `sender.name`: "Required. Max 28 characters."
MAX_SENDER_NAME = 28
DEFAULT_SENDER_NAME = "Support"
#: Reply buttons and plain text need nothing newer than the first API level...
MIN_API_VERSION = 1
#: ...a share-phone button needs API level 3 ("If you use api level 3 parameters you will have
#: to set the min_api_version parameter on right api level as well").
SHARE_PHONE_API_VERSION = 3

#: Viber's documented `status` codes (Error Codes table of the REST bot API), with their texts.
STATUS_TEXT: Final = {
    1: "The webhook URL is not valid",
    2: "The authentication token is not valid",
    3: "There is an error in the request itself (missing comma, brackets, etc.)",
    4: "Some mandatory data is missing",
    5: "The receiver is not registered to Viber",
    6: "The receiver is not subscribed to the account",
    7: "The account is blocked",
    8: "The account associated with the token is not a account.",
    9: "The account is suspended",
    10: "No webhook was set for the account",
    11: "The receiver is using a device or a Viber version that don't support accounts",
    12: "Rate control breach",
    13: (
        "Maximum supported account version by all user's devices is less than the minApiVersion "
        "in the message"
    ),
    14: "minApiVersion is not compatible to the message fields",
    15: "The account is not authorized",
    16: "Inline message not allowed",
    17: "The account is not inline",
    18: "Failed to post to public account. The bot is missing a Public Chat interface",
    19: "Cannot send broadcast message",
    20: "Attempt to send broadcast message from the bot",
}
#: `tooManyRequests`: send_message allows 100 messages an hour to a user who has not replied.
RATE_LIMITED = 12
#: Statuses that say the request, the account or the receiver is wrong: the same request will
#: fail the same way, so retrying cannot help. Anything else (Viber's "other: General error")
#: may be temporary and is retried within the retry policy.
PERMANENT: Final = frozenset(STATUS_TEXT) - {RATE_LIMITED}


def keyboard(options: Sequence[ReplyOption], *, reserved: int = 0) -> dict[str, Any] | None:
    """Reply buttons, one per row, or None when the options cannot all be buttons.

    A pressed `reply` button sends its `ActionBody` to the bot as a text message, so the payload
    comes back as the customer's message, like a Telegram callback. `ActionBody` is required, so
    an empty payload cannot be a button; past MAX_BUTTONS (less `reserved` rows kept for other
    buttons) a numbered list reads better.
    """
    if not options or len(options) > MAX_BUTTONS - reserved or any(not o.payload for o in options):
        return None
    buttons = [
        {
            "Columns": 6,
            "Rows": 1,
            "ActionType": "reply",
            "ActionBody": o.payload,
            "Text": _button_text(o.label or o.payload),
        }
        for o in options
    ]
    board = {"Type": "keyboard", "Buttons": buttons}
    if len(json.dumps(board, ensure_ascii=False).encode()) > MAX_KEYBOARD_BYTES:
        return None
    return board


def share_phone_keyboard(label: str, options: Sequence[ReplyOption]) -> dict[str, Any]:
    """The share-phone button first (it sends the customer's own number as a contact message),
    then the options as reply buttons when they can all be buttons (else they go as numbered
    text and only the share-phone button is shown)."""
    return _with_share_phone(keyboard(options, reserved=1), label)


def _with_share_phone(board: dict[str, Any] | None, label: str) -> dict[str, Any]:
    share = {
        "Columns": 6,
        "Rows": 1,
        "ActionType": "share-phone",
        "ActionBody": "share-phone",
        "Text": _button_text(label),
    }
    return {"Type": "keyboard", "Buttons": [share, *(board["Buttons"] if board else [])]}


def _button_text(label: str) -> str:
    return label if len(label) <= MAX_BUTTON_TEXT else label[: MAX_BUTTON_TEXT - 1] + "…"


def text_pieces(text: str) -> list[str]:
    """`text` in pieces Viber accepts: at most 7,000 characters and MAX_TEXT_BYTES of UTF-8."""
    pieces: list[str] = []
    for piece in split_text(text, MAX_TEXT):
        if len(piece.encode()) <= MAX_TEXT_BYTES:
            pieces.append(piece)
        else:  # four bytes a character at most: this many characters always fit
            pieces.extend(split_text(piece, MAX_TEXT_BYTES // 4))
    return pieces


def with_file_names(text: str, files: Sequence[OutboundFile]) -> str:
    """`text` followed by the names of files that cannot go through Viber (see the module doc)."""
    if not files:
        return text
    lines = [f"📎 {file.filename}" for file in files]
    return "\n".join([text, "", *lines]) if text else "\n".join(lines)


def outcome_of(data: Mapping[str, Any]) -> DeliveryOutcome:
    """What a `send_message` answer (HTTP 200) means, by its `status`."""
    status = data.get("status")
    if isinstance(status, bool) or not isinstance(status, int):
        return RetryLater("Viber answered without a status")
    if status == 0:
        token = data.get("message_token")
        valid = isinstance(token, int | str) and not isinstance(token, bool) and str(token)
        return Delivered(str(token) if valid else None)
    message = data.get("status_message")
    text = message.strip()[:300] if isinstance(message, str) and message.strip() else None
    reason = f"Viber {status}: {text or STATUS_TEXT.get(status, 'General error')}"
    if status in PERMANENT:
        return Rejected(reason)
    return RetryLater(reason)


class ViberSender:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def send(self, config: Mapping[str, Any], message: OutboundMessage) -> DeliveryOutcome:
        token = config.get("auth_token")
        if not token or not isinstance(token, str):
            return Rejected("the Viber account has no auth token configured")
        if not message.recipient.strip():
            return Rejected("not a Viber user id")
        url = f"{str(config.get('api_base') or DEFAULT_API_BASE).rstrip('/')}/send_message"
        base = {
            "receiver": message.recipient,
            "min_api_version": SHARE_PHONE_API_VERSION if message.phone_request else MIN_API_VERSION,
            "sender": sender(config),
            "type": "text",
        }
        text = with_file_names(message.text, message.files)
        board = keyboard(message.options, reserved=1 if message.phone_request else 0)
        if message.options and board is None:  # not buttons: a numbered list
            text = with_numbered_options(text, message.options)
        if message.phone_request:
            board = _with_share_phone(board, message.phone_request)
        pieces = text_pieces(text)
        if board is not None and pieces == [""]:
            pieces = ["…"]  # a keyboard travels with a message
        outcome: DeliveryOutcome = Rejected("empty message")
        for n, piece in enumerate(pieces):
            if not piece.strip():
                continue
            body = {**base, "text": piece}
            if board is not None and n == len(pieces) - 1:
                body["keyboard"] = board
            outcome = await self._call(url, token, body)
            if not isinstance(outcome, Delivered):
                return outcome
        return outcome

    async def _call(self, url: str, token: str, body: Mapping[str, Any]) -> DeliveryOutcome:
        try:
            response = await self._http.post(url, json=body, headers={AUTH_HEADER: token})
        except httpx.TimeoutException as exc:
            return RetryLater(f"Viber did not answer in time ({type(exc).__name__})")
        except httpx.TransportError as exc:
            return RetryLater(f"could not reach Viber ({type(exc).__name__})")
        if response.status_code != 200:
            return http_outcome(
                response.status_code, f"Viber HTTP {response.status_code}", _retry_after(response)
            )
        try:
            data = response.json()
        except ValueError:
            return RetryLater("Viber answered with something that is not JSON")
        if not isinstance(data, dict):
            return RetryLater("Viber answered without a status")
        return outcome_of(data)


def sender(config: Mapping[str, Any]) -> dict[str, str]:
    """`sender`: the bot's name as shown above its messages (required), and an optional avatar URL."""
    name = str(config.get("sender_name") or "").strip() or DEFAULT_SENDER_NAME
    result = {"name": name[:MAX_SENDER_NAME]}
    avatar = str(config.get("sender_avatar") or "").strip()
    if avatar:
        result["avatar"] = avatar
    return result


def _retry_after(response: httpx.Response) -> float | None:
    header = response.headers.get("retry-after")
    if header is None:
        return None
    try:
        return float(header)
    except ValueError:
        return None
