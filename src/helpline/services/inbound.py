"""Storing an inbound customer message: the one path every channel's webhook goes through.

It is the hottest write path of the product (bench/ingest.py and bench/webhooks.py measure
it), so it issues a handful of indexed statements and no ORM unit-of-work bookkeeping.

On PostgreSQL a returning customer's message, the common case, is one round trip: one
statement, run in autocommit so that it is its own transaction, looks up the sender and,
when their latest conversation is open, touches it, inserts the message and queues the bot's
turn. A message that reopens a conversation, or starts one (with the contact, for a
first-time sender), takes a second statement. The same work in an explicit transaction took
five round trips (BEGIN, look-up, update, insert, COMMIT), each a send, an event-loop
wake-up and a receive, and SQLAlchemy's execution layers around each; measured one message
at a time, the ingest's CPU went from about 1,000 to 380 µs a message.
Several messages stored together by the batcher use the same statements in one transaction.
Messages with attachments, and SQLite always, run in a transaction through SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from sqlalchemy import (
    CTE,
    BindParameter,
    ColumnElement,
    Select,
    and_,
    bindparam,
    insert,
    literal,
    literal_column,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import QueryableAttribute, aliased

from helpline.domain.contacts import search_key
from helpline.domain.conversations import (
    KEPT_BY_CUSTOMER_MESSAGE,
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
from helpline.storage.driver_sql import DriverConnection, DriverStatement, driver_connection
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
from helpline.storage.types import JsonDoc, UTCDateTime
from helpline.storage.uow import UnitOfWork, UnitOfWorkFactory


@dataclass(frozen=True, slots=True)
class IngestResult:
    message_id: int
    conversation_id: int
    contact_id: int
    duplicate: bool
    #: When the message was stored (the first time, for a duplicate).
    stored_at: datetime


@dataclass(frozen=True, slots=True)
class _Duplicate:
    """The message a provider retry repeats: what the webhook answers without storing anything."""

    message_id: int
    conversation_id: int
    contact_id: int
    stored_at: datetime


@dataclass(frozen=True, slots=True)
class _Known:
    """What the store already knows about the sender, fetched in one round trip."""

    duplicate: _Duplicate | None
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


@dataclass(frozen=True, slots=True)
class _Plan:
    """Where a new message goes, decided from `_Known` alone (no I/O)."""

    #: None: the sender is new, a contact is created.
    contact_id: int | None
    #: None: a new conversation is started.
    conversation_id: int | None
    #: The existing conversation is reopened (it was resolved, or waiting on the customer).
    reopens: bool
    team_id: int | None
    assignee_id: int | None
    handler: str
    language: str | None


def _plan(known: _Known, msg: InboundMessage, now: datetime) -> _Plan:
    language = msg.language.value if msg.language else None
    if known.contact_id is None:
        return _new_conversation(known, None, language)
    language = language or known.contact_language
    latest = known.latest
    target = choose_inbound_target(latest, now)
    if latest is None or target is InboundTarget.NEW:
        return _new_conversation(known, known.contact_id, language)
    return _Plan(
        contact_id=known.contact_id,
        conversation_id=latest.id,
        reopens=target is InboundTarget.REOPEN or latest.status not in KEPT_BY_CUSTOMER_MESSAGE,
        team_id=known.latest_team_id,
        assignee_id=known.latest_assignee_id,
        handler=known.latest_handler or Handler.AGENTS.value,
        language=language,
    )


def _new_conversation(known: _Known, contact_id: int | None, language: str | None) -> _Plan:
    handler = Handler.BOT if known.flow_version_id is not None else Handler.AGENTS
    return _Plan(contact_id, None, False, known.account_team_id, None, handler.value, language)


# Statements are built once: constructing them per message cost more than running them,
# and identical statement objects hit SQLAlchemy's compiled-SQL cache.
# One statement answers everything the ingest needs to decide (duplicate? known sender? their
# latest conversation here? the account's team and flow?).
_latest = aliased(Conversation)
_dup = aliased(Message)
_dup_conversation = aliased(Conversation)
_anchor = select(literal(1).label("one")).subquery("anchor")
_LOOKUP = (
    select(
        _dup.id.label("duplicate_id"),
        _dup.conversation_id.label("duplicate_conversation_id"),
        _dup_conversation.contact_id.label("duplicate_contact_id"),
        _dup.created_at.label("duplicate_created_at"),
        ContactIdentity.contact_id.label("contact_id"),
        select(ChannelAccount.team_id)
        .where(ChannelAccount.id == bindparam("account_id"))
        .scalar_subquery()
        .label("account_team_id"),
        select(FlowActivation.flow_version_id)
        .where(FlowActivation.channel == bindparam("channel"))
        .scalar_subquery()
        .label("flow_version_id"),
        Contact.language.label("contact_language"),
        Conversation.id.label("latest_id"),
        Conversation.status.label("latest_status"),
        Conversation.resolved_at.label("latest_resolved_at"),
        Conversation.team_id.label("latest_team_id"),
        Conversation.assignee_id.label("latest_assignee_id"),
        Conversation.handler.label("latest_handler"),
    )
    .select_from(_anchor)
    .outerjoin(
        _dup,
        and_(
            _dup.channel_account_id == bindparam("account_id"),
            _dup.provider_message_id == bindparam("provider_id"),
        ),
    )
    .outerjoin(_dup_conversation, _dup_conversation.id == _dup.conversation_id)
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

_MESSAGE_COLUMNS = (
    "conversation_id",
    "channel_account_id",
    "direction",
    "author_kind",
    "text",
    "is_internal",
    "provider_message_id",
    "delivery_status",
    "created_at",
    "sent_at",
)
_OUTBOX_COLUMNS = ("kind", "message_id", "status", "attempts", "due_at", "created_at", "updated_at")
_STAMP = bindparam("touched_at", type_=UTCDateTime())


def _insert_message_into(touched: CTE) -> CTE:
    """The customer's message, inserted into the conversation `touched` returns (if any)."""
    return (
        insert(Message)
        .from_select(
            _MESSAGE_COLUMNS,
            select(
                touched.c.id,
                bindparam("account_id", type_=Message.channel_account_id.type),
                literal(Direction.INBOUND.value),
                literal(AuthorKind.CUSTOMER.value),
                bindparam("message_text", type_=Message.text.type),
                literal(False),
                bindparam("provider_id", type_=Message.provider_message_id.type),
                literal(DeliveryStatus.RECEIVED.value),
                _STAMP,
                bindparam("customer_sent_at", type_=UTCDateTime()),
            ),
        )
        .returning(Message.id)
        .cte("new_message")
    )


