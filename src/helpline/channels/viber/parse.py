"""Turn one Viber REST bot API callback into what Helpline does with it, without I/O.

Viber POSTs one JSON object per callback to the account's webhook, named by its `event`
(https://developers.viber.com/docs/api/rest-bot-api/#callbacks). Everything here is a pure
function of that object, so it can be checked against the documented payloads and fuzzed. The
outcomes map onto what the webhook does:

* a `ViberInbound`: a customer wrote to the bot (`message`); it must be stored;
* a `StatusReceipt`: Viber reports what became of a message we sent (`delivered`, `seen`,
  `failed`); it moves the message's delivery status;
* a `Notice`: a well-formed callback that carries nothing to store (`webhook`, `subscribed`,
  `unsubscribed`, `conversation_started`, or an event this module does not know). The webhook
  answers 200 so that Viber does not re-send it for an hour;
* `ValueError`: the payload does not have the documented shape; the message names the field and
  the webhook answers 400.

Only the fields this module reads are validated; unknown fields are ignored, because Viber adds
optional fields over time.

A shared `contact` is kept as text and never treated as the customer's own number. Viber's
callbacks carry no phone number of the user (the `user`/`sender` object is id, name, avatar,
country, language, api_version), and a contact message has no owner field: one sent with a
`share-phone` keyboard button looks exactly like a card picked from the address book. Linking on
it would let anyone who knows a customer's number attach their own Viber account to that
customer's history, so Viber contacts are shown to agents and nothing more.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from helpline.channels.base import StatusReceipt
from helpline.domain.conversations import DeliveryStatus
from helpline.domain.inbound import unsupported_note

__all__ = ["MediaRef", "Notice", "ViberInbound", "parse_callback"]


@dataclass(frozen=True, slots=True)
class MediaRef:
    """A file attached to a message: Viber hands over a URL, valid for one hour.

    `filename` and `content_type` are what the callback says (or a default by kind); the
    attachment service checks the downloaded bytes itself.
    """

    url: str
    kind: str  # "picture" | "video" | "file"
    filename: str
    content_type: str
    size: int | None


@dataclass(frozen=True, slots=True)
class ViberInbound:
    """One customer message, flattened for the inbox.

    `provider_message_id` is the callback's `message_token`, which Viber keeps when it re-sends
    a callback our webhook did not acknowledge: that makes redeliveries recognisable. `user_id`
    is the sender's id, unique per user and bot, and also the `receiver` replies go to.
    """

    provider_message_id: str
    user_id: str
    sender_name: str | None
    language_code: str | None
    text: str
    sent_at: datetime
    media: tuple[MediaRef, ...]


@dataclass(frozen=True, slots=True)
class Notice:
    """A callback acknowledged without storing anything; `user_id` where the event names one."""

    event: str
    user_id: str | None
    at: datetime


#: Receipt events and the delivery status each reports.
_RECEIPTS: Final = {
    "delivered": DeliveryStatus.DELIVERED,
    "seen": DeliveryStatus.READ,
    "failed": DeliveryStatus.FAILED,
}

#: Defaults for media whose callback names no file: Viber sends pictures as JPEG and videos as MP4.
_MEDIA_DEFAULTS: Final = {
    "picture": ("picture.jpg", "image/jpeg"),
    "video": ("video.mp4", "video/mp4"),
    "file": ("file", "application/octet-stream"),
}

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

#: A failure description longer than this is cut: it is shown next to a message, not read as a log.
MAX_ERROR = 300


def parse_callback(callback: Mapping[str, Any]) -> ViberInbound | StatusReceipt | Notice:
    """What a webhook callback means for Helpline; ValueError naming the field if it is malformed."""
    if not isinstance(callback, Mapping):
        raise ValueError("a callback must be a JSON object")
    event = _require_str(callback, "event", "callback")
    if not event:
        raise ValueError("callback.event must not be empty")
    at = _timestamp(callback)
    if event == "message":
        return _parse_message(callback, at)
    if event in _RECEIPTS:
        return _parse_receipt(callback, event, at)
    if event in ("subscribed", "conversation_started"):
        user = _user(_require_object(callback, "user", "callback"), "callback.user")
        return Notice(event, user.id, at)
    if event == "unsubscribed":
        return Notice(event, _user_id(callback, "user_id", "callback"), at)
    # "webhook" (the check Viber makes when the webhook is set) and events added after this was
    # written: acknowledged, so that Viber does not keep re-sending them.
    return Notice(event, None, at)


# --- messages -------------------------------------------------------------------------------------


def _parse_message(callback: Mapping[str, Any], at: datetime) -> ViberInbound:
    token = _message_token(callback)
    sender = _user(_require_object(callback, "sender", "callback"), "callback.sender")
    message = _require_object(callback, "message", "callback")
    text, media = _content(message)
    return ViberInbound(
        provider_message_id=str(token),
        user_id=sender.id,
        sender_name=sender.name,
        language_code=sender.language,
        text=text,
        sent_at=at,
        media=media,
    )


def _content(message: Mapping[str, Any]) -> tuple[str, tuple[MediaRef, ...]]:
    """(text, media) of a message, whatever its type.

    Types we cannot show still produce a line of text, so that the agent sees that the customer
    sent *something* rather than nothing at all.
    """
    where = "message"
    kind = _require_str(message, "type", where)
    caption = _optional_str(message, "text", where) or ""
    if kind == "text":
        return _require_str(message, "text", where), ()
    if kind in _MEDIA_DEFAULTS:
        return caption, (_media(message, kind),)
    if kind == "location":
        return _location_text(_require_object(message, "location", where)), ()
    if kind == "contact":
        return _contact_text(_require_object(message, "contact", where)), ()
    if kind == "url":
        url = _require_str(message, "media", where)
        return (caption if caption and caption != url else url), ()
    if kind == "sticker":
        _optional_int(message, "sticker_id", where)
    return unsupported_note(kind or "unknown"), ()


def _media(message: Mapping[str, Any], kind: str) -> MediaRef:
    where = "message"
    url = _require_str(message, "media", where)
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"{where}.media must be an http(s) URL")
    default_name, content_type = _MEDIA_DEFAULTS[kind]
    filename = _optional_str(message, "file_name", where) or default_name
    size = _optional_int(message, "file_size", where)
    if size is not None and size < 0:
        raise ValueError(f"{where}.file_size must not be negative")
    return MediaRef(url, kind, filename, content_type, size)


def _location_text(location: Mapping[str, Any]) -> str:
    where = "message.location"
    latitude = _coordinate(location, "lat", where, 90.0)
    longitude = _coordinate(location, "lon", where, 180.0)
    link = f"https://www.openstreetmap.org/?mlat={latitude}&mlon={longitude}"
    return f"Location: {latitude}, {longitude} {link}"


def _contact_text(contact: Mapping[str, Any]) -> str:
    """A shared contact card as a line of text (see the module docstring for why only text)."""
    where = "message.contact"
    name = (_optional_str(contact, "name", where) or "").strip()
    phone = (_optional_str(contact, "phone_number", where) or "").strip()
    parts = " ".join(part for part in (name, phone) if part)
    return f"Contact: {parts}" if parts else "Contact: (empty)"


def _coordinate(obj: Mapping[str, Any], key: str, where: str, limit: float) -> str:
    """A latitude or longitude, checked and written with six decimals (about 10 cm).

    The callback example sends numbers, the documented send_message example strings ("37.7898"):
    both are read.
    """
    value = obj.get(key)
    if isinstance(value, str) and len(value) <= 32:
        with contextlib.suppress(ValueError):
            value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}.{key} must be a number")
    # Compare before converting: a huge JSON integer would overflow `float`.
    if (isinstance(value, float) and not math.isfinite(value)) or not -limit <= value <= limit:
        raise ValueError(f"{where}.{key} must be between -{limit:g} and {limit:g}")
    return f"{value:.6f}"


# --- receipts -------------------------------------------------------------------------------------


def _parse_receipt(callback: Mapping[str, Any], event: str, at: datetime) -> StatusReceipt:
    """`delivered`, `seen` or `failed` for the message whose send answered this `message_token`."""
    token = _message_token(callback)
    _user_id(callback, "user_id", "callback")
    error = None
    if event == "failed":
        desc = (_optional_str(callback, "desc", "callback") or "").strip()
        error = f"Viber: {desc[:MAX_ERROR]}" if desc else None
    return StatusReceipt(provider_message_id=str(token), status=_RECEIPTS[event], at=at, error=error)


# --- shared objects -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _User:
    id: str
    name: str | None
    language: str | None


def _user(obj: Mapping[str, Any], where: str) -> _User:
    """The documented user object: `id` always; name, avatar, country, language, api_version optional."""
    user_id = _user_id(obj, "id", where)
    name = (_optional_str(obj, "name", where) or "").strip()
    language = (_optional_str(obj, "language", where) or "").strip()
    _optional_int(obj, "api_version", where)
    return _User(user_id, name or None, language or None)


def _user_id(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = _require_str(obj, key, where).strip()
    if not value:
        raise ValueError(f"{where}.{key} must not be empty")
    return value


def _message_token(callback: Mapping[str, Any]) -> int:
    """The callback's `message_token`: a 64-bit integer in every documented example."""
    return _require_int(callback, "message_token", "callback")


