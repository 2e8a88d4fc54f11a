"""Conversations and messages: their states and the rules for moving between them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from helpline.domain.errors import DomainError


class Channel(StrEnum):
    WEBCHAT = "webchat"
    TELEGRAM = "telegram"
    WHATSAPP = "whatsapp"
    VIBER = "viber"
    MESSENGER = "messenger"
    INSTAGRAM = "instagram"
    VK = "vk"
    EMAIL = "email"
    PHONE = "phone"
    PAPER = "paper"
    API = "api"


class ConversationStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class AuthorKind(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    BOT = "bot"
    SYSTEM = "system"


class Handler(StrEnum):
    """Who answers a conversation's next customer message."""

    BOT = "bot"
    AGENTS = "agents"


class DeliveryStatus(StrEnum):
    """Where a message is on its way; inbound messages are simply `received`."""

    RECEIVED = "received"
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


#: Conversations in these states still collect new customer messages.
ACTIVE_STATUSES = frozenset({ConversationStatus.OPEN, ConversationStatus.PENDING})
#: A customer's message leaves a conversation in these statuses as it is (it only moves up the
#: inbox); one that was pending (waiting on the customer) is opened again by their answer.
KEPT_BY_CUSTOMER_MESSAGE = frozenset({ConversationStatus.OPEN})

_ALLOWED: dict[ConversationStatus, frozenset[ConversationStatus]] = {
    ConversationStatus.OPEN: frozenset(
        {ConversationStatus.PENDING, ConversationStatus.RESOLVED, ConversationStatus.CLOSED}
    ),
    ConversationStatus.PENDING: frozenset(
        {ConversationStatus.OPEN, ConversationStatus.RESOLVED, ConversationStatus.CLOSED}
    ),
    ConversationStatus.RESOLVED: frozenset({ConversationStatus.OPEN, ConversationStatus.CLOSED}),
    # Closed is final: a customer writing again starts a new conversation, so reports on
    # closed work never change after the fact.
    ConversationStatus.CLOSED: frozenset(),
}


def check_status_change(current: ConversationStatus, new: ConversationStatus) -> None:
    """Raise DomainError unless `current` may become `new` (same state is a no-op, allowed)."""
    if current == new:
        return
    if new not in _ALLOWED[current]:
        raise DomainError(
            "a {current} conversation cannot become {new}",
            field="status",
            current=current.value,
            new=new.value,
        )


#: A customer writing within this time after resolution continues the same conversation.
REOPEN_WINDOW = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class LatestConversation:
    """What the inbound rule needs to know about a contact's latest conversation on a channel."""

    id: int
    status: ConversationStatus
    resolved_at: datetime | None


class InboundTarget(StrEnum):
    APPEND = "append"
    REOPEN = "reopen"
    NEW = "new"


def choose_inbound_target(
    latest: LatestConversation | None, now: datetime, reopen_window: timedelta = REOPEN_WINDOW
) -> InboundTarget:
    """Decide where a new customer message goes.

    Active conversations collect it; a recently resolved one is reopened (the customer is
    usually answering our last reply); anything older or closed starts a new conversation.
    """
    if latest is None:
        return InboundTarget.NEW
    if latest.status in ACTIVE_STATUSES:
        return InboundTarget.APPEND
    if (
        latest.status is ConversationStatus.RESOLVED
        and latest.resolved_at is not None
        and now - latest.resolved_at <= reopen_window
    ):
        return InboundTarget.REOPEN
    return InboundTarget.NEW


MAX_MESSAGE_LENGTH = 20_000