def _queue_bot_turn(new_message: CTE, *only_if: ColumnElement[bool]) -> CTE:
    """The bot's turn, queued for the message `new_message` returns (if any)."""
    turn = select(
        literal(KIND_BOT_TURN),
        new_message.c.id,
        literal(OutboxStatus.QUEUED.value),
        literal(0),
        _STAMP,
        _STAMP,
        _STAMP,
    ).select_from(new_message)
    return insert(OutboxItem).from_select(_OUTBOX_COLUMNS, turn.where(*only_if)).cte("queued")


def _append_statement(*, reopens: bool, queues_bot_turn: bool) -> Select[int]:
    """PostgreSQL: touch (or reopen) the conversation, insert the message, queue the bot's turn.

    One statement, so in autocommit it is one atomic transaction and one round trip. The
    message is inserted from the updated row: when the conversation is gone, nothing is
    written and no id comes back. A provider retry racing its original fails on the unique
    constraint, and the whole statement with it, the conversation touch included.

    Parameter names differ from the columns': executing an UPDATE with a parameter named
    after one of its table's columns would add that column to its SET clause.
    """
    touched = (
        (_REOPEN_CONVERSATION if reopens else _TOUCH_CONVERSATION).returning(Conversation.id).cte("touched")
    )
    new_message = _insert_message_into(touched)
    statement = select(new_message.c.id)
    if queues_bot_turn:
        statement = statement.add_cte(_queue_bot_turn(new_message))
    return statement


