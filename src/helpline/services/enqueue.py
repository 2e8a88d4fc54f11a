"""Queueing outbound work in the caller's transaction (the outbox's write side)."""

from __future__ import annotations

from enum import StrEnum

from helpline.domain.conversations import Channel
from helpline.storage.models import Message, OutboxItem
from helpline.storage.uow import UnitOfWork

KIND_MESSAGE = "message"
#: A customer message the self-service bot must answer (its item's message is the inbound one).
KIND_BOT_TURN = "bot_turn"

#: Channels whose agent replies the customer reads inside Helpline itself (the widget fetches
#: them): nothing to hand to a provider.
IN_APP_CHANNELS = frozenset({Channel.WEBCHAT})


class OutboxStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    DONE = "done"
    FAILED = "failed"


def needs_delivery(channel: str) -> bool:
    return channel not in IN_APP_CHANNELS


def do_enqueue_message(uow: UnitOfWork, message: Message) -> None:
    """Queue `message` for its channel (call in the transaction that stores it, after a flush)."""
    now = uow.now()
    uow.session.add(
        OutboxItem(
            kind=KIND_MESSAGE,
            message_id=message.id,
            status=OutboxStatus.QUEUED.value,
            attempts=0,
            due_at=now,
            created_at=now,
            updated_at=now,
        )
    )
