"""Storing an inbound customer message: the one path every channel's webhook goes through.

It is the hottest write path of the product (bench/ingest.py measures it), so it issues
a handful of indexed statements and no ORM unit-of-work bookkeeping.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from helpline.domain.contacts import search_key
from helpline.domain.conversations import (
    AuthorKind,
    ConversationStatus,
    DeliveryStatus,
    Direction,
    InboundTarget,
    LatestConversation,
    Priority,
    choose_inbound_target,
)
from helpline.domain.events import Event
from helpline.domain.identities import normalise_identity
from helpline.domain.inbound import InboundMessage
from helpline.services.contacts import identity_owner
from helpline.storage.models import Attachment, Contact, ContactIdentity, Conversation, Message
from helpline.storage.uow import UnitOfWork, UnitOfWorkFactory


@dataclass(frozen=True, slots=True)
class IngestResult:
    message_id: int
    conversation_id: int
    contact_id: int
    duplicate: bool


async def _existing(uow: UnitOfWork, msg: InboundMessage) -> IngestResult | None:
    if msg.provider_message_id is None:
        return None
    row = (
        await uow.session.execute(
            select(Message.id, Message.conversation_id, Conversation.contact_id)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(
                Message.channel_account_id == msg.channel_account_id,
                Message.provider_message_id == msg.provider_message_id,
            )
        )
    ).first()
    return None if row is None else IngestResult(row[0], row[1], row[2], duplicate=True)


async def do_ingest_inbound(uow: UnitOfWork, msg: InboundMessage, default_region: str = "RU") -> IngestResult:
    """Find or create the contact and conversation, then store the message once per provider id."""
    existing = await _existing(uow, msg)
    if existing is not None:
        return existing
    session = uow.session
    now = uow.now()
    identity = normalise_identity(msg.identity_kind, msg.identity_value, default_region)
    contact_id = await identity_owner(uow, identity)
    if contact_id is None:
        contact_id = (
            await session.execute(
                insert(Contact)
                .values(
                    name=msg.sender_name,
                    name_key=search_key(msg.sender_name),
                    language=msg.language and msg.language.value,
                    is_vip=False,
                    tags=[],
                    attributes={},
                    created_at=now,
                    updated_at=now,
                )
                .returning(Contact.id)
            )
        ).scalar_one()
        await session.execute(
            insert(ContactIdentity).values(
                contact_id=contact_id,
                kind=identity.kind.value,
                value=identity.value,
                verified=True,
                created_at=now,
            )
        )
    latest_row = (
        await session.execute(
            select(
                Conversation.id,
                Conversation.status,
                Conversation.resolved_at,
                Conversation.team_id,
                Conversation.assignee_id,
            )
            .where(
                Conversation.contact_id == contact_id,
                Conversation.channel_account_id == msg.channel_account_id,
            )
            .order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
            .limit(1)
        )
    ).first()
    latest = (
        None
        if latest_row is None
        else LatestConversation(latest_row[0], ConversationStatus(latest_row[1]), latest_row[2])
    )
    target = choose_inbound_target(latest, now)
    events: list[Event] = []
    if target is InboundTarget.NEW or latest_row is None:
        language = (
            msg.language.value
            if msg.language
            else await session.scalar(select(Contact.language).where(Contact.id == contact_id))
        )
        conversation_id = (
            await session.execute(
                insert(Conversation)
                .values(
                    channel_account_id=msg.channel_account_id,
                    channel=msg.channel.value,
                    contact_id=contact_id,
                    status=ConversationStatus.OPEN.value,
                    priority=Priority.NORMAL.value,
                    language=language,
                    tags=[],
                    created_at=now,
                    updated_at=now,
                    last_message_at=now,
                )
                .returning(Conversation.id)
            )
        ).scalar_one()
        team_id = assignee_id = None
        events.append(
            Event(
                type="conversation.created",
                conversation_id=conversation_id,
                payload={"conversation_id": conversation_id, "contact_id": contact_id},
            )
        )
    else:
        conversation_id, team_id, assignee_id = latest_row[0], latest_row[3], latest_row[4]
        values: dict[str, object] = {"last_message_at": now, "updated_at": now}
        if target is InboundTarget.REOPEN or latest_row[1] == ConversationStatus.PENDING:
            values.update(status=ConversationStatus.OPEN.value, resolved_at=None)
        await session.execute(update(Conversation).where(Conversation.id == conversation_id).values(**values))
    message_id = (
        await session.execute(
            insert(Message)
            .values(
                conversation_id=conversation_id,
                channel_account_id=msg.channel_account_id,
                direction=Direction.INBOUND.value,
                author_kind=AuthorKind.CUSTOMER.value,
                text=msg.text,
                is_internal=False,
                provider_message_id=msg.provider_message_id,
                delivery_status=DeliveryStatus.RECEIVED.value,
                created_at=now,
                sent_at=msg.sent_at,
            )
            .returning(Message.id)
        )
    ).scalar_one()
    if msg.attachments:
        await session.execute(
            insert(Attachment),
            [
                {
                    "message_id": message_id,
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "size": a.size,
                    "storage_key": a.storage_key,
                }
                for a in msg.attachments
            ],
        )
    for event in events:
        uow.emit(event)
    uow.emit(
        Event(
            type="message.created",
            conversation_id=conversation_id,
            team_id=team_id,
            assignee_id=assignee_id,
            payload={"conversation_id": conversation_id, "message_id": message_id},
        )
    )
    return IngestResult(message_id, conversation_id, contact_id, duplicate=False)


async def ingest_inbound(
    make_uow: UnitOfWorkFactory, msg: InboundMessage, default_region: str = "RU"
) -> IngestResult:
    """Store `msg` in its own transaction; committed when this returns, so the webhook may answer 200.

    Two deliveries of one provider message racing each other both pass the duplicate check;
    the unique constraint stops the second, which then retries and finds the first.
    """
    for attempt in range(3):
        async with make_uow() as uow:
            try:
                result = await do_ingest_inbound(uow, msg, default_region)
                await uow.commit()
                return result
            except IntegrityError:
                if attempt == 2:
                    raise
    raise AssertionError("unreachable")
