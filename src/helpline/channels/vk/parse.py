"""Turn a VK Callback API notification into what Helpline stores, without I/O.

VK POSTs one JSON object per event: `{"type", "event_id", "v", "object", "group_id", "secret"}`
(https://dev.vk.com/ru/api/callback/getting-started; field list from VK's published JSON schema,
`callback/objects.json#/definitions/callback_base`, API 5.199). Everything here is a pure function
of that object, so it can be checked against recorded payloads and fuzzed:

* `parse_envelope` reads the common fields, which the receiver needs before it trusts anything
  (the community id and the secret key);
* `parse_event` turns a verified envelope into a `VkInbound` (a customer wrote to the community or
  pressed a callback button: store it), a `VkRead` (the customer read our messages), or `None`
  (a well-formed event that carries nothing to store: our own replies, edits, group chats...);
* `ValueError` means the payload does not have the documented shape; the message names the field.

Only the fields this module reads are validated: VK adds optional fields often.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from helpline.domain.inbound import unsupported_note

__all__ = [
    "CallbackEnvelope",
    "MediaRef",
    "VkInbound",
    "VkRead",
    "option_payload",
    "parse_envelope",
    "parse_event",
]

#: Peer ids from this value up are group chats ("2000000000 + chat_id", messages.send docs).
CHAT_PEER_BASE: Final = 2_000_000_000
#: The key under which our own keyboard buttons carry a ReplyOption's payload (see send.py).
OPTION_KEY: Final = "helpline_option"

# client_info.lang_id: VK's interface language of the customer's app (0 = Russian, 3 = English).
_LANGUAGES: Final = {0: "ru", 3: "en"}

# Extensions of documents, by what `doc.ext` says; anything else is stored as opaque bytes.
_DOC_TYPES: Final = {
    "pdf": "application/pdf",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "txt": "text/plain",
    "zip": "application/zip",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ogg": "audio/ogg",
    "mp4": "video/mp4",
}

# Photo size letters from the smallest to the largest, for sizes that report no dimensions
# (VK's "Photo sizes" reference: s < m < x < y < z < w; o, p, q, r are cropped previews).
_SIZE_ORDER: Final = ("s", "o", "p", "q", "r", "m", "x", "y", "z", "w")


@dataclass(frozen=True, slots=True)
class CallbackEnvelope:
    """The fields every notification has, read before the secret key is checked."""

    type: str
    group_id: int
    event_id: str | None
    secret: str | None
    object: Any


@dataclass(frozen=True, slots=True)
class MediaRef:
    """A file a customer sent: VK puts a direct download URL in the message."""

    url: str
    kind: str  # "photo" | "doc" | "audio_message"
    filename: str
    content_type: str
    size: int | None


@dataclass(frozen=True, slots=True)
class VkInbound:
    """One customer message (or callback button press) in a private dialog with the community.

    `provider_message_id` makes VK's redeliveries recognisable: a message's `id` is unique among
    the community's messages and does not change when VK sends the same event again, hence
    `str(id)`. A callback button press has no message; its own `event_id` is used, `"event:<id>"`.
    """

    provider_message_id: str
    user_id: int
    peer_id: int
    text: str
    sent_at: datetime
    media: tuple[MediaRef, ...]
    language: str | None
    #: Set for callback button presses: what messages.sendMessageEventAnswer needs.
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class VkRead:
    """`message_read`: the customer has read our messages up to `read_message_id`."""

    user_id: int
    peer_id: int
    read_message_id: int


def parse_envelope(body: object) -> CallbackEnvelope:
    """The common fields; ValueError if the body is not a Callback API notification.

    `event_id` and `secret` are optional here: VK's confirmation request documents only `type` and
    `group_id`, and whether `secret` must be present is the receiver's decision.
    """
    if not isinstance(body, Mapping):
        raise ValueError("a notification must be a JSON object")
    kind = _require_str(body, "type", "notification")
    if not kind:
        raise ValueError("notification.type must not be empty")
    group_id = _require_int(body, "group_id", "notification")
    if group_id <= 0:
        raise ValueError("notification.group_id must be positive")
    return CallbackEnvelope(
        type=kind,
        group_id=group_id,
        event_id=_optional_str(body, "event_id", "notification"),
        secret=_optional_str(body, "secret", "notification"),
        object=body.get("object"),
    )


def parse_event(
    envelope: CallbackEnvelope, *, received_at: datetime | None = None
) -> VkInbound | VkRead | None:
    """What a verified notification carries for Helpline, None if nothing.

    Stored: `message_new` from a user in a private dialog, `message_event` (a callback button
    pressed in such a dialog). Read receipts: `message_read`. Everything else (`message_reply` and
    `message_edit`, which echo our own or edited messages, group joins, wall events...) is None.

    A button press has no date of its own; its `sent_at` is `received_at` (now, when not given).
    """
    if envelope.type == "message_new":
        return _message_new(_as_object(envelope.object, "object"))
    if envelope.type == "message_event":
        return _message_event(_as_object(envelope.object, "object"), received_at or datetime.now(UTC))
    if envelope.type == "message_read":
        return _message_read(_as_object(envelope.object, "object"))
    return None


def option_payload(payload: object) -> str | None:
    """The ReplyOption payload our own buttons carry, or None for any other payload."""
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError:
            return None
    if isinstance(payload, Mapping) and isinstance(payload.get(OPTION_KEY), str):
        return str(payload[OPTION_KEY])
    return None


# --- events ---------------------------------------------------------------------------------------


def _message_new(obj: Mapping[str, Any]) -> VkInbound | None:
    if "message" not in obj:
        # Before API 5.103 `object` was the message itself; its shape differs in many places.
        raise ValueError("object.message is required (set the Callback API version to 5.103 or later)")
    message = _require_object(obj, "message", "object")
    where = "object.message"
    message_id = _require_int(message, "id", where)
    from_id = _require_int(message, "from_id", where)
    peer_id = _require_int(message, "peer_id", where)
    sent_at = _unix_time(message, "date", where)
    out = _optional_int(message, "out", where)
    if out == 1 or not _private(from_id, peer_id):
        return None  # our own message, a group chat, or a message from another community
    if message_id > 0:
        provider_id = str(message_id)
    else:
        cmid = _optional_int(message, "conversation_message_id", where)
        if cmid is None or cmid <= 0:
            raise ValueError(f"{where}.id is 0 and there is no conversation_message_id")
        provider_id = f"{peer_id}:c{cmid}"
    text, media = _content(message)
    pressed = option_payload(message.get("payload"))
    return VkInbound(
        provider_message_id=provider_id,
        user_id=from_id,
        peer_id=peer_id,
        # A press of our button is read by its label, the text VK sends with it: buttons stay
        # pressable on earlier menus, where the payload's digit means another option now.
        text=text if text.strip() or pressed is None else pressed,
        sent_at=sent_at,
        media=media,
        language=_language(obj.get("client_info")),
    )


def _message_event(obj: Mapping[str, Any], received_at: datetime) -> VkInbound | None:
    where = "object"
    user_id = _require_int(obj, "user_id", where)
    peer_id = _require_int(obj, "peer_id", where)
    event_id = _require_str(obj, "event_id", where)
    if not event_id:
        raise ValueError("object.event_id must not be empty")
    if not _private(user_id, peer_id):
        return None
    payload = obj.get("payload")
    text = option_payload(payload)
    if text is None:
        text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return VkInbound(
        provider_message_id=f"event:{event_id}",
        user_id=user_id,
        peer_id=peer_id,
        text=text,
        sent_at=received_at,
        media=(),
        language=None,
        event_id=event_id,
    )


def _message_read(obj: Mapping[str, Any]) -> VkRead | None:
    where = "object"
    from_id = _require_int(obj, "from_id", where)
    peer_id = _require_int(obj, "peer_id", where)
    read_id = _require_int(obj, "read_message_id", where)
    if not _private(from_id, peer_id) or read_id <= 0:
        return None
    return VkRead(from_id, peer_id, read_id)


def _private(user_id: int, peer_id: int) -> bool:
    """A user's own dialog with the community: peer id is the user id (messages.send, peer_id)."""
    return 0 < user_id == peer_id < CHAT_PEER_BASE


