"""Conversations as agents work them: list, read, assign, change status, reply."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, false, func, or_, select, update

from helpline.domain.access import Viewer, can_assign, can_view_conversation
from helpline.domain.contacts import normalise_tags
from helpline.domain.conversations import (
    MAX_MESSAGE_LENGTH,
    AuthorKind,
    Channel,
    ConversationStatus,
    DeliveryStatus,
    Direction,
    Handler,
    Priority,
    check_status_change,
)
from helpline.domain.errors import DomainError, NotFound, PermissionDenied
from helpline.domain.events import Event
from helpline.domain.flows.runtime import HandoffReason, SessionStatus
from helpline.domain.inbound import InboundAttachment
from helpline.domain.text import has_lone_surrogate
from helpline.services.enqueue import do_enqueue_message, needs_delivery
from helpline.services.users import user_team_ids
from helpline.storage.json_ops import json_array_contains
from helpline.storage.models import (
    Attachment,
    BotSession,
    ChannelAccount,
    ContactIdentity,
    Conversation,
    Message,
    Team,
    User,
)
from helpline.storage.uow import UnitOfWork


async def do_bot_steps_back(
    uow: UnitOfWork, conv: Conversation, reason: str, outcome: str = "handed_off"
) -> None:
    """People answer this conversation from now on; a running bot session ends with `outcome`.

    Called when an agent replies to or takes a conversation the bot had, and on the bot's own
    handoff: the customer never gets a bot answer after a person has stepped in.
    """
    conv.handler = Handler.AGENTS.value
    await uow.session.execute(
        update(BotSession)
        .where(BotSession.conversation_id == conv.id, BotSession.status == SessionStatus.ACTIVE)
        .values(
            status=SessionStatus.ENDED.value, outcome=outcome, handoff_reason=reason[:200], ended_at=uow.now()
        )
        .execution_options(synchronize_session=False)
    )


def conversation_event(kind: str, conv: Conversation, **payload: object) -> Event:
    """An event addressed like the conversation, so fan-out can apply the same access rule."""
    return Event(
        type=kind,
        conversation_id=conv.id,
        team_id=conv.team_id,
        assignee_id=conv.assignee_id,
        payload={"conversation_id": conv.id, "contact_id": conv.contact_id, "status": conv.status, **payload},
    )


def visible_to(viewer: Viewer) -> Select[Conversation]:
    """The SQL form of `can_view_conversation`; both must agree (a property test checks)."""
    stmt = select(Conversation)
    if viewer.sees_everything:
        return stmt
    team_clause = Conversation.team_id.in_(viewer.team_ids) if viewer.team_ids else false()
    return stmt.where(
        or_(Conversation.assignee_id == viewer.user_id, Conversation.team_id.is_(None), team_clause)
    )


@dataclass(frozen=True, slots=True)
class ConversationFilter:
    status: Sequence[ConversationStatus] = ()
    channel: Sequence[Channel] = ()
    language: str | None = None
    tag: str | None = None
    assignee_id: int | None = None
    unassigned: bool = False
    team_id: int | None = None
    contact_id: int | None = None
    #: "agents" or "bot": who answers the conversation now (None: either).
    handler: str | None = None
    before_id: int | None = None
    limit: int = 50


async def list_conversations(uow: UnitOfWork, viewer: Viewer, flt: ConversationFilter) -> list[Conversation]:
    """Newest activity first; `before_id` pages by id so new arrivals do not shift pages."""
    stmt = visible_to(viewer)
    if flt.status:
        stmt = stmt.where(Conversation.status.in_([s.value for s in flt.status]))
    if flt.channel:
        stmt = stmt.where(Conversation.channel.in_([c.value for c in flt.channel]))
    if flt.handler:
        stmt = stmt.where(Conversation.handler == flt.handler)
    if flt.language:
        stmt = stmt.where(Conversation.language == flt.language)
    if flt.assignee_id is not None:
        stmt = stmt.where(Conversation.assignee_id == flt.assignee_id)
    if flt.unassigned:
        stmt = stmt.where(Conversation.assignee_id.is_(None))
    if flt.team_id is not None:
        stmt = stmt.where(Conversation.team_id == flt.team_id)
    if flt.contact_id is not None:
        stmt = stmt.where(Conversation.contact_id == flt.contact_id)
    if flt.before_id is not None:
        stmt = stmt.where(Conversation.id < flt.before_id)
    stmt = stmt.order_by(Conversation.id.desc())
    if flt.tag:
        stmt = stmt.where(json_array_contains(Conversation.tags, flt.tag))
    return list(await uow.session.scalars(stmt.limit(flt.limit)))


async def access_conversation(
    uow: UnitOfWork, viewer: Viewer, conversation_id: int, for_update: bool = False
) -> Conversation:
    """Load a conversation the viewer may see; an invisible one is reported as missing, not forbidden,
    so ids cannot be probed."""
    stmt = select(Conversation).where(Conversation.id == conversation_id)
    if for_update:
        stmt = stmt.with_for_update()
    conv = await uow.session.scalar(stmt)
    if conv is None or not can_view_conversation(viewer, conv.assignee_id, conv.team_id):
        raise NotFound("no such conversation", field="conversation_id")
    return conv


async def conversation_messages(
    uow: UnitOfWork, conversation_id: int, after_id: int | None = None, limit: int = 500
) -> list[Message]:
    stmt = select(Message).where(Message.conversation_id == conversation_id)
    if after_id is not None:
        stmt = stmt.where(Message.id > after_id)
    return list(await uow.session.scalars(stmt.order_by(Message.id).limit(limit)))


async def do_assign(
    uow: UnitOfWork, viewer: Viewer, conversation_id: int, assignee_id: int | None, team_id: int | None
) -> Conversation:
    conv = await access_conversation(uow, viewer, conversation_id, for_update=True)
    assignee_teams: frozenset[int] = frozenset()
    if assignee_id is not None:
        assignee = await uow.session.get(User, assignee_id)
        if assignee is None or not assignee.is_active:
            raise NotFound("no such active user", field="assignee_id")
        assignee_teams = await user_team_ids(uow, assignee_id)
    if team_id is not None and await uow.session.get(Team, team_id) is None:
        raise NotFound("no such team", field="team_id")
    if not can_assign(viewer, assignee_id, assignee_teams, team_id):
        raise PermissionDenied(
            "you may assign only to yourself, your teams and their members", field="assignee_id"
        )
    previous = {"assignee_id": conv.assignee_id, "team_id": conv.team_id}
    conv.assignee_id, conv.team_id = assignee_id, team_id
    if assignee_id is not None and conv.handler == Handler.BOT:
        await do_bot_steps_back(uow, conv, HandoffReason.AGENT_TOOK_OVER)
    conv.updated_at = uow.now()
    await uow.session.flush()
    uow.emit(
        conversation_event(
            "conversation.assigned",
            conv,
            assignee_id=assignee_id,
            team_id=team_id,
            previous=previous,
            by=viewer.user_id,
        )
    )
    return conv


async def do_change_status(
    uow: UnitOfWork, viewer: Viewer, conversation_id: int, status: ConversationStatus
) -> Conversation:
    conv = await access_conversation(uow, viewer, conversation_id, for_update=True)
    check_status_change(ConversationStatus(conv.status), status)
    now = uow.now()
    conv.status = status.value
    conv.updated_at = now
    if status is ConversationStatus.RESOLVED:
        conv.resolved_at = now
    elif status is ConversationStatus.CLOSED:
        conv.closed_at = now
    elif status is ConversationStatus.OPEN:
        conv.resolved_at = None
    await uow.session.flush()
    uow.emit(conversation_event("conversation.status", conv, by=viewer.user_id))
    return conv


async def do_set_priority(
    uow: UnitOfWork, viewer: Viewer, conversation_id: int, priority: Priority
) -> Conversation:
    conv = await access_conversation(uow, viewer, conversation_id, for_update=True)
    conv.priority = Priority(priority).value
    conv.updated_at = uow.now()
    await uow.session.flush()
    uow.emit(conversation_event("conversation.updated", conv, priority=conv.priority))
    return conv


async def do_set_tags(
    uow: UnitOfWork, viewer: Viewer, conversation_id: int, tags: Sequence[str]
) -> Conversation:
    conv = await access_conversation(uow, viewer, conversation_id, for_update=True)
    conv.tags = normalise_tags(tags)
    conv.updated_at = uow.now()
    await uow.session.flush()
    uow.emit(conversation_event("conversation.updated", conv, tags=conv.tags))
    return conv


def check_message_text(text: str) -> str:
    if not text.strip():
        raise DomainError("message is empty", field="text")
    if len(text) > MAX_MESSAGE_LENGTH:
        raise DomainError("message longer than {limit} characters", field="text", limit=MAX_MESSAGE_LENGTH)
    if "\x00" in text:  # unstorable_reason's two cases, each a reason of its own to translate
        raise DomainError("message contains the NUL character (U+0000)", field="text")
    if has_lone_surrogate(text):
        raise DomainError("message contains half of a surrogate pair", field="text")
    return text


@dataclass(frozen=True, slots=True)
class ReachableChannel:
    """A channel account the agent can answer this customer through, and the address it would use."""

    account_id: int
    channel: str
    account_name: str
    address: str | None


async def reachable_channels(
    uow: UnitOfWork, conv: Conversation, address_kinds: Mapping[str, str]
) -> list[ReachableChannel]:
    """The conversation's own account first, then every active account where the customer has an
    address (an identity of the kind that channel addresses people by).

    `address_kinds` (channel -> identity kind) comes from the channel registry; passing it in
    keeps this module free of the adapters.
    """
    identities = list(
        await uow.session.execute(
            select(ContactIdentity.kind, ContactIdentity.value)
            .where(ContactIdentity.contact_id == conv.contact_id)
            .order_by(ContactIdentity.id.desc())
        )
    )
    newest: dict[str, str] = {}
    for identity_kind, value in identities:
        newest.setdefault(identity_kind, value)
    accounts = await uow.session.scalars(
        select(ChannelAccount).where(ChannelAccount.is_active.is_(True)).order_by(ChannelAccount.id)
    )
    own: list[ReachableChannel] = []
    others: list[ReachableChannel] = []
    for account in accounts:
        kind = address_kinds.get(account.channel)
        address: str | None = newest.get(kind) if kind is not None else None
        reachable = ReachableChannel(account.id, account.channel, account.name, address)
        if account.id == conv.channel_account_id:
            own.append(reachable)
        elif address is not None:
            others.append(reachable)
    return own + others


async def do_agent_reply(
    uow: UnitOfWork,
    viewer: Viewer,
    conversation_id: int,
    text: str,
    internal: bool = False,
    *,
    via_account_id: int | None = None,
    address_kinds: Mapping[str, str] | None = None,
    attachments: Sequence[InboundAttachment] = (),
) -> Message:
    """Store an agent's reply (queued for delivery) or an internal note.

    `via_account_id` answers through another of the customer's channels than the conversation's
    own (one of `reachable_channels`; the message stays in this conversation: one timeline).
    Replying to a resolved conversation reopens it; a closed one is final and refuses.
    """
    text = check_message_text(text) if text.strip() or not attachments else text.strip()
    conv = await access_conversation(uow, viewer, conversation_id, for_update=True)
    if conv.status == ConversationStatus.CLOSED:
        raise DomainError("the conversation is closed", field="conversation_id")
    account_id, channel = conv.channel_account_id, conv.channel
    if via_account_id is not None and via_account_id != account_id and not internal:
        options = await reachable_channels(uow, conv, address_kinds or {})
        via = next((r for r in options if r.account_id == via_account_id), None)
        if via is None:
            raise DomainError("the customer has no address on that channel", field="channel_account_id")
        account_id, channel = via.account_id, via.channel
    now = uow.now()
    # A web chat reply is sent once stored: the widget reads it from here, no provider is asked.
    at_once = internal or not needs_delivery(channel)
    message = Message(
        conversation_id=conv.id,
        channel_account_id=account_id,
        direction=Direction.OUTBOUND.value,
        author_kind=AuthorKind.AGENT.value,
        author_user_id=viewer.user_id,
        text=text,
        is_internal=internal,
        delivery_status=(DeliveryStatus.SENT if at_once else DeliveryStatus.QUEUED).value,
        sent_at=now if at_once and not internal else None,
        created_at=now,
    )
    uow.session.add(message)
    if not internal:
        if conv.handler == Handler.BOT:
            await do_bot_steps_back(uow, conv, HandoffReason.AGENT_REPLIED)
        if conv.status == ConversationStatus.RESOLVED:
            conv.status, conv.resolved_at = ConversationStatus.OPEN.value, None
        if conv.assignee_id is None:
            conv.assignee_id = viewer.user_id
        conv.last_message_at = now
    conv.updated_at = now
    await uow.session.flush()
    for a in attachments:
        uow.session.add(
            Attachment(
                message_id=message.id,
                filename=a.filename,
                content_type=a.content_type,
                size=a.size,
                storage_key=a.storage_key,
            )
        )
    if not internal and needs_delivery(channel):
        do_enqueue_message(uow, message)
    uow.emit(conversation_event("message.created", conv, message_id=message.id, internal=internal))
    return message


async def contact_timeline(
    uow: UnitOfWork, contact_id: int, limit: int = 500
) -> list[tuple[Message, Conversation]]:
    """The customer's whole history, every channel in one line, oldest first (the latest `limit`)."""
    rows = await uow.session.execute(
        select(Message, Conversation)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Conversation.contact_id == contact_id)
        .order_by(Message.id.desc())
        .limit(limit)
    )
    return [(m, c) for m, c in reversed(rows.all())]


