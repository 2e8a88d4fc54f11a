"""The normalised inbound message every channel adapter produces."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from helpline.domain.contacts import Language
from helpline.domain.conversations import Channel
from helpline.domain.identities import IdentityKind
from helpline.domain.text import storable

# --- channel notes -----------------------------------------------------------------------------
# A line a channel adapter writes where a message had no words of its own, or lost part of itself
# on the way. It is stored in English for the agent to see (the console tells it in the agent's
# language) and is not something the customer said, so the bot does not read it. Writers and
# readers share this grammar: only a whole line in brackets is a note ("[срочно] когда тираж" is
# the customer's).

#: What happened to a file the provider named, in a media note.
MEDIA_NOT_AVAILABLE = "not available"
MEDIA_NOT_STORED = "not stored"
MEDIA_TOO_LARGE = "too large to keep"
_CHANNEL_NOTE = re.compile(r"\[[^\[\]\n]+\]")
UNSUPPORTED_NOTE = re.compile(r"\[unsupported message type: ([^\[\]\n]+)\]")
MEDIA_NOTE = re.compile(
    rf"\[(\w+) ({MEDIA_NOT_AVAILABLE}|{MEDIA_NOT_STORED}|{MEDIA_TOO_LARGE}): ([^\[\]\n]*)\]"
)


def unsupported_note(kind: str) -> str:
    """The note for content we cannot show ("sticker", "poll"…)."""
    return f"[unsupported message type: {kind}]"


def media_note(kind: str, what: str, detail: str) -> str:
    """The note for a file (`kind`: "video", "document"…) that is `what` (MEDIA_…), and why."""
    return f"[{kind} {what}: {detail}]"


def customer_words(text: str) -> str:
    """The customer's own words in a stored message's text: its lines without channel notes.

    Why: the bot read "[unsupported message type: sticker]" as an English question, turned a
    Russian conversation English and offered articles for it."""
    if "[" not in text:
        return text
    return "\n".join(line for line in text.split("\n") if not _CHANNEL_NOTE.fullmatch(line.strip()))


@dataclass(frozen=True, slots=True)
class InboundAttachment:
    filename: str
    content_type: str
    size: int
    storage_key: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "filename", storable(self.filename))  # see InboundMessage


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One customer message as a channel delivered it, before we know who the customer is.

    `provider_message_id` is the provider's own id; together with the channel account it makes
    provider retries recognisable, so a webhook delivered twice is stored once.
    """

    channel: Channel
    channel_account_id: int
    identity_kind: IdentityKind
    identity_value: str
    text: str
    provider_message_id: str | None
    sent_at: datetime
    sender_name: str | None = None
    language: Language | None = None
    attachments: tuple[InboundAttachment, ...] = field(default=())

    def __post_init__(self) -> None:
        # A NUL or half a surrogate pair never means anything in a customer's words, and no
        # database stores them: refusing the message would lose it (the provider retries, and
        # fails again), so it is kept without them.
        for name in ("text", "identity_value", "sender_name", "provider_message_id"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, storable(value))
