"""Read marks that cover many messages at once: "the customer has read everything up to N".

Some providers (VK's `message_read`) do not acknowledge messages one by one but say up to which
of our messages in a dialog the customer has read. Their message ids grow with time, so every
outbound message to that customer with an id up to N is read. The receipts themselves go
through `record_receipts`, which keeps the forward-only status rules and stores a receipt for
a message whose send has not been recorded yet.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from helpline.channels.base import StatusReceipt
from helpline.domain.conversations import DeliveryStatus, Direction
from helpline.domain.identities import IdentityKind
from helpline.services.receipts import record_receipts
from helpline.storage.models import ContactIdentity, Conversation, Message
from helpline.storage.uow import UnitOfWorkFactory

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