async def contact_conversations(uow: UnitOfWork, contact_id: int) -> list[Conversation]:
    return list(
        await uow.session.scalars(
            select(Conversation).where(Conversation.contact_id == contact_id).order_by(Conversation.id.desc())
        )
    )


def internal_note(
    conv: Conversation,
    text: str,
    now: datetime,
    *,
    author_kind: AuthorKind = AuthorKind.SYSTEM,
    author_user_id: int | None = None,
) -> Message:
    """A note in the conversation's timeline that only staff read (never delivered)."""
    return Message(
        conversation_id=conv.id,
        channel_account_id=conv.channel_account_id,
        direction=Direction.OUTBOUND.value,
        author_kind=author_kind.value,
        author_user_id=author_user_id,
        text=text,
        is_internal=True,
        delivery_status=DeliveryStatus.SENT.value,
        created_at=now,
    )


async def do_transfer_note(uow: UnitOfWork, author_id: int, conv: Conversation, note: str) -> Message:
    """An internal note explaining a transfer, written as part of the transfer itself."""
    message = internal_note(
        conv, check_message_text(note), uow.now(), author_kind=AuthorKind.AGENT, author_user_id=author_id
    )
    uow.session.add(message)
    await uow.session.flush()
    uow.emit(conversation_event("message.created", conv, message_id=message.id, internal=True))
    return message


async def last_messages(uow: UnitOfWork, conversation_ids: Sequence[int]) -> dict[int, Message]:
    """The latest message of each conversation, for inbox previews (one query)."""
    if not conversation_ids:
        return {}
    latest = (
        select(func.max(Message.id))
        .where(Message.conversation_id.in_(conversation_ids), Message.is_internal.is_(False))
        .group_by(Message.conversation_id)
    )
    rows = await uow.session.scalars(select(Message).where(Message.id.in_(latest)))
    return {m.conversation_id: m for m in rows}
