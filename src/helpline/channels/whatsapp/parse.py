"""Turn a WhatsApp Cloud API webhook POST into the customer messages and receipts it carries, without I/O.

Meta POSTs one JSON document per webhook call: `{"object": "whatsapp_business_account", "entry":
[{"id": <WABA id>, "changes": [{"field": "messages", "value": {...}}]}]}`. One `value` may hold
several `messages` (what customers sent, with the senders' profiles in `contacts`) and several
`statuses` (what became of messages we sent). Everything here is a pure function of that document,
so it can be checked against the payloads Meta documents and fuzzed. The outcomes:

* a `WhatsAppBatch` with every customer message and every receipt in the document, in order;
  changes of other webhook fields (`account_update`, template reviews...) and changes for another
  business phone number of the same app are left out, so the webhook acknowledges them unstored;
* `ValueError`: the document does not have the documented shape, so nothing in it can be trusted;
  the message says which field is wrong and the webhook answers 400.

Only the fields this module reads are validated; unknown fields are ignored, because Meta adds new
optional fields with most Graph API versions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from helpline.domain.conversations import DeliveryStatus
from helpline.domain.inbound import unsupported_note

__all__ = [
    "MediaRef",
    "WhatsAppBatch",
    "WhatsAppInbound",
    "WhatsAppStatus",
    "parse_webhook",
]


@dataclass(frozen=True, slots=True)
class MediaRef:
    """A file attached to a message: an id to look up with `GET /{media-id}`, then download.

    Webhooks carry no file contents, only the media id, the MIME type and the SHA-256 of the file
    (which lets the download be checked). `filename` is the sender's for documents and made up from
    the type for the rest, because the downloaded bytes carry no name.
    """

    media_id: str
    kind: str  # "image" | "document" | "audio" | "video" | "sticker"
    filename: str
    content_type: str
    sha256: str | None


@dataclass(frozen=True, slots=True)
class WhatsAppInbound:
    """One customer message, flattened for the inbox.

    `provider_message_id` is the message's `wamid`, unique per message, which makes Meta's
    redeliveries recognisable. `wa_id` is the customer's WhatsApp ID: the digits of their phone
    number, the address replies go to. `reply_id` is the `id` of the reply button or list row the
    customer chose (or a template button's `payload`), when the message is such a choice.
    """

    provider_message_id: str
    wa_id: str
    sender_name: str | None
    text: str
    sent_at: datetime
    media: tuple[MediaRef, ...]
    reply_id: str | None


@dataclass(frozen=True, slots=True)
class WhatsAppStatus:
    """A receipt for a message we sent: sent, delivered, read, or failed with Meta's reason."""

    provider_message_id: str
    status: DeliveryStatus
    at: datetime
    recipient_id: str | None
    error: str | None


@dataclass(frozen=True, slots=True)
class WhatsAppBatch:
    messages: tuple[WhatsAppInbound, ...]
    statuses: tuple[WhatsAppStatus, ...]


#: The documented `status` values we track; `deleted`, `warning` and newer ones are acknowledged only.
_STATUSES: Final = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "failed": DeliveryStatus.FAILED,
}

_MEDIA_KINDS: Final = ("image", "document", "audio", "video", "sticker")

#: MIME types WhatsApp accepts for media (Cloud API "Supported media types"), mapped to extensions
#: for files whose sender gave no name. A table rather than `mimetypes`, which reads the host's files.
_EXTENSIONS: Final = {
    "audio/aac": ".aac",
    "audio/amr": ".amr",
    "audio/mpeg": ".mp3",
    "audio/mp4": ".m4a",
    "audio/ogg": ".ogg",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "video/3gpp": ".3gp",
    "video/mp4": ".mp4",
    "application/pdf": ".pdf",
    "application/msword": ".doc",
    "application/vnd.ms-excel": ".xls",
    "application/vnd.ms-powerpoint": ".ppt",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
    "text/plain": ".txt",
}

_DEFAULT_TYPES: Final = {
    "image": "image/jpeg",
    "document": "application/octet-stream",
    "audio": "audio/ogg",
    "video": "video/mp4",
    "sticker": "image/webp",
}