def _language(client_info: object) -> str | None:
    if not isinstance(client_info, Mapping):
        return None
    lang_id = client_info.get("lang_id")
    if isinstance(lang_id, bool) or not isinstance(lang_id, int):
        return None
    return _LANGUAGES.get(lang_id)


# --- content --------------------------------------------------------------------------------------


def _content(message: Mapping[str, Any]) -> tuple[str, tuple[MediaRef, ...]]:
    """(text, media) of a message: its text, then one line per thing we cannot store as a file.

    Kinds we cannot show still produce a line, so the agent sees that the customer sent
    *something* rather than nothing at all.
    """
    where = "object.message"
    lines = [_require_str(message, "text", where)]
    media: list[MediaRef] = []
    attachments = message.get("attachments")
    if attachments is not None:
        if not isinstance(attachments, Sequence) or isinstance(attachments, str):
            raise ValueError(f"{where}.attachments must be an array")
        for index, item in enumerate(attachments):
            ref, line = _attachment(_as_object(item, f"{where}.attachments[{index}]"), index)
            if ref is not None:
                media.append(ref)
            if line:
                lines.append(line)
    if message.get("geo") is not None:
        lines.append(_geo_text(_require_object(message, "geo", where)))
    forwarded = message.get("fwd_messages")
    if isinstance(forwarded, Sequence) and not isinstance(forwarded, str) and forwarded:
        lines.extend(_forwarded(forwarded))
    return "\n".join(line for line in lines if line), tuple(media)


