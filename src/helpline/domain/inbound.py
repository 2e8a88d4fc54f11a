"""The normalised inbound message every channel adapter produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from helpline.domain.contacts import Language
from helpline.domain.conversations import Channel
from helpline.domain.identities import IdentityKind


@dataclass(frozen=True, slots=True)
class InboundAttachment:
    filename: str
    content_type: str
    size: int
    storage_key: str

    def __post_init__(self) -> None:
        if "\x00" in self.filename:  # see InboundMessage: kept without it rather than lost
            object.__setattr__(self, "filename", self.filename.replace("\x00", ""))


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
        # A NUL (U+0000) never means anything in a customer's words, and PostgreSQL cannot store
        # it: refusing the message would lose it (the provider retries, and fails again), so it
        # is kept without the NULs.
        for name in ("text", "identity_value", "sender_name", "provider_message_id"):
            value = getattr(self, name)
            if value is not None and "\x00" in value:
                object.__setattr__(self, name, value.replace("\x00", ""))