def _timestamp(callback: Mapping[str, Any]) -> datetime:
    """`timestamp`: epoch time of the event, in milliseconds."""
    millis = _require_int(callback, "timestamp", "callback")
    if millis <= 0:
        raise ValueError("callback.timestamp must be a positive epoch time in milliseconds")
    try:
        return _EPOCH + timedelta(milliseconds=millis)  # exact, unlike a float division
    except (OverflowError, ValueError) as exc:
        raise ValueError("callback.timestamp is out of range") from exc


# --- field access ---------------------------------------------------------------------------------
# JSON gives us `bool` where an integer belongs as easily as anything else, and Python's bool is an
# int, so integer checks exclude it explicitly.


def _as_object(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} must be an object")
    return value


def _require_object(obj: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    return _as_object(obj.get(key), f"{where}.{key}")


def _require_int(obj: Mapping[str, Any], key: str, where: str) -> int:
    if key not in obj:
        raise ValueError(f"{where}.{key} is required")
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where}.{key} must be an integer")
    return value


def _optional_int(obj: Mapping[str, Any], key: str, where: str) -> int | None:
    if obj.get(key) is None:
        return None
    return _require_int(obj, key, where)


def _require_str(obj: Mapping[str, Any], key: str, where: str) -> str:
    if key not in obj:
        raise ValueError(f"{where}.{key} is required")
    value = obj[key]
    if not isinstance(value, str):
        raise ValueError(f"{where}.{key} must be a string")
    return value


def _optional_str(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    if obj.get(key) is None:
        return None
    return _require_str(obj, key, where)