def _lookup_and_append_statement() -> Select[Any]:
    """PostgreSQL, the common case in one round trip: the look-up, and the message appended
    when the look-up shows the customer's latest conversation here is one their message
    leaves as it is (`KEPT_BY_CUSTOMER_MESSAGE`) and the message is no provider retry.

    Returns the look-up's row and the new message's id, NULL when the statement appended
    nothing: then the look-up decides in Python, as before. The status is tested on the row
    being updated, so a conversation resolved by an agent at that very moment is left to
    that decision too.
    """
    known = _LOOKUP.cte("known")
    touched = (
        update(Conversation)
        .where(
            Conversation.id == known.c.latest_id,
            known.c.duplicate_id.is_(None),
            or_(*(Conversation.status == status.value for status in sorted(KEPT_BY_CUSTOMER_MESSAGE))),
        )
        .values(last_message_at=_STAMP, updated_at=_STAMP)
        .returning(Conversation.id)
        .cte("touched")
    )
    new_message = _insert_message_into(touched)
    return (
        select(known, new_message.c.id.label("message_id"))
        .select_from(known.outerjoin(new_message, true()))
        .add_cte(_queue_bot_turn(new_message, known.c.latest_handler == Handler.BOT.value))
    )


_EMPTY_JSON_LIST = literal_column("'[]'::jsonb", JsonDoc)
_EMPTY_JSON_OBJECT = literal_column("'{}'::jsonb", JsonDoc)


def _typed(name: str, column: QueryableAttribute[Any]) -> BindParameter[Any]:
    """A parameter with its column's type: rendered with a cast, which INSERT ... SELECT needs."""
    return bindparam(name, type_=column.type)


def _start_statement(*, new_contact: bool, queues_bot_turn: bool) -> Select[Any]:
    """PostgreSQL: a new conversation with its first message (and the bot's turn), in one
    statement; for a first-time sender, their contact and identity too.

    The contact's identity is unique: a first message of the same new sender stored by
    another process at the same moment fails this whole statement, and the retry finds the
    contact that won. Returns the contact, conversation and message ids.
    """
    contact_id: ColumnElement[Any]
    extra: list[CTE] = []
    if new_contact:
        contact = (
            insert(Contact)
            .values(
                name=_typed("sender_name", Contact.name),
                name_key=_typed("name_key", Contact.name_key),
                language=_typed("contact_language", Contact.language),
                is_vip=False,
                tags=_EMPTY_JSON_LIST,
                attributes=_EMPTY_JSON_OBJECT,
                created_at=_STAMP,
                updated_at=_STAMP,
            )
            .returning(Contact.id)
            .cte("new_contact")
        )
        contact_id = contact.c.id
        identity = insert(ContactIdentity).from_select(
            ("contact_id", "kind", "value", "verified", "created_at"),
            select(
                contact.c.id,
                _typed("kind", ContactIdentity.kind),
                _typed("value", ContactIdentity.value),
                literal(True),
                _STAMP,
            ),
        )
        extra.append(identity.cte("new_identity"))
    else:
        contact_id = _typed("contact_id", Conversation.contact_id)
    conversation = (
        insert(Conversation)
        .from_select(
            (
                "channel_account_id",
                "channel",
                "contact_id",
                "team_id",
                "status",
                "priority",
                "language",
                "tags",
                "created_at",
                "updated_at",
                "last_message_at",
                "handler",
                "flow_version_id",
            ),
            select(
                _typed("account_id", Conversation.channel_account_id),
                _typed("channel", Conversation.channel),
                contact_id,
                _typed("team_id", Conversation.team_id),
                literal(ConversationStatus.OPEN.value),
                literal(Priority.NORMAL.value),
                _typed("conversation_language", Conversation.language),
                _EMPTY_JSON_LIST,
                _STAMP,
                _STAMP,
                _STAMP,
                _typed("handler", Conversation.handler),
                _typed("flow_version_id", Conversation.flow_version_id),
            ),
        )
        .returning(Conversation.id, Conversation.contact_id)
        .cte("new_conversation")
    )
    new_message = _insert_message_into(conversation)
    if queues_bot_turn:
        extra.append(_queue_bot_turn(new_message))
    statement = select(conversation.c.contact_id, conversation.c.id, new_message.c.id).select_from(
        conversation.join(new_message, true())
    )
    return statement.add_cte(*extra) if extra else statement


