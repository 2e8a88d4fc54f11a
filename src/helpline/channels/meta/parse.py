"""Turn a Messenger or Instagram webhook notification into what Helpline stores, without I/O.

Meta POSTs `{"object": "page" | "instagram", "entry": [...]}`; each entry is one Page (or
Instagram professional account) and carries `messaging[]` events: `message` (text, attachments,
quick-reply taps; also our own sends echoed back with `is_echo`), `postback` (a button press),
`delivery` and `read` receipts. Several entries, and several events, may come in one request
(Meta batches them), so the parser returns everything the request carries at once, and only
then does the receiver store it: a malformed event anywhere refuses the whole request (400)
before anything is written.

Outcomes, as in the Telegram parser:

* a `MetaNotification` with the customer messages, per-message receipts and watermarks to store;
* `None` for a notification of another `object` (a Page's feed changes arriving at the
  Messenger webhook, say): well-formed, nothing for us, acknowledged;
* `ValueError` naming the field, when the payload does not have the documented shape.

Events we do not store (reactions, referrals, opt-ins, handover, `standby` copies for the app
not in control, guest users of the chat plugin, deleted messages) are skipped, not refused:
Meta adds event kinds over time. Unknown fields are ignored for the same reason.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from helpline.domain.conversations import DeliveryStatus
from helpline.domain.inbound import unsupported_note

__all__ = [
    "MediaRef",
    "MetaInbound",
    "MetaNotification",
    "MetaReceipt",
    "MetaWatermark",
    "parse_notification",
]

#: Attachment types whose `payload.url` is the file itself, downloaded and stored.
MEDIA_KINDS: Final = ("image", "audio", "video", "file")
_DEFAULT_TYPES: Final = {
    "image": ("image", ".jpg", "image/jpeg"),
    "audio": ("audio", ".mp4", "audio/mp4"),  # Messenger voice clips are MPEG-4 audio
    "video": ("video", ".mp4", "video/mp4"),
    "file": ("file", ".bin", "application/octet-stream"),
}
#: Messenger's like button sends one of these stickers (small, medium, large thumbs up).
THUMBS_UP_STICKERS: Final = frozenset({"369239263222822", "369239343222814", "369239383222810"})
#: Below this a timestamp is in seconds, above in milliseconds. Webhook timestamps are epoch
#: milliseconds, but the postback reference shows seconds ("1527459824"); 10^11 ms is 1973,
#: 10^11 s the year 5138, so the two cannot be confused.
_MILLISECONDS_FROM: Final = 10**11
_MAX_FILENAME: Final = 120


@dataclass(frozen=True, slots=True)
class MediaRef:
    """A file a customer sent: where to fetch it, and what to call it if the download says nothing."""

    url: str
    kind: str  # "image" | "audio" | "video" | "file"
    filename: str
    content_type: str


@dataclass(frozen=True, slots=True)
class MetaInbound:
    """One customer message (or button press), flattened for the inbox.

    `provider_message_id` is the message's `mid`, which Meta keeps across webhook retries, so a
    redelivered notification stores nothing new. A postback without a `mid` (older API versions)
    gets an id made of what stays the same across retries: sender, timestamp and payload.
    `page_id` is the entry's id: the Page or Instagram account the message was sent to.
    """

    provider_message_id: str
    page_id: str
    sender_id: str
    text: str
    sent_at: datetime
    media: tuple[MediaRef, ...]
    #: The developer-defined payload of a quick reply or postback button, if one was tapped.
    payload: str | None


@dataclass(frozen=True, slots=True)
class MetaReceipt:
    """One message of ours that Meta says reached `status` (a `delivery` event's `mids`)."""

    page_id: str
    customer_id: str
    provider_message_id: str
    status: DeliveryStatus
    at: datetime


@dataclass(frozen=True, slots=True)
class MetaWatermark:
    """Everything we sent the customer up to a point reached `status`.

    Messenger's `read` (and `delivery` without `mids`) give a time: "all messages that were sent
    before or at this timestamp were read". Instagram's `read` names the last message seen
    (`through_message_id`) instead.
    """

    page_id: str
    customer_id: str
    status: DeliveryStatus
    at: datetime
    until: datetime | None = None
    through_message_id: str | None = None


@dataclass(frozen=True, slots=True)
class MetaNotification:
    messages: tuple[MetaInbound, ...] = ()
    receipts: tuple[MetaReceipt, ...] = ()
    watermarks: tuple[MetaWatermark, ...] = ()


_Event = MetaInbound | MetaReceipt | MetaWatermark


def parse_notification(
    payload: Mapping[str, Any], expected_object: str, *, received_at: datetime | None = None
) -> MetaNotification | None:
    """Everything a webhook notification carries for the `expected_object` ("page"/"instagram").

    `received_at` (tz-aware; now by default) dates events that carry no timestamp of their own.
    Raises ValueError, naming the field, when the payload does not have the documented shape.
    """
    if not isinstance(payload, Mapping):
        raise ValueError("the notification must be a JSON object")
    kind = _require_str(payload, "object", "notification")
    entries = _require_list(payload, "entry", "notification")
    if kind != expected_object:
        return None
    now = received_at or datetime.now(UTC)
    events: list[_Event] = []
    for index, item in enumerate(entries):
        events += _entry(_as_object(item, f"entry[{index}]"), f"entry[{index}]", now)
    return MetaNotification(
        messages=tuple(e for e in events if isinstance(e, MetaInbound)),
        receipts=tuple(e for e in events if isinstance(e, MetaReceipt)),
        watermarks=tuple(e for e in events if isinstance(e, MetaWatermark)),
    )


def _entry(entry: Mapping[str, Any], where: str, now: datetime) -> list[_Event]:
    """An entry's `messaging` events; `standby` (another app is in control) and `changes` are not ours."""
    page_id = _require_id(entry, "id", where)
    entry_time = _optional_time(entry, "time", where) or now
    if entry.get("messaging") is None:
        return []
    events: list[_Event] = []
    for index, item in enumerate(_require_list(entry, "messaging", where)):
        at = f"{where}.messaging[{index}]"
        events += _event(_as_object(item, at), at, page_id, entry_time)
    return events


def _event(event: Mapping[str, Any], where: str, page_id: str, entry_time: datetime) -> list[_Event]:
    timestamp = _optional_raw_time(event, "timestamp", where)
    sent_at = _from_epoch(timestamp, f"{where}.timestamp") if timestamp is not None else entry_time
    found: _Event | None = None
    if "message" in event:
        message = _require_object(event, "message", where)
        found = _message(event, message, f"{where}.message", page_id, sent_at)
    elif "postback" in event:
        postback = _require_object(event, "postback", where)
        found = _postback(event, postback, f"{where}.postback", page_id, sent_at, timestamp)
    elif "delivery" in event:
        return _delivery(event, _require_object(event, "delivery", where), f"{where}.delivery", page_id)
    elif "read" in event:
        found = _read(event, _require_object(event, "read", where), f"{where}.read", page_id, sent_at)
    # Anything else (reactions, referrals, opt-ins, handover, edits…) is not stored.
    return [found] if found is not None else []


# --- customer messages ----------------------------------------------------------------------------


def _message(
    event: Mapping[str, Any], message: Mapping[str, Any], where: str, page_id: str, sent_at: datetime
) -> MetaInbound | None:
    mid = _require_nonempty(message, "mid", where)
    is_echo = _optional_bool(message, "is_echo", where)
    is_deleted = _optional_bool(message, "is_deleted", where)
    sender_id = _party(event, "sender", where.rsplit(".", 1)[0])
    if is_echo or is_deleted or sender_id is None or sender_id == page_id:
        return None  # our own sends echoed back, retractions, chat-plugin guests
    text = _optional_str(message, "text", where) or ""
    payload = None
    if message.get("quick_reply") is not None:
        payload = _optional_str(
            _require_object(message, "quick_reply", where), "payload", f"{where}.quick_reply"
        )
    lines, media = _attachments(message, where, text)
    if _optional_bool(message, "is_unsupported", where):
        lines.append(unsupported_note("unsupported"))
    body = "\n".join(part for part in (text, *lines) if part)
    if not body and not media:
        body = unsupported_note("unknown")
    return MetaInbound(mid, page_id, sender_id, body, sent_at, tuple(media), payload)


def _attachments(message: Mapping[str, Any], where: str, text: str) -> tuple[list[str], list[MediaRef]]:
    """Media to download, and a line of text for every attachment that is not a file."""
    if message.get("attachments") is None:
        return [], []
    lines: list[str] = []
    media: list[MediaRef] = []
    stickers: set[str] = set()
    for index, item in enumerate(_require_list(message, "attachments", where)):
        at = f"{where}.attachments[{index}]"
        attachment = _as_object(item, at)
        kind = _require_str(attachment, "type", at)
        payload = _optional_object(attachment, "payload", at)
        sticker = _sticker_id(payload, f"{at}.payload")
        if kind == "sticker" or sticker is not None:
            # During Meta's sticker transition one sticker comes as both `sticker` and `image`.
            if sticker in THUMBS_UP_STICKERS and sticker not in stickers:
                lines.append("👍")
            elif sticker is None or sticker not in stickers:
                lines.append(unsupported_note("sticker"))
            if sticker is not None:
                stickers.add(sticker)
        elif kind in MEDIA_KINDS:
            media.append(_media(kind, _require_object(attachment, "payload", at), f"{at}.payload"))
        elif kind == "location":
            lines.append(_location(_require_object(attachment, "payload", at), f"{at}.payload", attachment))
        elif kind == "fallback":
            lines.append(_fallback(attachment, payload, at, text))
        elif kind == "template":
            lines.append(_template(payload, f"{at}.payload"))
        else:  # share, story_mention, reel, ig_reel, post, ig_post, appointment_booking, …
            url = _optional_url(payload, "url", f"{at}.payload") if payload is not None else None
            lines.append(unsupported_note(kind) + (f" {url}" if url else ""))
    return lines, media


def _media(kind: str, payload: Mapping[str, Any], where: str) -> MediaRef:
    url = _optional_url(payload, "url", where)
    if url is None:
        raise ValueError(f"{where}.url is required")
    stem, extension, content_type = _DEFAULT_TYPES[kind]
    return MediaRef(url, kind, _filename_of(url) or stem + extension, content_type)


def _filename_of(url: str) -> str | None:
    """The last path segment of a CDN URL (`…/123_456_n.jpg?…` or `…/Invoice.pdf?…`), if it has one."""
    try:
        name = unquote(urlsplit(url).path.rsplit("/", 1)[-1]).strip()
    except ValueError:  # "Invalid IPv6 URL" and the like: the download will say more
        return None
    if "." not in name.strip(".") or len(name) > _MAX_FILENAME or any(c in name for c in "\\\x00"):
        return None
    return name


def _sticker_id(payload: Mapping[str, Any] | None, where: str) -> str | None:
    if payload is None or payload.get("sticker_id") is None:
        return None
    value = payload["sticker_id"]
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{where}.sticker_id must be a number or a string")
    return str(value)


def _location(payload: Mapping[str, Any], where: str, attachment: Mapping[str, Any]) -> str:
    coordinates = _require_object(payload, "coordinates", where)
    latitude = _coordinate(coordinates, "lat", f"{where}.coordinates", 90.0)
    longitude = _coordinate(coordinates, "long", f"{where}.coordinates", 180.0)
    title = _optional_str(attachment, "title", where.rsplit(".", 1)[0])
    line = f"📍 {latitude}, {longitude}"
    return f"{line} ({title})" if title and title.strip() else line


def _fallback(attachment: Mapping[str, Any], payload: Mapping[str, Any] | None, where: str, text: str) -> str:
    """A shared link: its title and URL (older payloads put them next to `payload`, not in it)."""
    title = _optional_str(payload, "title", f"{where}.payload") if payload is not None else None
    url = _optional_url(payload, "url", f"{where}.payload") if payload is not None else None
    title = title or _optional_str(attachment, "title", where)
    url = url or _optional_url(attachment, "url", where)
    parts = [part for part in (title, url) if part and part.strip() and part not in text]
    if parts:
        return " ".join(parts)
    return "" if (title or url) else unsupported_note("fallback")


def _template(payload: Mapping[str, Any] | None, where: str) -> str:
    """A structured message (a product, a shared post) as its kind and the titles of its elements."""
    if payload is None:
        return "[template]"
    kind = _optional_str(payload, "template_type", where) or "template"
    titles: list[str] = []
    product = payload.get("product")
    elements = (product if isinstance(product, Mapping) else payload).get("elements")
    if isinstance(elements, Sequence) and not isinstance(elements, str):
        for index, item in enumerate(elements):
            element = _as_object(item, f"{where}.elements[{index}]")
            title = _optional_str(element, "title", f"{where}.elements[{index}]")
            if title and title.strip():
                titles.append(title.strip())
    return f"[{kind}] {'; '.join(titles)}" if titles else f"[{kind}]"


def _coordinate(obj: Mapping[str, Any], key: str, where: str, limit: float) -> str:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}.{key} must be a number")
    if (isinstance(value, float) and not math.isfinite(value)) or not -limit <= value <= limit:
        raise ValueError(f"{where}.{key} must be between -{limit:g} and {limit:g}")
    return f"{value:.6f}"