#: A reason shown to agents is a line, not an essay.
MAX_REASON = 300


def parse_webhook(payload: Mapping[str, Any], *, phone_number_id: str | None = None) -> WhatsAppBatch:
    """Every customer message and receipt in a webhook document, in the order Meta listed them.

    With `phone_number_id`, changes whose `metadata.phone_number_id` names another business number
    are skipped: one app may serve several numbers, each its own Helpline account.

    Raises ValueError, naming the field, when the document does not have the documented shape.
    """
    if not isinstance(payload, Mapping):
        raise ValueError("the webhook body must be a JSON object")
    kind = payload.get("object")
    if kind != "whatsapp_business_account":
        raise ValueError(f"object must be 'whatsapp_business_account', not {kind!r}")
    messages: list[WhatsAppInbound] = []
    statuses: list[WhatsAppStatus] = []
    for e, entry in enumerate(_require_list(payload, "entry", "webhook")):
        where = f"entry[{e}]"
        entry_obj = _as_object(entry, where)
        for c, change in enumerate(_require_list(entry_obj, "changes", where)):
            change_where = f"{where}.changes[{c}]"
            change_obj = _as_object(change, change_where)
            field = _require_str(change_obj, "field", change_where)
            if field != "messages":
                continue  # other subscriptions (account_update, templates...) carry no conversation
            value = _require_object(change_obj, "value", change_where)
            value_where = f"{change_where}.value"
            metadata = _require_object(value, "metadata", value_where)
            number = _require_str(metadata, "phone_number_id", f"{value_where}.metadata")
            if phone_number_id and number != phone_number_id:
                continue
            names = _profile_names(value, value_where)
            for m, message in enumerate(_optional_list(value, "messages", value_where)):
                messages.append(_parse_message(_as_object(message, f"{value_where}.messages[{m}]"), names))
            for s, status in enumerate(_optional_list(value, "statuses", value_where)):
                parsed = _parse_status(_as_object(status, f"{value_where}.statuses[{s}]"))
                if parsed is not None:
                    statuses.append(parsed)
    return WhatsAppBatch(tuple(messages), tuple(statuses))


# --- messages -------------------------------------------------------------------------------------


def _profile_names(value: Mapping[str, Any], where: str) -> dict[str, str]:
    """wa_id -> profile name, from `value.contacts` (the senders of the messages beside it)."""
    names: dict[str, str] = {}
    for n, contact in enumerate(_optional_list(value, "contacts", where)):
        contact_where = f"{where}.contacts[{n}]"
        obj = _as_object(contact, contact_where)
        wa_id = _optional_str(obj, "wa_id", contact_where)
        profile = obj.get("profile")
        name = profile.get("name") if isinstance(profile, Mapping) else None
        if wa_id and isinstance(name, str) and name.strip():
            names[wa_id] = name.strip()
    return names


def _parse_message(message: Mapping[str, Any], names: Mapping[str, str]) -> WhatsAppInbound:
    where = "message"
    wamid = _require_str(message, "id", where)
    if not wamid:
        raise ValueError("message.id must not be empty")
    wa_id = _require_str(message, "from", where)
    if not wa_id.isascii() or not wa_id.isdigit() or len(wa_id) > 20:
        raise ValueError("message.from must be a WhatsApp ID (the digits of a phone number)")
    sent_at = _unix_time(message, "timestamp", where)
    kind = _require_str(message, "type", where)
    text, media, reply_id = _content(message, kind)
    return WhatsAppInbound(
        provider_message_id=wamid,
        wa_id=wa_id,
        sender_name=names.get(wa_id),
        text=text,
        sent_at=sent_at,
        media=media,
        reply_id=reply_id,
    )