_START_ON_DRIVER = {
    (new_contact, bot): DriverStatement(_start_statement(new_contact=new_contact, queues_bot_turn=bot))
    for new_contact in (False, True)
    for bot in (False, True)
}
_APPEND_ON_DRIVER = {
    (reopens, bot): DriverStatement(_append_statement(reopens=reopens, queues_bot_turn=bot))
    for reopens in (False, True)
    for bot in (False, True)
}
_LOOKUP_AND_APPEND_ON_DRIVER = DriverStatement(_lookup_and_append_statement())
_LOOKUP_ON_DRIVER = DriverStatement(_LOOKUP)


def _lookup_values(msg: InboundMessage, identity: Identity) -> dict[str, object]:
    return {
        "account_id": msg.channel_account_id,
        "provider_id": msg.provider_message_id,
        "kind": identity.kind.value,
        "value": identity.value,
        "channel": msg.channel.value,
    }


def _known(row: Sequence[Any]) -> _Known:
    duplicate = None
    if row[0] is not None:
        duplicate = _Duplicate(row[0], row[1], row[2], row[3].astimezone(UTC))
    latest = LatestConversation(row[8], ConversationStatus(row[9]), row[10]) if row[8] is not None else None
    return _Known(duplicate, row[4], row[5], row[6], row[7], latest, row[11], row[12], row[13])


async def _lookup(conn: AsyncConnection, msg: InboundMessage, identity: Identity) -> _Known:
    return _known((await conn.execute(_LOOKUP, _lookup_values(msg, identity))).one())


async def _lookup_on_driver(conn: DriverConnection[Any], msg: InboundMessage, identity: Identity) -> _Known:
    row = await _LOOKUP_ON_DRIVER.fetch_one(conn, _lookup_values(msg, identity))
    assert row is not None
    return _known(row)


async def _lookup_and_append_on_driver(
    conn: DriverConnection[Any], msg: InboundMessage, identity: Identity, now: datetime
) -> tuple[_Known, int | None]:
    """What the look-up found, and the message's id when it was appended to an open conversation."""
    values = {
        **_lookup_values(msg, identity),
        "touched_at": now,
        "message_text": msg.text,
        "customer_sent_at": msg.sent_at,
    }
    row = await _LOOKUP_AND_APPEND_ON_DRIVER.fetch_one(conn, values)
    assert row is not None  # the look-up selects from a one-row anchor
    return _known(row), row[-1]


def _append_values(msg: InboundMessage, conversation_id: int, now: datetime) -> dict[str, object]:
    return {
        "conversation_id": conversation_id,
        "touched_at": now,
        "account_id": msg.channel_account_id,
        "message_text": msg.text,
        "provider_id": msg.provider_message_id,
        "customer_sent_at": msg.sent_at,
    }


def _duplicate_result(duplicate: _Duplicate) -> IngestResult:
    return IngestResult(
        duplicate.message_id,
        duplicate.conversation_id,
        duplicate.contact_id,
        duplicate=True,
        stored_at=duplicate.stored_at,
    )