# --- button presses -------------------------------------------------------------------------------


def _postback(
    event: Mapping[str, Any],
    postback: Mapping[str, Any],
    where: str,
    page_id: str,
    sent_at: datetime,
    timestamp: int | None,
) -> MetaInbound | None:
    """A postback button, Get Started or persistent-menu tap, stored as a message saying its title."""
    title = _optional_str(postback, "title", where)
    payload = _optional_str(postback, "payload", where)
    mid = _optional_str(postback, "mid", where)
    sender_id = _party(event, "sender", where.rsplit(".", 1)[0])
    if sender_id is None or sender_id == page_id:
        return None
    if not mid:
        if timestamp is None:
            raise ValueError(f"{where} without a mid needs the event's timestamp")
        digest = hashlib.sha256((payload or "").encode()).hexdigest()[:16]
        mid = f"postback:{sender_id}:{timestamp}:{digest}"
    text = (title or "").strip() or payload or "[button]"
    return MetaInbound(mid, page_id, sender_id, text, sent_at, (), payload)


# --- receipts -------------------------------------------------------------------------------------


def _delivery(
    event: Mapping[str, Any], delivery: Mapping[str, Any], where: str, page_id: str
) -> list[_Event]:
    """A receipt per id in `mids` when present; otherwise the always-present `watermark`."""
    customer = _party(event, "sender", where.rsplit(".", 1)[0])
    watermark = _from_epoch(_require_raw_time(delivery, "watermark", where), f"{where}.watermark")
    mids = _require_list(delivery, "mids", where) if delivery.get("mids") is not None else []
    for index, mid in enumerate(mids):
        if not isinstance(mid, str) or not mid:
            raise ValueError(f"{where}.mids[{index}] must be a non-empty string")
    if customer is None:
        return []
    if not mids:
        return [MetaWatermark(page_id, customer, DeliveryStatus.DELIVERED, watermark, until=watermark)]
    return [MetaReceipt(page_id, customer, mid, DeliveryStatus.DELIVERED, watermark) for mid in mids]


