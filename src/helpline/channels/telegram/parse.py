"""Turn a Telegram webhook `Update` into the one customer message Helpline stores, without I/O.

Telegram POSTs one JSON-serialized `Update` per webhook request
(https://core.telegram.org/bots/api#update). Everything here is a pure function of that object,
so it can be checked against recorded payloads and fuzzed. The outcomes map onto what the webhook
answers:

* a `TelegramInbound`: a customer wrote to the bot in a private chat (or pressed one of its inline
  buttons) and the message must be stored;
* `None`: a well-formed update that is not a new customer message (an edit, a channel post, a group
  message, a bot, a membership change...). The webhook acknowledges it so Telegram does not
  redeliver it;
* `ValueError`: the payload does not have the documented shape, so nothing in it can be trusted;
  the message says which field is wrong and the webhook answers 400.

Only the fields this module reads are validated; unknown fields are ignored, because the Bot API
adds new optional fields with every release.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from helpline.domain.inbound import unsupported_note

__all__ = ["MediaRef", "TelegramInbound", "parse_update"]


@dataclass(frozen=True, slots=True)
class MediaRef:
    """A file attached to a message: something to fetch with `getFile`, then download.

    Telegram does not put file contents in updates, only identifiers; `file_id` is what `getFile`
    takes, `file_unique_id` stays the same across bots and time and suits deduplication.
    `filename` and `content_type` are kept here because the downloaded file carries neither
    (the Bot API docs warn that `getFile` may not preserve the original name and MIME type).
    """

    file_id: str
    file_unique_id: str
    kind: str  # "photo" | "document" | "voice" | "audio" | "video"
    filename: str
    content_type: str
    size: int | None


@dataclass(frozen=True, slots=True)
class TelegramInbound:
    """One customer message from a private chat with the bot, flattened for the inbox.

    `provider_message_id` makes webhook redeliveries recognisable: `message_id` is only unique
    inside a chat, hence `"<chat_id>:<message_id>"`; callback queries have their own string ids,
    hence `"cb:<id>"`. `user_id` is the customer's Telegram identity (`from.id`), `chat_id` where
    replies go (the same number in a private chat, but they are different things).
    """

    provider_message_id: str
    user_id: str
    chat_id: int
    sender_name: str | None
    language_code: str | None
    text: str
    sent_at: datetime
    media: tuple[MediaRef, ...]
    shared_phone: str | None
    callback_query_id: str | None


# Every optional field of `Update`, as documented. "At most one of the optional parameters can be
# present in any given update", so two of them at once means the payload is not an Update.
_UPDATE_KINDS: Final = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
)

# Message fields that name a content type we do not turn into text or media, used only to say
# *what* was sent in the "[unsupported message type: ...]" placeholder.
_OTHER_CONTENT: Final = (
    "sticker",
    "dice",
    "poll",
    "game",
    "story",
    "paid_media",
    "invoice",
    "successful_payment",
    "refunded_payment",
    "giveaway",
    "giveaway_winners",
    "giveaway_created",
    "giveaway_completed",
    "users_shared",
    "chat_shared",
    "web_app_data",
    "write_access_allowed",
    "connected_website",
    "passport_data",
    "pinned_message",
    "message_auto_delete_timer_changed",
    "chat_background_set",
    "proximity_alert_triggered",
    "boost_added",
    "new_chat_members",
    "left_chat_member",
    "new_chat_title",
    "new_chat_photo",
    "delete_chat_photo",
    "group_chat_created",
    "supergroup_chat_created",
    "channel_chat_created",
    "migrate_to_chat_id",
    "migrate_from_chat_id",
    "forum_topic_created",
    "forum_topic_edited",
    "forum_topic_closed",
    "forum_topic_reopened",
    "general_forum_topic_hidden",
    "general_forum_topic_unhidden",
    "video_chat_scheduled",
    "video_chat_started",
    "video_chat_ended",
    "video_chat_participants_invited",
)

# Extensions for files whose sender gave no name, by the MIME type Telegram reports. A small table
# rather than `mimetypes`, which reads the system's mime.types files (I/O) and differs per host.
_EXTENSIONS: Final = {
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "audio/mpeg": ".mp3",
    "audio/mp4": ".m4a",
    "audio/ogg": ".ogg",
    "image/gif": ".gif",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "text/plain": ".txt",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
}


def parse_update(update: Mapping[str, Any], *, received_at: datetime | None = None) -> TelegramInbound | None:
    """Return the customer message carried by a webhook `Update`, None if it carries none to store.

    Stored: `message` updates from a human (`from.is_bot` false) in a private chat, and
    `callback_query` updates for inline buttons on the bot's own messages in such a chat. Ignored
    (None): every other update kind, including `edited_message` (the original is already stored),
    channel posts, group messages, messages from bots, inline-mode and game callbacks.

    A callback query has no date of its own, so its `sent_at` is `received_at` (tz-aware), or the
    current UTC time when not given.

    Raises ValueError, naming the field, when the update does not have the documented shape.
    """
    if not isinstance(update, Mapping):
        raise ValueError("update must be a JSON object")
    _require_int(update, "update_id", "update")
    present = [kind for kind in _UPDATE_KINDS if kind in update]
    if len(present) > 1:
        raise ValueError(f"update carries {' and '.join(present)}; at most one is allowed")
    if "message" in update:
        return _parse_message(_require_object(update, "message", "update"))
    if "callback_query" in update:
        query = _require_object(update, "callback_query", "update")
        return _parse_callback_query(query, received_at or datetime.now(UTC))
    return None


# --- messages -------------------------------------------------------------------------------------


def _parse_message(message: Mapping[str, Any]) -> TelegramInbound | None:
    where = "message"
    message_id = _require_int(message, "message_id", where)
    chat_id, chat_type = _chat(message, where)
    sent_at = _unix_time(message, "date", where)
    if chat_type != "private":
        return None  # groups, supergroups and channels are not customer conversations
    if "from" not in message:
        raise ValueError("message.from is required for a message in a private chat")
    sender = _require_object(message, "from", where)
    user = _user(sender, f"{where}.from")
    if user.is_bot:
        return None
    text, media, shared_phone = _content(message, user.id)
    return TelegramInbound(
        provider_message_id=f"{chat_id}:{message_id}",
        user_id=str(user.id),
        chat_id=chat_id,
        sender_name=user.display_name,
        language_code=user.language_code,
        text=text,
        sent_at=sent_at,
        media=media,
        shared_phone=shared_phone,
        callback_query_id=None,
    )


def _content(message: Mapping[str, Any], sender_id: int) -> tuple[str, tuple[MediaRef, ...], str | None]:
    """(text, media, shared phone) of a message, whatever kind of content it holds.

    Kinds we cannot show still produce a line of text, so that the agent sees that the customer
    sent *something* rather than nothing at all.
    """
    where = "message"
    caption = _optional_str(message, "caption", where) or ""
    if "text" in message:
        return _require_str(message, "text", where), (), None
    if "photo" in message:
        return caption, (_largest_photo(message),), None
    # An animation also fills `document` ("for backward compatibility"), so GIFs land here too.
    if "document" in message:
        doc = _require_object(message, "document", where)
        ref = _file(doc, "message.document", "document", "document", "application/octet-stream")
        return caption, (ref,), None
    if "video" in message:
        video = _require_object(message, "video", where)
        return caption, (_file(video, "message.video", "video", "video", "video/mp4"),), None
    if "video_note" in message:
        note = _require_object(message, "video_note", where)
        return caption, (_file(note, "message.video_note", "video", "video_note", "video/mp4"),), None
    if "voice" in message:
        voice = _require_object(message, "voice", where)
        return caption, (_file(voice, "message.voice", "voice", "voice", "audio/ogg"),), None
    if "audio" in message:
        audio = _require_object(message, "audio", where)
        return caption, (_file(audio, "message.audio", "audio", "audio", "audio/mpeg"),), None
    if "venue" in message:  # checked before `location`, which a venue also fills
        return _venue_text(_require_object(message, "venue", where)), (), None
    if "location" in message:
        return _location_text(_require_object(message, "location", where), "message.location"), (), None
    if "contact" in message:
        return _contact(_require_object(message, "contact", where), sender_id)
    kind = next((field for field in _OTHER_CONTENT if field in message), "unknown")
    placeholder = unsupported_note(kind)
    if kind == "sticker":  # a sticker stands for its emoji: a 👍 answers "did it help?"
        emoji = _optional_str(_require_object(message, "sticker", where), "emoji", "message.sticker")
        return (f"{emoji}\n{placeholder}" if emoji else placeholder), (), None
    return placeholder, (), None


def _largest_photo(message: Mapping[str, Any]) -> MediaRef:
    """The biggest of the sizes Telegram offers: the original as sent, the rest are thumbnails."""
    sizes = message.get("photo")
    if not isinstance(sizes, Sequence) or isinstance(sizes, str) or not sizes:
        raise ValueError("message.photo must be a non-empty array of PhotoSize")
    ranked: list[tuple[tuple[int, int], MediaRef]] = []
    for index, size in enumerate(sizes):
        where = f"message.photo[{index}]"
        obj = _as_object(size, where)
        width = _require_int(obj, "width", where)
        height = _require_int(obj, "height", where)
        ref = _file(obj, where, "photo", "photo", "image/jpeg")
        ranked.append(((width * height, ref.size or 0), ref))
    return max(ranked, key=lambda item: item[0])[1]


def _file(obj: Mapping[str, Any], where: str, kind: str, stem: str, default_type: str) -> MediaRef:
    """A MediaRef from any of PhotoSize, Document, Video, VideoNote, Voice or Audio.

    They share `file_id`, `file_unique_id` and the optional `file_size`; `file_name` and
    `mime_type` exist only on some, so the defaults fill in a name and type a browser can use.
    """
    file_id = _require_str(obj, "file_id", where)
    if not file_id:
        raise ValueError(f"{where}.file_id must not be empty")
    file_unique_id = _require_str(obj, "file_unique_id", where)
    content_type = _optional_str(obj, "mime_type", where) or default_type
    filename = _optional_str(obj, "file_name", where) or stem + _EXTENSIONS.get(content_type, ".bin")
    size = _optional_int(obj, "file_size", where)
    if size is not None and size < 0:
        raise ValueError(f"{where}.file_size must not be negative")
    return MediaRef(file_id, file_unique_id, kind, filename, content_type, size)


def _location_text(location: Mapping[str, Any], where: str) -> str:
    latitude = _coordinate(location, "latitude", where, 90.0)
    longitude = _coordinate(location, "longitude", where, 180.0)
    return f"Location: {latitude}, {longitude} {_map_link(latitude, longitude)}"


def _venue_text(venue: Mapping[str, Any]) -> str:
    where = "message.venue"
    location = _require_object(venue, "location", where)
    latitude = _coordinate(location, "latitude", f"{where}.location", 90.0)
    longitude = _coordinate(location, "longitude", f"{where}.location", 180.0)
    title = _require_str(venue, "title", where)
    address = _require_str(venue, "address", where)
    return f"Location: {title}, {address} ({latitude}, {longitude}) {_map_link(latitude, longitude)}"


def _map_link(latitude: str, longitude: str) -> str:
    return f"https://www.openstreetmap.org/?mlat={latitude}&mlon={longitude}"


def _coordinate(obj: Mapping[str, Any], key: str, where: str, limit: float) -> str:
    """A latitude or longitude, checked and written with six decimals (about 10 cm)."""
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}.{key} must be a number")
    # Compare before converting: a huge JSON integer would overflow `float`.
    if (isinstance(value, float) and not math.isfinite(value)) or not -limit <= value <= limit:
        raise ValueError(f"{where}.{key} must be between -{limit:g} and {limit:g}")
    return f"{value:.6f}"


def _contact(contact: Mapping[str, Any], sender_id: int) -> tuple[str, tuple[MediaRef, ...], str | None]:
    """A shared contact as text; its number counts as the customer's own only if it is theirs.

    Anyone can share any contact from their address book; only when `contact.user_id` is the
    sender's own id did the user share their own account's number (e.g. with a
    `request_contact` keyboard button), which is what makes it usable as an identity.
    """
    where = "message.contact"
    phone = _require_str(contact, "phone_number", where).strip()
    if phone.isdigit():
        # Some clients send the number without its "+" ("447700900123"). A Telegram account's
        # number is always international, so the digits start with the country code.
        phone = f"+{phone}"
    first = _require_str(contact, "first_name", where)
    last = _optional_str(contact, "last_name", where)
    owner = _optional_int(contact, "user_id", where)
    name = " ".join(part for part in (first, last) if part)
    text = f"Contact: {name} {phone}" if name else f"Contact: {phone}"
    return text, (), phone if owner == sender_id else None


# --- callback queries -----------------------------------------------------------------------------


def _parse_callback_query(query: Mapping[str, Any], received_at: datetime) -> TelegramInbound | None:
    """An inline keyboard button press in a private chat, stored as if the customer typed the
    button's label, read from the message the button is on; its data (the option's digit) when
    that message is no longer at hand.

    Why the label: buttons stay pressable on every earlier menu, and a digit means a different
    option at each one. "Check a ticket" pressed on an old menu sent "3", which the menu shown
    last read as its own option 3; its label is read for what it says.

    The button's message is a MaybeInaccessibleMessage: possibly an InaccessibleMessage (`date` 0)
    when the bot's message is too old or deleted, but its `chat` is still there. Queries without
    `message` come from inline-mode messages in other people's chats, and queries without `data`
    are game buttons; neither belongs to a conversation with us.
    """
    where = "callback_query"
    query_id = _require_str(query, "id", where)
    if not query_id:
        raise ValueError("callback_query.id must not be empty")
    user = _user(_require_object(query, "from", where), f"{where}.from")
    data = _optional_str(query, "data", where)
    if "message" not in query:
        return None
    message = _require_object(query, "message", where)
    chat_id, chat_type = _chat(message, f"{where}.message")
    if chat_type != "private" or user.is_bot or data is None:
        return None
    return TelegramInbound(
        provider_message_id=f"cb:{query_id}",
        user_id=str(user.id),
        chat_id=chat_id,
        sender_name=user.display_name,
        language_code=user.language_code,
        text=_pressed_label(message, data) or data,
        sent_at=received_at,
        media=(),
        shared_phone=None,
        callback_query_id=query_id,
    )


def _pressed_label(message: Mapping[str, Any], data: str) -> str | None:
    """The text of the button whose `callback_data` is `data` on `message`; None when the message
    is inaccessible (it carries no keyboard) or the keyboard is not what we sent."""
    markup = message.get("reply_markup")
    rows = markup.get("inline_keyboard") if isinstance(markup, Mapping) else None
    if not isinstance(rows, Sequence) or isinstance(rows, str):
        return None
    for row in rows:
        if not isinstance(row, Sequence) or isinstance(row, str):
            continue
        for button in row:
            if isinstance(button, Mapping) and button.get("callback_data") == data:
                label = button.get("text")
                return label.strip() or None if isinstance(label, str) else None
    return None


# --- shared objects -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _User:
    id: int
    is_bot: bool
    display_name: str | None
    language_code: str | None


def _user(obj: Mapping[str, Any], where: str) -> _User:
    """The documented User: `id`, `is_bot` and `first_name` are required, the rest optional."""
    user_id = _require_int(obj, "id", where)
    is_bot = obj.get("is_bot")
    if not isinstance(is_bot, bool):
        raise ValueError(f"{where}.is_bot must be a boolean")
    first = _require_str(obj, "first_name", where)
    last = _optional_str(obj, "last_name", where)
    username = _optional_str(obj, "username", where)
    language = _optional_str(obj, "language_code", where)
    name = " ".join(part.strip() for part in (first, last) if part and part.strip())
    return _User(user_id, is_bot, name or username or None, language or None)


def _chat(message: Mapping[str, Any], where: str) -> tuple[int, str]:
    if "chat" not in message:
        raise ValueError(f"{where}.chat is required")
    chat = _require_object(message, "chat", where)
    chat_id = _require_int(chat, "id", f"{where}.chat")
    chat_type = _require_str(chat, "type", f"{where}.chat")
    return chat_id, chat_type


def _unix_time(obj: Mapping[str, Any], key: str, where: str) -> datetime:
    """A Bot API date: Unix seconds, documented as always positive for a sent message."""
    seconds = _require_int(obj, key, where)
    if seconds <= 0:
        raise ValueError(f"{where}.{key} must be a positive Unix time")
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise ValueError(f"{where}.{key} is out of range") from exc


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
