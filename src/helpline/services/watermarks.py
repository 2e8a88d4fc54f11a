"""Receipts that name no message: "everything sent to this customer up to here was read".

Messenger's `read` event (and `delivery` without `mids`) carries only a watermark, a time
before or at which every message the Page sent was read (delivered); Instagram's `read` names the
last message seen. `record_receipts` needs a provider message id per receipt, so this module
finds the outbound messages a watermark covers (of the customer's conversations on that account)
and applies one receipt to each, through the same path as every other receipt: status only moves
forward, consoles are told.

VK's `message_read` says the same by message id: "read up to N" (`record_read_up_to`; VK's ids
grow with time).

Our `sent_at` is recorded when the provider's answer arrives, a round trip after the provider
stamped the message, so a watermark that covers exactly the latest message would miss it;
`grace` allows for that round trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from helpline.channels.base import StatusReceipt
from helpline.domain.conversations import DeliveryStatus, Direction
from helpline.domain.delivery import status_after_receipt
from helpline.domain.errors import DomainError
from helpline.domain.identities import IdentityKind, normalise_identity
from helpline.services.receipts import do_apply_receipt, record_receipts
from helpline.storage.models import ContactIdentity, Conversation, Message
from helpline.storage.uow import UnitOfWork, UnitOfWorkFactory

#: One Send API round trip plus a commit, generously.
DEFAULT_GRACE = timedelta(seconds=5)


@dataclass(frozen=True, slots=True)
class Watermark:
    """Messages sent to (`identity_kind`, `identity_value`) on the account reached `status`.

    Either `until` (everything sent at or before it) or `through_provider_message_id`
    (everything sent at or before that message, the message included) says how far.
    """

    identity_kind: IdentityKind
    identity_value: str
    status: DeliveryStatus
    at: datetime
    until: datetime | None = None
    through_provider_message_id: str | None = None


async def record_watermarks(
    make_uow: UnitOfWorkFactory,
    account_id: int,
    marks: Sequence[Watermark],
    grace: timedelta = DEFAULT_GRACE,
) -> int:
    """Apply `marks` in one transaction; returns how many messages they covered."""
    if not marks:
        return 0
    async with make_uow() as uow:
        covered = 0
        for mark in marks:
            covered += await do_apply_watermark(uow, account_id, mark, grace)
        await uow.commit()
    return covered


async def do_apply_watermark(
    uow: UnitOfWork, account_id: int, mark: Watermark, grace: timedelta = DEFAULT_GRACE
) -> int:
    """Move every covered message forward; an unknown `through` message waits as a pending receipt."""
    through = mark.through_provider_message_id
    cutoff = await _cutoff(uow, account_id, mark, grace)
    if cutoff is None:
        if through is not None:  # the send's answer is not recorded yet: keep it for later
            await do_apply_receipt(uow, account_id, StatusReceipt(through, mark.status, mark.at))
        return 0
    contact_id = await _contact_of(uow, mark)
    if contact_id is None:
        return 0
    movable = [s.value for s in DeliveryStatus if status_after_receipt(s, mark.status) is not s]
    provider_ids = list(
        await uow.session.scalars(
            select(Message.provider_message_id)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(
                Conversation.contact_id == contact_id,
                Message.channel_account_id == account_id,
                Message.direction == Direction.OUTBOUND.value,
                Message.provider_message_id.is_not(None),
                Message.sent_at <= cutoff,
                Message.delivery_status.in_(movable),
            )
            .order_by(Message.id)
        )
    )
    for provider_id in provider_ids:
        if provider_id is not None:
            await do_apply_receipt(uow, account_id, StatusReceipt(provider_id, mark.status, mark.at))
    return len(provider_ids)


async def _cutoff(uow: UnitOfWork, account_id: int, mark: Watermark, grace: timedelta) -> datetime | None:
    if mark.through_provider_message_id is None:
        return None if mark.until is None else mark.until + grace
    sent_at: datetime | None = await uow.session.scalar(
        select(Message.sent_at).where(
            Message.channel_account_id == account_id,
            Message.provider_message_id == mark.through_provider_message_id,
            Message.direction == Direction.OUTBOUND.value,
        )
    )
    return sent_at


async def _contact_of(uow: UnitOfWork, mark: Watermark) -> int | None:
    try:
        identity = normalise_identity(mark.identity_kind, mark.identity_value)
    except DomainError:
        return None
    contact_id: int | None = await uow.session.scalar(
        select(ContactIdentity.contact_id).where(
            ContactIdentity.kind == identity.kind.value, ContactIdentity.value == identity.value
        )
    )
    return contact_id


#: Outbound messages a read mark can still move forward.
_UNREAD = (DeliveryStatus.SENT.value, DeliveryStatus.DELIVERED.value)


async def record_read_up_to(
    make_uow: UnitOfWorkFactory,
    account_id: int,
    kind: IdentityKind,
    address: str,
    last_read_id: int,
    at: datetime,
) -> int:
    """Mark read our messages to the customer at (`kind`, `address`) with numeric ids ≤ `last_read_id`.

    Returns how many receipts were recorded. The mark for `last_read_id` itself is always among
    them, so it is kept (as a pending receipt) if that message's send is still being recorded.
    """
    async with make_uow() as uow:
        rows = await uow.session.scalars(
            select(Message.provider_message_id)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .join(ContactIdentity, ContactIdentity.contact_id == Conversation.contact_id)
            .where(
                Message.channel_account_id == account_id,
                Message.direction == Direction.OUTBOUND.value,
                Message.delivery_status.in_(_UNREAD),
                Message.provider_message_id.is_not(None),
                ContactIdentity.kind == kind.value,
                ContactIdentity.value == address,
            )
        )
        ids = {pid for pid in rows if pid is not None and pid.isdigit() and int(pid) <= last_read_id}
    ids.add(str(last_read_id))
    receipts = [StatusReceipt(pid, DeliveryStatus.READ, at) for pid in sorted(ids, key=int)]
    await record_receipts(make_uow, account_id, receipts)
    return len(receipts)