def _read(
    event: Mapping[str, Any], read: Mapping[str, Any], where: str, page_id: str, sent_at: datetime
) -> MetaWatermark | None:
    customer = _party(event, "sender", where.rsplit(".", 1)[0])
    mid = _optional_str(read, "mid", where)
    if read.get("watermark") is not None:
        until = _from_epoch(_require_raw_time(read, "watermark", where), f"{where}.watermark")
        return (
            None if customer is None else MetaWatermark(page_id, customer, DeliveryStatus.READ, until, until)
        )
    if not mid:
        raise ValueError(f"{where} needs a watermark (Messenger) or a mid (Instagram)")
    if customer is None:
        return None
    return MetaWatermark(page_id, customer, DeliveryStatus.READ, sent_at, through_message_id=mid)


# --- shared objects -------------------------------------------------------------------------------


def _party(event: Mapping[str, Any], key: str, where: str) -> str | None:
    """The `sender`/`recipient` id; None for a chat-plugin guest known only by `user_ref`."""
    party = _require_object(event, key, where)
    if party.get("id") is None:
        if isinstance(party.get("user_ref"), str | int):
            return None
        raise ValueError(f"{where}.{key}.id is required")
    return _require_id(party, "id", f"{where}.{key}")


def _require_id(obj: Mapping[str, Any], key: str, where: str) -> str:
    """A Graph id: documented as a string of digits, accepted as a JSON number too."""
    value = obj.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    if key not in obj:
        raise ValueError(f"{where}.{key} is required")
    raise ValueError(f"{where}.{key} must be a non-empty string")