def _attachment(item: Mapping[str, Any], index: int) -> tuple[MediaRef | None, str | None]:
    where = f"object.message.attachments[{index}]"
    kind = _require_str(item, "type", where)
    if kind == "photo":
        return _largest_photo(_require_object(item, "photo", where), f"{where}.photo"), None
    if kind == "doc":
        return _doc(_require_object(item, "doc", where), f"{where}.doc"), None
    if kind == "audio_message":
        return _voice(_require_object(item, "audio_message", where), f"{where}.audio_message"), None
    if kind == "link" and isinstance(item.get("link"), Mapping):
        link = item["link"]
        url = link.get("url")
        title = link.get("title")
        if isinstance(url, str) and url:
            return None, f"🔗 {title} {url}" if isinstance(title, str) and title else f"🔗 {url}"
    if kind == "wall" and isinstance(item.get("wall"), Mapping):
        post = item["wall"]
        owner = post.get("owner_id", post.get("to_id", post.get("from_id")))
        post_id = post.get("id")
        if _is_int(owner) and _is_int(post_id):
            return None, f"https://vk.com/wall{owner}_{post_id}"
    return None, unsupported_note(kind)


def _largest_photo(photo: Mapping[str, Any], where: str) -> MediaRef:
    """The biggest of the sizes VK offers (by area; by size letter where dimensions are 0)."""
    sizes = photo.get("sizes")
    if not isinstance(sizes, Sequence) or isinstance(sizes, str) or not sizes:
        raise ValueError(f"{where}.sizes must be a non-empty array")
    ranked: list[tuple[tuple[int, int], str]] = []
    for index, size in enumerate(sizes):
        at = f"{where}.sizes[{index}]"
        obj = _as_object(size, at)
        url = _url(obj, "url", at)
        width = _optional_int(obj, "width", at) or 0
        height = _optional_int(obj, "height", at) or 0
        letter = obj.get("type")
        order = _SIZE_ORDER.index(letter) if isinstance(letter, str) and letter in _SIZE_ORDER else -1
        ranked.append(((width * height, order), url))
    url = max(ranked, key=lambda item: item[0])[1]
    return MediaRef(url, "photo", "photo.jpg", "image/jpeg", None)


def _doc(doc: Mapping[str, Any], where: str) -> MediaRef:
    url = _url(doc, "url", where)
    ext = (_optional_str(doc, "ext", where) or "").lower().strip(".")
    title = _optional_str(doc, "title", where) or "document"
    filename = title if not ext or title.lower().endswith(f".{ext}") else f"{title}.{ext}"
    size = _optional_int(doc, "size", where)
    if size is not None and size < 0:
        raise ValueError(f"{where}.size must not be negative")
    return MediaRef(url, "doc", filename, _DOC_TYPES.get(ext, "application/octet-stream"), size)


def _voice(audio: Mapping[str, Any], where: str) -> MediaRef:
    """A voice note; VK offers OGG (Opus) and MP3 of the same recording, OGG is the original."""
    if isinstance(audio.get("link_ogg"), str) and audio["link_ogg"]:
        return MediaRef(_url(audio, "link_ogg", where), "audio_message", "voice.ogg", "audio/ogg", None)
    return MediaRef(_url(audio, "link_mp3", where), "audio_message", "voice.mp3", "audio/mpeg", None)


def _geo_text(geo: Mapping[str, Any]) -> str:
    where = "object.message.geo"
    coordinates = _require_object(geo, "coordinates", where)
    latitude = _coordinate(coordinates, "latitude", f"{where}.coordinates", 90.0)
    longitude = _coordinate(coordinates, "longitude", f"{where}.coordinates", 180.0)
    place = geo.get("place")
    title = place.get("title") if isinstance(place, Mapping) else None
    line = f"📍 {latitude}, {longitude}"
    return f"{line} ({title})" if isinstance(title, str) and title else line


def _forwarded(messages: Sequence[Any]) -> list[str]:
    """Forwarded messages as quoted lines: their text, or what kind of thing they held."""
    lines: list[str] = []
    for item in messages:
        if not isinstance(item, Mapping):
            continue
        text = item.get("text")
        if isinstance(text, str) and text:
            lines.extend(f"» {line}" for line in text.splitlines())
        elif item.get("attachments"):
            lines.append("» [unsupported message type: forwarded attachment]")
    return lines


def _coordinate(obj: Mapping[str, Any], key: str, where: str, limit: float) -> str:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}.{key} must be a number")
    if (isinstance(value, float) and not math.isfinite(value)) or not -limit <= value <= limit:
        raise ValueError(f"{where}.{key} must be between -{limit:g} and {limit:g}")
    return f"{value:.6f}"


# --- field access ---------------------------------------------------------------------------------
# Python's bool is an int, and JSON gives `true` where a number belongs as easily as anything else.


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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
    if not _is_int(value):
        raise ValueError(f"{where}.{key} must be an integer")
    return int(value)


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


def _url(obj: Mapping[str, Any], key: str, where: str) -> str:
    """A download URL: only http(s), so a payload cannot make us read local files."""
    value = _require_str(obj, key, where)
    if not value.startswith(("https://", "http://")):
        raise ValueError(f"{where}.{key} must be an http(s) URL")
    return value


def _unix_time(obj: Mapping[str, Any], key: str, where: str) -> datetime:
    seconds = _require_int(obj, key, where)
    if seconds <= 0:
        raise ValueError(f"{where}.{key} must be a positive Unix time")
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise ValueError(f"{where}.{key} is out of range") from exc