def _content(message: Mapping[str, Any], kind: str) -> tuple[str, tuple[MediaRef, ...], str | None]:
    """(text, media, reply id) of a message, whatever its `type`.

    Types we cannot show still produce a line of text, so the agent sees that the customer sent
    *something* rather than nothing at all.
    """
    if kind == "text":
        body = _require_object(message, "text", "message")
        return _require_str(body, "body", "message.text"), (), None
    if kind == "interactive":
        return _interactive(_require_object(message, "interactive", "message"))
    if kind == "button":  # a quick-reply button of a template message
        button = _require_object(message, "button", "message")
        return (
            _require_str(button, "text", "message.button"),
            (),
            _optional_str(button, "payload", "message.button"),
        )
    if kind in _MEDIA_KINDS:
        obj = _require_object(message, kind, "message")
        caption = _optional_str(obj, "caption", f"message.{kind}") or ""
        return caption, (_media(obj, kind),), None
    if kind == "location":
        return _location(_require_object(message, "location", "message")), (), None
    if kind == "contacts":
        cards = _require_list(message, "contacts", "message")
        return (
            "\n".join(_contact_card(card, f"message.contacts[{n}]") for n, card in enumerate(cards)),
            (),
            None,
        )
    if kind == "reaction":
        return _reaction(_require_object(message, "reaction", "message")), (), None
    if kind == "system":  # e.g. "user_changed_number": Meta words it for people
        notice = message.get("system")
        words = notice.get("body") if isinstance(notice, Mapping) else None
        return (words if isinstance(words, str) and words else "[system message]"), (), None
    return unsupported_note(_unsupported_kind(message, kind)), (), None


def _interactive(obj: Mapping[str, Any]) -> tuple[str, tuple[MediaRef, ...], str | None]:
    """A reply button or list row the customer chose: its title is what they "said"."""
    kind = _require_str(obj, "type", "message.interactive")
    if kind in ("button_reply", "list_reply"):
        reply = _require_object(obj, kind, "message.interactive")
        where = f"message.interactive.{kind}"
        return _require_str(reply, "title", where), (), _require_str(reply, "id", where)
    return unsupported_note(f"interactive {kind}"), (), None


def _media(obj: Mapping[str, Any], kind: str) -> MediaRef:
    where = f"message.{kind}"
    media_id = _require_str(obj, "id", where)
    if not media_id:
        raise ValueError(f"{where}.id must not be empty")
    declared = _optional_str(obj, "mime_type", where) or _DEFAULT_TYPES[kind]
    # "audio/ogg; codecs=opus" for voice notes: the parameters do not change what the file is.
    content_type = declared.split(";", 1)[0].strip().lower() or _DEFAULT_TYPES[kind]
    filename = _optional_str(obj, "filename", where)
    if not filename or not filename.strip():
        stem = "voice" if kind == "audio" and obj.get("voice") is True else kind
        filename = stem + _EXTENSIONS.get(content_type, ".bin")
    sha256 = _optional_str(obj, "sha256", where)
    return MediaRef(media_id, kind, filename.strip(), content_type, sha256 or None)


def _location(location: Mapping[str, Any]) -> str:
    where = "message.location"
    latitude = _coordinate(location, "latitude", where, 90.0)
    longitude = _coordinate(location, "longitude", where, 180.0)
    lines = [f"📍 {latitude}, {longitude}"]
    for key in ("name", "address"):
        value = _optional_str(location, key, where)
        if value and value.strip():
            lines.append(value.strip())
    return "\n".join(lines)


def _coordinate(obj: Mapping[str, Any], key: str, where: str, limit: float) -> str:
    """A latitude or longitude, checked and written with six decimals (about 10 cm)."""
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}.{key} must be a number")
    # Compare before converting: a huge JSON integer would overflow `float`.
    if (isinstance(value, float) and not math.isfinite(value)) or not -limit <= value <= limit:
        raise ValueError(f"{where}.{key} must be between -{limit:g} and {limit:g}")
    return f"{value:.6f}"


