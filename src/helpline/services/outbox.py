"""The durable outbox: queue outbound work with its cause, claim it, record what happened.

Rows are written in the transaction that creates the message, so a reply is never stored
without its delivery job nor queued for a message that was rolled back. Claims are leases:
a worker that dies mid-send leaves rows whose lease runs out and another worker takes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import aliased

from helpline.domain.conversations import DeliveryStatus
from helpline.domain.delivery import Delivered, DeliveryOutcome, RetryLater, RetryPolicy, next_attempt_at
from helpline.domain.flows.runtime import Choice
from helpline.services.conversations import conversation_event
from helpline.services.enqueue import OutboxStatus
from helpline.services.receipts import do_apply_pending_receipts
from helpline.storage.models import (
    Attachment,
    ChannelAccount,
    ContactIdentity,
    Conversation,
    Message,
    OutboxItem,
)
from helpline.storage.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class DeliveryJob:
    """Everything a sender needs, loaded in one place so senders stay free of storage."""

    item_id: int
    message_id: int
    conversation_id: int
    channel: str
    config: Mapping[str, Any]
    recipient: str | None
    text: str
    attempts: int
    #: (filename, content type, storage key) of each file sent with the message.
    files: tuple[tuple[str, str, str], ...] = ()
    #: (digit, label) of each choice offered with the message (the bot's menus).
    options: tuple[tuple[str, str], ...] = ()
    #: The label of the button that shares the customer's own number, when the bot asks for it.
    phone_request: str | None = None


async def do_claim_due(uow: UnitOfWork, limit: int, lease: timedelta) -> list[int]:
    """Lease up to `limit` due items (and items whose lease expired) to this worker.

    Only the head of each conversation's line is claimable: an item waits while an older item
    of its conversation is still queued or in flight, so the customer reads replies in the
    order they were written even across retries, crashes and several workers. On PostgreSQL
    `FOR UPDATE SKIP LOCKED` lets any number of workers claim side by side; SQLite has one
    writer at a time anyway (BEGIN IMMEDIATE) and ignores the clause.
    """
    now = uow.now()
    older, older_message = aliased(OutboxItem), aliased(Message)
    older_pending = (
        select(older.id)
        .join(older_message, older_message.id == older.message_id)
        .where(
            older_message.conversation_id == Message.conversation_id,
            older.id < OutboxItem.id,
            older.status.in_((OutboxStatus.QUEUED.value, OutboxStatus.SENDING.value)),
        )
        .exists()
    )
    ids = list(
        await uow.session.scalars(
            select(OutboxItem.id)
            .join(Message, Message.id == OutboxItem.message_id)
            .where(
                or_(
                    and_(OutboxItem.status == OutboxStatus.QUEUED.value, OutboxItem.due_at <= now),
                    and_(OutboxItem.status == OutboxStatus.SENDING.value, OutboxItem.locked_until < now),
                ),
                ~older_pending,
            )
            .order_by(OutboxItem.id)
            .limit(limit)
            .with_for_update(of=OutboxItem, skip_locked=True)
        )
    )
    if ids:
        await uow.session.execute(
            update(OutboxItem)
            .where(OutboxItem.id.in_(ids))
            .values(
                status=OutboxStatus.SENDING.value,
                locked_until=now + lease,
                attempts=OutboxItem.attempts + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
    return ids


async def claimed_kinds(uow: UnitOfWork, ids: list[int]) -> dict[int, tuple[str, int]]:
    """item id → (kind, attempts so far) of claimed items."""
    rows = await uow.session.execute(
        select(OutboxItem.id, OutboxItem.kind, OutboxItem.attempts).where(OutboxItem.id.in_(ids))
    )
    return {row[0]: (row[1], row[2]) for row in rows}


async def do_retry_item(uow: UnitOfWork, item_id: int, due_at: datetime, reason: str) -> None:
    """Put a claimed item back in the queue for `due_at`."""
    await uow.session.execute(
        update(OutboxItem)
        .where(OutboxItem.id == item_id)
        .values(
            status=OutboxStatus.QUEUED.value,
            due_at=due_at,
            locked_until=None,
            last_error=reason,
            updated_at=uow.now(),
        )
    )


async def delivery_job(uow: UnitOfWork, item_id: int, address_kinds: Mapping[str, str]) -> DeliveryJob | None:
    """The job for `item_id`; the recipient is the contact's newest identity of the channel's kind."""
    row = (
        await uow.session.execute(
            select(OutboxItem, Message, Conversation, ChannelAccount)
            .join(Message, Message.id == OutboxItem.message_id)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .join(ChannelAccount, ChannelAccount.id == Message.channel_account_id)
            .where(OutboxItem.id == item_id)
        )
    ).one_or_none()
    if row is None:
        return None
    item, message, conv, account = row
    recipient = None
    identity_kind = address_kinds.get(account.channel)
    if identity_kind is not None:
        recipient = await uow.session.scalar(
            select(ContactIdentity.value)
            .where(ContactIdentity.contact_id == conv.contact_id, ContactIdentity.kind == identity_kind)
            .order_by(ContactIdentity.id.desc())
            .limit(1)
        )
    files = (
        await uow.session.execute(
            select(Attachment.filename, Attachment.content_type, Attachment.storage_key)
            .where(Attachment.message_id == message.id)
            .order_by(Attachment.id)
        )
    ).all()
    choices = [Choice.from_json(o) for o in message.options or ()]
    return DeliveryJob(
        files=tuple((f[0], f[1], f[2]) for f in files),
        options=tuple((c.digit, c.label) for c in choices if not c.shares_phone),
        phone_request=next((c.label for c in choices if c.shares_phone), None),
        item_id=item.id,
        message_id=message.id,
        conversation_id=conv.id,
        channel=account.channel,
        config=dict(account.config or {}),
        recipient=recipient,
        text=message.text,
        attempts=item.attempts,
    )


async def do_record_outcome(
    uow: UnitOfWork,
    item_id: int,
    outcome: DeliveryOutcome,
    policy: RetryPolicy,
    jitter: float,
    *,
    keep_provider_id: bool = True,
) -> OutboxStatus:
    """Apply one attempt's outcome to the item and its message; tell the consoles.

    `keep_provider_id=False` records a delivery without the provider's id: the caller's second
    try when the unique index refused it (a provider that reuses an id, or an inbound message
    stored with an invented one). Only that message's receipts then cannot be matched."""
    item = await uow.session.get(OutboxItem, item_id, with_for_update=True)
    if item is None or item.status != OutboxStatus.SENDING.value or item.message_id is None:
        return OutboxStatus(item.status) if item is not None else OutboxStatus.FAILED
    message = await uow.session.get(Message, item.message_id)
    assert message is not None  # the item cascades away with its message
    now = uow.now()
    item.updated_at, item.locked_until = now, None
    if isinstance(outcome, Delivered):
        item.status, item.last_error = OutboxStatus.DONE.value, None
        message.delivery_status, message.delivery_error = DeliveryStatus.SENT.value, None
        message.sent_at = now
        message.provider_message_id = outcome.provider_message_id if keep_provider_id else None
        await do_apply_pending_receipts(uow, message)
    else:
        item.last_error = outcome.reason
        retry_at = (
            next_attempt_at(policy, item.attempts, outcome, now, jitter)
            if isinstance(outcome, RetryLater)
            else None
        )
        if retry_at is None:
            item.status = OutboxStatus.FAILED.value
            message.delivery_status, message.delivery_error = DeliveryStatus.FAILED.value, outcome.reason
        else:
            item.status, item.due_at = OutboxStatus.QUEUED.value, retry_at
            message.delivery_error = f"retrying: {outcome.reason}"
    conv = await uow.session.get(Conversation, message.conversation_id)
    assert conv is not None
    uow.emit(
        conversation_event(
            "message.updated",
            conv,
            message_id=message.id,
            delivery_status=message.delivery_status,
            delivery_error=message.delivery_error,
        )
    )
    return OutboxStatus(item.status)
