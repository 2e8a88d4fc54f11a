"""Storing an inbound customer message: the one path every channel's webhook goes through.

It is the hottest write path of the product (bench/ingest.py measures it), so it issues
a handful of indexed statements and no ORM unit-of-work bookkeeping.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from helpline.domain.contacts import search_key
from helpline.domain.conversations import (
    AuthorKind,
    ConversationStatus,
    DeliveryStatus,
    Direction,
    Handler,
    InboundTarget,
    LatestConversation,
    Priority,
    choose_inbound_target,
)
from helpline.domain.events import Event
from helpline.domain.identities import Identity, normalise_identity
from helpline.domain.inbound import InboundMessage
from helpline.services.enqueue import KIND_BOT_TURN, OutboxStatus
from helpline.storage.models import (
    Attachment,
    ChannelAccount,
    Contact,
    ContactIdentity,
    Conversation,
    FlowActivation,
    Message,
    OutboxItem,
)
from helpline.storage.uow import UnitOfWork, UnitOfWorkFactory


@dataclass(frozen=True, slots=True)
class IngestResult:
    message_id: int
    conversation_id: int
    contact_id: int
    duplicate: bool
    #: When the message was stored (the first time, for a duplicate).
    stored_at: datetime


async def _duplicate(uow: UnitOfWork, message_id: int) -> IngestResult:
    row = (
        await uow.session.execute(
            select(Message.conversation_id, Conversation.contact_id, Message.created_at)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Message.id == message_id)
        )
    ).one()
    return IngestResult(message_id, row[0], row[1], duplicate=True, stored_at=row[2])


@dataclass(frozen=True, slots=True)
class _Known:
    """What the store already knows about the sender, fetched in one round trip."""

    duplicate_id: int | None
    contact_id: int | None
    #: The account's inbox team, which a new conversation starts in.
    account_team_id: int | None
    #: The flow version active on the channel: a new conversation starts with the bot.
    flow_version_id: int | None
    contact_language: str | None
    #: The contact's latest conversation on this account, if any.
    latest: LatestConversation | None
    latest_team_id: int | None
    latest_assignee_id: int | None
    latest_handler: str | None


# Statements are built once: constructing them per message cost more than running them,
# and identical statement objects hit SQLAlchemy's compiled-SQL cache.
# One statement answers everything the ingest needs to decide (duplicate? known sender? their
# latest conversation here? the account's team and flow?): a returning customer's message costs
# this, one conversation update and one insert between BEGIN and COMMIT.
_latest = aliased(Conversation)
_anchor = select(literal(1).label("one")).subquery("anchor")
_LOOKUP = (
    select(
        select(Message.id)
        .where(
            Message.channel_account_id == bindparam("account_id"),
            Message.provider_message_id == bindparam("provider_id"),
        )
        .scalar_subquery()
        .label("duplicate_id"),
        ContactIdentity.contact_id,
        select(ChannelAccount.team_id)
        .where(ChannelAccount.id == bindparam("account_id"))
        .scalar_subquery()
        .label("account_team_id"),
        select(FlowActivation.flow_version_id)
        .where(FlowActivation.channel == bindparam("channel"))
        .scalar_subquery()
        .label("flow_version_id"),
        Contact.language,
        Conversation.id,
        Conversation.status,
        Conversation.resolved_at,
        Conversation.team_id,
        Conversation.assignee_id,
        Conversation.handler,
    )
    .select_from(_anchor)
    .outerjoin(
        ContactIdentity,
        and_(ContactIdentity.kind == bindparam("kind"), ContactIdentity.value == bindparam("value")),
    )
    .outerjoin(Contact, Contact.id == ContactIdentity.contact_id)
    .outerjoin(
        Conversation,
        Conversation.id
        == select(_latest.id)
        .where(
            _latest.contact_id == ContactIdentity.contact_id,
            _latest.channel_account_id == bindparam("account_id"),
        )
        .order_by(_latest.last_message_at.desc(), _latest.id.desc())
        .limit(1)
        .correlate(ContactIdentity)
        .scalar_subquery(),
    )
)
_INSERT_CONTACT = insert(Contact).returning(Contact.id)
_INSERT_IDENTITY = insert(ContactIdentity)
_INSERT_CONVERSATION = insert(Conversation).returning(Conversation.id)
_INSERT_MESSAGE = insert(Message).returning(Message.id)
_INSERT_OUTBOX = insert(OutboxItem)
#: A returning customer's message moves their conversation up the inbox...
_TOUCH_CONVERSATION = (
    update(Conversation)
    .where(Conversation.id == bindparam("conversation_id"))
    .values(last_message_at=bindparam("touched_at"), updated_at=bindparam("touched_at"))
)
#: ...and reopens it when it was resolved or waiting on the customer.
_REOPEN_CONVERSATION = _TOUCH_CONVERSATION.values(status=ConversationStatus.OPEN.value, resolved_at=None)


async def _lookup(conn: AsyncConnection, msg: InboundMessage, identity: Identity) -> _Known:
    row = (
        await conn.execute(
            _LOOKUP,
            {
                "account_id": msg.channel_account_id,
                "provider_id": msg.provider_message_id,
                "kind": identity.kind.value,
                "value": identity.value,
                "channel": msg.channel.value,
            },
        )
    ).one()
    latest = LatestConversation(row[5], ConversationStatus(row[6]), row[7]) if row[5] is not None else None
    return _Known(row[0], row[1], row[2], row[3], row[4], latest, row[8], row[9], row[10])


async def _create_contact(
    conn: AsyncConnection, msg: InboundMessage, identity: Identity, now: datetime
) -> int:
    contact_id: int = (
        await conn.execute(
            _INSERT_CONTACT,
            {
                "name": msg.sender_name,
                "name_key": search_key(msg.sender_name),
                "language": msg.language and msg.language.value,
                "is_vip": False,
                "tags": [],
                "attributes": {},
                "created_at": now,
                "updated_at": now,
            },
        )
    ).scalar_one()
    await conn.execute(
        _INSERT_IDENTITY,
        {
            "contact_id": contact_id,
            "kind": identity.kind.value,
            "value": identity.value,
            "verified": True,
            "created_at": now,
        },
    )
    return contact_id


async def do_ingest_inbound(uow: UnitOfWork, msg: InboundMessage, default_region: str = "RU") -> IngestResult:
    """Find or create the contact and conversation, then store the message once per provider id.

    Round trips are counted here: a returning customer costs three statements between
    BEGIN and COMMIT (look-up, conversation touch, message insert).
    """
    conn = await uow.session.connection()
    now = uow.now()
    identity = normalise_identity(msg.identity_kind, msg.identity_value, default_region)
    known = await _lookup(conn, msg, identity)
    if known.duplicate_id is not None:
        return await _duplicate(uow, known.duplicate_id)
    language = msg.language.value if msg.language else None
    latest: LatestConversation | None = None
    team_id = assignee_id = None
    handler = Handler.AGENTS.value
    if known.contact_id is None:
        contact_id = await _create_contact(conn, msg, identity, now)
    else:
        contact_id = known.contact_id
        language = language or known.contact_language
        latest = known.latest
        team_id, assignee_id = known.latest_team_id, known.latest_assignee_id
        handler = known.latest_handler or Handler.AGENTS.value
    target = choose_inbound_target(latest, now)
    if latest is None or target is InboundTarget.NEW:
        team_id, assignee_id = known.account_team_id, None
        handler = (Handler.BOT if known.flow_version_id is not None else Handler.AGENTS).value
        conversation_id: int = (
            await conn.execute(
                _INSERT_CONVERSATION,
                {
                    "channel_account_id": msg.channel_account_id,
                    "channel": msg.channel.value,
                    "contact_id": contact_id,
                    "team_id": team_id,
                    "status": ConversationStatus.OPEN.value,
                    "priority": Priority.NORMAL.value,
                    "language": language,
                    "tags": [],
                    "created_at": now,
                    "updated_at": now,
                    "last_message_at": now,
                    "handler": handler,
                    "flow_version_id": known.flow_version_id,
                },
            )
        ).scalar_one()
        uow.emit(
            Event(
                type="conversation.created",
                conversation_id=conversation_id,
                team_id=team_id,
                payload={"conversation_id": conversation_id, "contact_id": contact_id},
            )
        )
    else:
        conversation_id = latest.id
        reopens = target is InboundTarget.REOPEN or latest.status is ConversationStatus.PENDING
        await conn.execute(
            _REOPEN_CONVERSATION if reopens else _TOUCH_CONVERSATION,
            {"conversation_id": conversation_id, "touched_at": now},
        )
    message_id: int = (
        await conn.execute(
            _INSERT_MESSAGE,
            {
                "conversation_id": conversation_id,
                "channel_account_id": msg.channel_account_id,
                "direction": Direction.INBOUND.value,
                "author_kind": AuthorKind.CUSTOMER.value,
                "author_user_id": None,
                "text": msg.text,
                "is_internal": False,
                "provider_message_id": msg.provider_message_id,
                "delivery_status": DeliveryStatus.RECEIVED.value,
                "delivery_error": None,
                "created_at": now,
                "sent_at": msg.sent_at,
            },
        )
    ).scalar_one()
    if handler == Handler.BOT:
        # The bot's turn is queued with the message, in its transaction: a crash after the
        # webhook's 200 cannot leave the customer unanswered.
        await conn.execute(
            _INSERT_OUTBOX,
            {
                "kind": KIND_BOT_TURN,
                "message_id": message_id,
                "status": OutboxStatus.QUEUED.value,
                "attempts": 0,
                "due_at": now,
                "created_at": now,
                "updated_at": now,
            },
        )
    if msg.attachments:
        await conn.execute(
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
    uow.emit(
        Event(
            type="message.created",
            conversation_id=conversation_id,
            team_id=team_id,
            assignee_id=assignee_id,
            payload={"conversation_id": conversation_id, "contact_id": contact_id, "message_id": message_id},
        )
    )
    return IngestResult(message_id, conversation_id, contact_id, duplicate=False, stored_at=now)


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
