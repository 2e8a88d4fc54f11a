"""Provider receipts (delivered, read, failed) moving the status agents see next to a message."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import delete, select

from helpline.channels.base import StatusReceipt
from helpline.domain.conversations import DeliveryStatus, Direction
from helpline.domain.delivery import status_after_receipt
from helpline.services.conversations import conversation_event
from helpline.storage.models import Conversation, Message, PendingReceipt
from helpline.storage.uow import UnitOfWork, UnitOfWorkFactory

#: Receipts that never found their message (sent outside Helpline) are dropped after this.
PENDING_RECEIPT_TTL = timedelta(days=1)


async def record_receipts(
    make_uow: UnitOfWorkFactory, account_id: int, receipts: Sequence[StatusReceipt]
) -> None:
    """Apply `receipts` in one transaction; those whose message is not known yet wait for it."""
    if not receipts:
        return
    async with make_uow() as uow:
        for receipt in receipts:
            await do_apply_receipt(uow, account_id, receipt)
        await uow.session.execute(
            delete(PendingReceipt).where(PendingReceipt.received_at < uow.now() - PENDING_RECEIPT_TTL)
        )
        await uow.commit()


async def do_apply_receipt(uow: UnitOfWork, account_id: int, receipt: StatusReceipt) -> bool:
    message = await uow.session.scalar(
        select(Message).where(
            Message.channel_account_id == account_id,
            Message.provider_message_id == receipt.provider_message_id,
            Message.direction == Direction.OUTBOUND.value,
        )
    )
    if message is None:
        uow.session.add(
            PendingReceipt(
                channel_account_id=account_id,
                provider_message_id=receipt.provider_message_id,
                status=receipt.status.value,
                error=receipt.error,
                received_at=uow.now(),
            )
        )
        return False
    await _apply(uow, message, receipt.status, receipt.error)
    return True


async def do_apply_pending_receipts(uow: UnitOfWork, message: Message) -> None:
    """Receipts that came before the send's answer recorded `message.provider_message_id`."""
    if message.provider_message_id is None:
        return
    pending = list(
        await uow.session.scalars(
            select(PendingReceipt)
            .where(
                PendingReceipt.channel_account_id == message.channel_account_id,
                PendingReceipt.provider_message_id == message.provider_message_id,
            )
            .order_by(PendingReceipt.id)
        )
    )
    for receipt in pending:
        await _apply(uow, message, DeliveryStatus(receipt.status), receipt.error, emit=False)
        await uow.session.delete(receipt)


async def _apply(
    uow: UnitOfWork, message: Message, status: DeliveryStatus, error: str | None, *, emit: bool = True
) -> None:
    current = DeliveryStatus(message.delivery_status)
    new = status_after_receipt(current, status)
    if new is current:
        return
    message.delivery_status = new.value
    message.delivery_error = (
        (error or "the provider reported a failure") if new is DeliveryStatus.FAILED else None
    )
    if not emit:
        return
    conv = await uow.session.get(Conversation, message.conversation_id)
    if conv is not None:
        uow.emit(
            conversation_event(
                "message.updated",
                conv,
                message_id=message.id,
                delivery_status=message.delivery_status,
                delivery_error=message.delivery_error,
            )
        )