def _raw_time(value: object, where: str) -> int:
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where} must be an integer (epoch milliseconds)")
    if value <= 0:
        raise ValueError(f"{where} must be a positive time")
    return value


def _require_raw_time(obj: Mapping[str, Any], key: str, where: str) -> int:
    if obj.get(key) is None:
        raise ValueError(f"{where}.{key} is required")
    return _raw_time(obj[key], f"{where}.{key}")


def _optional_raw_time(obj: Mapping[str, Any], key: str, where: str) -> int | None:
    return None if obj.get(key) is None else _raw_time(obj[key], f"{where}.{key}")


def _optional_time(obj: Mapping[str, Any], key: str, where: str) -> datetime | None:
    raw = _optional_raw_time(obj, key, where)
    return None if raw is None else _from_epoch(raw, f"{where}.{key}")


def _from_epoch(value: int, where: str) -> datetime:
    seconds = value / 1000 if value >= _MILLISECONDS_FROM else float(value)
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise ValueError(f"{where} is out of range") from exc


# --- field access ---------------------------------------------------------------------------------


def _as_object(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} must be an object")
    return value


def _require_object(obj: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    return _as_object(obj.get(key), f"{where}.{key}")


def _optional_object(obj: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any] | None:
    return None if obj.get(key) is None else _require_object(obj, key, where)


def _require_list(obj: Mapping[str, Any], key: str, where: str) -> Sequence[Any]:
    value = obj.get(key)
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise ValueError(f"{where}.{key} must be an array")
    return value


def _require_str(obj: Mapping[str, Any], key: str, where: str) -> str:
    if key not in obj:
        raise ValueError(f"{where}.{key} is required")
    value = obj[key]
    if not isinstance(value, str):
        raise ValueError(f"{where}.{key} must be a string")
    return value


def _require_nonempty(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = _require_str(obj, key, where)
    if not value.strip():
        raise ValueError(f"{where}.{key} must not be empty")
    return value


def _optional_str(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    return None if obj.get(key) is None else _require_str(obj, key, where)


def _optional_bool(obj: Mapping[str, Any], key: str, where: str) -> bool:
    value = obj.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValueError(f"{where}.{key} must be a boolean")
    return value


def _optional_url(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    """An http(s) URL: media are fetched from it, so no other scheme is accepted."""
    value = _optional_str(obj, key, where)
    if value is None or not value.strip():
        return None
    url = value.strip()
    if not url.lower().startswith(("https://", "http://")) or any(c.isspace() for c in url):
        raise ValueError(f"{where}.{key} must be an http(s) URL")
    return url