def _conversation_created(plan: _Plan, conversation_id: int, contact_id: int) -> Event:
    return Event(
        type="conversation.created",
        conversation_id=conversation_id,
        team_id=plan.team_id,
        payload={"conversation_id": conversation_id, "contact_id": contact_id},
    )


def _message_created(plan: _Plan, conversation_id: int, contact_id: int, message_id: int) -> Event:
    return Event(
        type="message.created",
        conversation_id=conversation_id,
        team_id=plan.team_id,
        assignee_id=plan.assignee_id,
        payload={"conversation_id": conversation_id, "contact_id": contact_id, "message_id": message_id},
    )


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


async def do_ingest_inbound(
    uow: UnitOfWork, msg: InboundMessage, default_region: str = "RU", known: _Known | None = None
) -> IngestResult:
    """Find or create the contact and conversation, then store the message once per provider id.

    Runs inside `uow`'s transaction. On PostgreSQL a message without attachments is one or two
    statements (`_store_on_driver`); otherwise a returning customer costs three (look-up,
    conversation touch, message insert). `known` skips the look-up when the caller has just
    made it (at READ COMMITTED a look-up in the transaction sees no more than one made just
    before it).
    """
    conn = await uow.session.connection()
    now = uow.now()
    identity = normalise_identity(msg.identity_kind, msg.identity_value, default_region)
    if known is None and conn.dialect.name == "postgresql" and not msg.attachments:
        # Several messages stored together (the batcher): the same statements as one message
        # on its own, inside the shared transaction.
        async with driver_connection(conn) as driver:
            stored = await _store_on_driver(driver, uow, msg, identity, now)
        if isinstance(stored, IngestResult):
            return stored
        known = stored
    if known is None:
        known = await _lookup(conn, msg, identity)
    if known.duplicate is not None:
        return _duplicate_result(known.duplicate)
    plan = _plan(known, msg, now)
    contact_id = plan.contact_id
    if contact_id is None:
        contact_id = await _create_contact(conn, msg, identity, now)
    conversation_id = plan.conversation_id
    if conversation_id is None:
        conversation_id = (
            await conn.execute(
                _INSERT_CONVERSATION,
                {
                    "channel_account_id": msg.channel_account_id,
                    "channel": msg.channel.value,
                    "contact_id": contact_id,
                    "team_id": plan.team_id,
                    "status": ConversationStatus.OPEN.value,
                    "priority": Priority.NORMAL.value,
                    "language": plan.language,
                    "tags": [],
                    "created_at": now,
                    "updated_at": now,
                    "last_message_at": now,
                    "handler": plan.handler,
                    "flow_version_id": known.flow_version_id,
                },
            )
        ).scalar_one()
        uow.emit(_conversation_created(plan, conversation_id, contact_id))
    else:
        await conn.execute(
            _REOPEN_CONVERSATION if plan.reopens else _TOUCH_CONVERSATION,
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
    if plan.handler == Handler.BOT:
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
    uow.emit(_message_created(plan, conversation_id, contact_id, message_id))
    return IngestResult(message_id, conversation_id, contact_id, duplicate=False, stored_at=now)


async def _start_on_driver(
    conn: DriverConnection[Any],
    uow: UnitOfWork,
    msg: InboundMessage,
    identity: Identity,
    known: _Known,
    plan: _Plan,
    now: datetime,
) -> IngestResult:
    """A new conversation (and contact, for a first-time sender) with the message: one statement."""
    statement = _START_ON_DRIVER[(plan.contact_id is None, plan.handler == Handler.BOT)]
    row = await statement.fetch_one(
        conn,
        {
            **_lookup_values(msg, identity),
            "touched_at": now,
            "message_text": msg.text,
            "customer_sent_at": msg.sent_at,
            "sender_name": msg.sender_name,
            "name_key": search_key(msg.sender_name),
            "contact_language": msg.language and msg.language.value,
            "contact_id": plan.contact_id,
            "team_id": plan.team_id,
            "conversation_language": plan.language,
            "handler": plan.handler,
            "flow_version_id": known.flow_version_id,
        },
    )
    assert row is not None  # every part inserts from the one before it
    contact_id, conversation_id, message_id = row
    uow.emit(_conversation_created(plan, conversation_id, contact_id))
    uow.emit(_message_created(plan, conversation_id, contact_id, message_id))
    return IngestResult(message_id, conversation_id, contact_id, duplicate=False, stored_at=now)


def _appended(uow: UnitOfWork, plan: _Plan, message_id: int, now: datetime) -> IngestResult:
    """The result of a message appended to the conversation of `plan` (its event emitted)."""
    assert plan.contact_id is not None  # an append: a known contact...
    assert plan.conversation_id is not None  # ...and their conversation
    uow.emit(_message_created(plan, plan.conversation_id, plan.contact_id, message_id))
    return IngestResult(message_id, plan.conversation_id, plan.contact_id, duplicate=False, stored_at=now)


async def _store_on_driver(
    driver: DriverConnection[Any], uow: UnitOfWork, msg: InboundMessage, identity: Identity, now: datetime
) -> IngestResult | _Known:
    """PostgreSQL: the message in one statement when the customer's conversation is open, in two
    otherwise.

    The first statement looks up and, for an open conversation, appends; a provider retry
    is answered from its look-up. A reopening, or a new conversation (with the contact, for
    a first-time sender), is a second, atomic statement. Returns a fresh look-up when the
    conversation was deleted in between: the caller stores the message the general way.
    """
    known, appended_id = await _lookup_and_append_on_driver(driver, msg, identity, now)
    if known.duplicate is not None:
        return _duplicate_result(known.duplicate)
    plan = _plan(known, msg, now)
    if appended_id is not None:
        return _appended(uow, plan, appended_id, now)
    if plan.conversation_id is None:
        return await _start_on_driver(driver, uow, msg, identity, known, plan, now)
    statement = _APPEND_ON_DRIVER[(plan.reopens, plan.handler == Handler.BOT)]
    appended = await statement.fetch_one(driver, _append_values(msg, plan.conversation_id, now))
    if appended is None:  # the conversation was deleted after the look-up
        return await _lookup_on_driver(driver, msg, identity)
    return _appended(uow, plan, appended[0], now)


async def _ingest_in_autocommit(
    make_uow: UnitOfWorkFactory, msg: InboundMessage, default_region: str
) -> IngestResult | _Known:
    """PostgreSQL: `_store_on_driver` in autocommit, each statement its own transaction.

    Returns what the look-up found when the message needs a transaction (attachments, or a
    conversation deleted after the look-up).
    """
    async with make_uow() as uow:
        conn = await uow.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        identity = normalise_identity(msg.identity_kind, msg.identity_value, default_region)
        async with driver_connection(conn) as driver:
            if msg.attachments:
                return await _lookup_on_driver(driver, msg, identity)
            stored = await _store_on_driver(driver, uow, msg, identity, uow.now())
        if isinstance(stored, IngestResult):
            await uow.commit()  # nothing left to commit; publishes the events
        return stored


async def ingest_inbound(
    make_uow: UnitOfWorkFactory, msg: InboundMessage, default_region: str = "RU"
) -> IngestResult:
    """Store `msg` on its own; committed when this returns, so the webhook may answer 200.

    Two deliveries of one provider message racing each other both pass the duplicate check;
    the unique constraint stops the second, which then retries and finds the first.
    """
    for attempt in range(3):
        try:
            known: _Known | None = None
            if make_uow().dialect == "postgresql":
                found = await _ingest_in_autocommit(make_uow, msg, default_region)
                if isinstance(found, IngestResult):
                    return found
                known = found
            async with make_uow() as uow:
                result = await do_ingest_inbound(uow, msg, default_region, known)
                await uow.commit()
                return result
        except (IntegrityError, psycopg.IntegrityError):
            if attempt == 2:
                raise
    raise AssertionError("unreachable")