def _contact_card(card: object, where: str) -> str:
    """A shared contact as "👤 Name: +phone, +phone". Shared cards are anyone's, never an identity."""
    obj = _as_object(card, where)
    name_obj = obj.get("name")
    name = name_obj.get("formatted_name") if isinstance(name_obj, Mapping) else None
    if not isinstance(name, str) or not name.strip():
        parts = (
            [name_obj.get(k) for k in ("first_name", "last_name")] if isinstance(name_obj, Mapping) else []
        )
        name = " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
    phones: list[str] = []
    raw_phones = obj.get("phones")
    if raw_phones is not None:
        if not isinstance(raw_phones, Sequence) or isinstance(raw_phones, str):
            raise ValueError(f"{where}.phones must be an array")
        for n, phone in enumerate(raw_phones):
            number = _optional_str(_as_object(phone, f"{where}.phones[{n}]"), "phone", f"{where}.phones[{n}]")
            if number and number.strip():
                phones.append(number.strip())
    label = name.strip() if name and name.strip() else "contact"
    return f"👤 {label}: {', '.join(phones)}" if phones else f"👤 {label}"


def _reaction(reaction: Mapping[str, Any]) -> str:
    """A reaction to one of our messages; an empty or missing emoji means it was taken back."""
    emoji = _optional_str(reaction, "emoji", "message.reaction")
    # The emoji on a line of its own is the customer's word (a 👍 answers "did it help?").
    return f"{emoji}\n[reaction]" if emoji else "[reaction removed]"


def _unsupported_kind(message: Mapping[str, Any], kind: str) -> str:
    """What the customer really sent, where Meta says (`unsupported.type`, or the error title)."""
    detail = message.get("unsupported")
    if isinstance(detail, Mapping) and isinstance(detail.get("type"), str) and detail["type"]:
        return str(detail["type"])[:40]
    return kind[:40] or "unknown"


# --- statuses -------------------------------------------------------------------------------------


def _parse_status(status: Mapping[str, Any]) -> WhatsAppStatus | None:
    where = "status"
    wamid = _require_str(status, "id", where)
    if not wamid:
        raise ValueError("status.id must not be empty")
    name = _require_str(status, "status", where)
    at = _unix_time(status, "timestamp", where)
    recipient = _optional_str(status, "recipient_id", where)
    mapped = _STATUSES.get(name)
    if mapped is None:
        return None
    error = _error_text(status) if mapped is DeliveryStatus.FAILED else None
    return WhatsAppStatus(wamid, mapped, at, recipient, error)


def _error_text(status: Mapping[str, Any]) -> str:
    """Meta's own words for why a message failed: "WhatsApp 131047: Re-engagement message (details)".

    The error's `href` (a documentation link) is left out: reasons never carry URLs.
    """
    errors = status.get("errors")
    if not isinstance(errors, Sequence) or isinstance(errors, str) or not errors:
        return "WhatsApp reported the message as failed"
    first = errors[0]
    if not isinstance(first, Mapping):
        raise ValueError("status.errors[0] must be an object")
    code = first.get("code")
    title = first.get("title") or first.get("message")
    data = first.get("error_data")
    details = data.get("details") if isinstance(data, Mapping) else None
    text = f"WhatsApp {code}: " if isinstance(code, int) and not isinstance(code, bool) else "WhatsApp: "
    text += str(title) if isinstance(title, str) and title else "the message failed"
    if isinstance(details, str) and details and details not in text:
        text += f" ({details})"
    return text[:MAX_REASON]


# --- field access ---------------------------------------------------------------------------------


def _unix_time(obj: Mapping[str, Any], key: str, where: str) -> datetime:
    """A Cloud API timestamp: Unix seconds, sent as a string of digits (integers accepted too)."""
    if key not in obj:
        raise ValueError(f"{where}.{key} is required")
    value = obj[key]
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
        seconds = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    else:
        raise ValueError(f"{where}.{key} must be Unix seconds")
    if seconds <= 0:
        raise ValueError(f"{where}.{key} must be a positive Unix time")
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise ValueError(f"{where}.{key} is out of range") from exc


def _as_object(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} must be an object")
    return value


def _require_object(obj: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    return _as_object(obj.get(key), f"{where}.{key}")


def _require_list(obj: Mapping[str, Any], key: str, where: str) -> Sequence[Any]:
    value = obj.get(key)
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise ValueError(f"{where}.{key} must be an array")
    return value


def _optional_list(obj: Mapping[str, Any], key: str, where: str) -> Sequence[Any]:
    if obj.get(key) is None:
        return ()
    return _require_list(obj, key, where)


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
