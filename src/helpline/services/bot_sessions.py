"""The bot's side of a conversation in storage: load a turn's context, apply its result.

The worker runs a turn in three steps so no transaction is held while the classifier thinks
or a lookup waits on another system: `load_turn` (read), the pure runtime (plus lookups),
`do_apply_turn` (one write: the bot's messages and their deliveries, the session's new state,
the handoff or ticket, and the outbox item marked done, all or nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from helpline.domain.conversations import (
    AuthorKind,
    ConversationStatus,
    DeliveryStatus,
    Direction,
    Handler,
    check_status_change,
)
from helpline.domain.flows.runtime import BotReply, Outcome, SessionState, SessionStatus, Turn
from helpline.domain.inbound import customer_words
from helpline.domain.users import Presence
from helpline.services.conversations import conversation_event, do_bot_steps_back, internal_note
from helpline.services.enqueue import OutboxStatus, do_enqueue_message, needs_delivery
from helpline.storage.models import (
    BotSession,
    Contact,
    Conversation,
    FlowActivation,
    FlowVersion,
    Message,
    OutboxItem,
    Team,
    TeamMember,
    Ticket,
    User,
)
from helpline.storage.uow import UnitOfWork

#: The internal note a hand-off leaves, stored in English with the reason after it; the console
#: shows it in the reader's language (web/labels.py).
HANDOFF_NOTE = "Handed over by the bot: "
#: How the note about a ticket the bot opened begins (see `ticket_note`).
TICKET_NOTE = "Ticket opened by the bot: "
#: A customer silent this long in the middle of a bot session has left: the session is abandoned.
ABANDON_AFTER = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class TurnContext:
    """What one bot turn needs to know, read in one short transaction."""

    item_id: int
    message_id: int
    conversation_id: int
    channel: str
    channel_account_id: int
    text: str  # the customer's words: channel notes ("[sticker]") left out
    handler: str
    conversation_language: str | None
    flow_version_id: int | None
    flow_data: dict[str, Any] | None
    session_id: int | None
    session_state: dict[str, Any] | None
    #: The customer card's language (None: not known yet, the bot may learn it).
    contact_language: str | None = None
    #: With no session running: how the conversation's last one ended, and when.
    last_outcome: str | None = None
    last_ended_at: datetime | None = None
    #: The node the last ended session was at: a customer back after it was abandoned may answer
    #: that node's menu, still on their screen.
    last_node: str | None = None
    #: What that session was waiting for there (a menu choice, "did it help?", a field…).
    last_awaiting: str | None = None


async def load_turn(uow: UnitOfWork, item_id: int) -> TurnContext | None:
    row = (
        await uow.session.execute(
            select(OutboxItem.id, Message, Conversation, Contact.language)
            .join(Message, Message.id == OutboxItem.message_id)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .join(Contact, Contact.id == Conversation.contact_id)
            .where(OutboxItem.id == item_id)
        )
    ).one_or_none()
    if row is None:
        return None
    _, message, conv, contact_language = row
    session = await uow.session.scalar(
        select(BotSession)
        .where(BotSession.conversation_id == conv.id, BotSession.status == SessionStatus.ACTIVE.value)
        .order_by(BotSession.id.desc())
        .limit(1)
    )
    last = None
    if session is None:
        last = (
            await uow.session.execute(
                select(BotSession.outcome, BotSession.ended_at, BotSession.state)
                .where(BotSession.conversation_id == conv.id, BotSession.status == SessionStatus.ENDED.value)
                .order_by(BotSession.id.desc())
                .limit(1)
            )
        ).one_or_none()
    if session is not None:
        flow = select(FlowVersion.id, FlowVersion.data).where(FlowVersion.id == session.flow_version_id)
    else:
        # A new session runs the flow the channel has now, not the one the conversation first
        # met: a flow rolled back, replaced or turned off reached returning customers never,
        # since a conversation the bot handles stays open. None: turned off, people take over.
        flow = (
            select(FlowVersion.id, FlowVersion.data)
            .join(FlowActivation, FlowActivation.flow_version_id == FlowVersion.id)
            .where(FlowActivation.channel == conv.channel)
        )
    version_id, data = (await uow.session.execute(flow)).one_or_none() or (None, None)
    return TurnContext(
        item_id=item_id,
        message_id=message.id,
        conversation_id=conv.id,
        channel=conv.channel,
        channel_account_id=message.channel_account_id,
        text=customer_words(message.text),
        handler=conv.handler,
        conversation_language=conv.language,
        flow_version_id=version_id,
        flow_data=data,
        session_id=session.id if session is not None else None,
        session_state=dict(session.state) if session is not None else None,
        contact_language=contact_language,
        last_outcome=last.outcome if last is not None else None,
        last_ended_at=last.ended_at if last is not None else None,
        last_node=_left_at(last, "node"),
        last_awaiting=_left_at(last, "awaiting"),
    )


def _left_at(last: Any, key: str) -> str | None:
    """Where the last ended session was left (its state's `key`), if there is one."""
    state = last.state if last is not None else None
    value = state.get(key) if isinstance(state, dict) else None
    return str(value) if value else None


async def do_finish_item(uow: UnitOfWork, item_id: int, error: str | None = None) -> None:
    """Mark a bot-turn item done (or failed with `error`)."""
    now = uow.now()
    await uow.session.execute(
        update(OutboxItem)
        .where(OutboxItem.id == item_id)
        .values(
            status=(OutboxStatus.FAILED if error else OutboxStatus.DONE).value,
            last_error=error,
            locked_until=None,
            updated_at=now,
        )
    )


async def _conversation_the_bot_still_has(uow: UnitOfWork, ctx: TurnContext) -> Conversation | None:
    """The turn's conversation, locked; None (and the item done) when a person stepped in, or
    closed it (which is final), while the bot was thinking: its answer is not sent."""
    conv = await uow.session.get(Conversation, ctx.conversation_id, with_for_update=True)
    assert conv is not None  # the item cascades away with the message, the message with it
    if conv.handler != Handler.BOT or conv.status == ConversationStatus.CLOSED.value:
        await do_finish_item(uow, ctx.item_id)
        return None
    return conv


def _resolve(uow: UnitOfWork, conv: Conversation, now: datetime) -> None:
    """The bot's answer helped: nobody needs to act on the conversation."""
    check_status_change(ConversationStatus(conv.status), ConversationStatus.RESOLVED)
    conv.status, conv.resolved_at = ConversationStatus.RESOLVED.value, now
    uow.emit(conversation_event("conversation.status", conv, by="bot"))


async def do_apply_turn(
    uow: UnitOfWork,
    ctx: TurnContext,
    turns: Sequence[Turn],
    language: str,
    *,
    detected: str | None = None,
    unstaffed: Callable[[Turn], Turn] | None = None,
) -> None:
    """Store what the bot said and did in this turn; the item is done when this commits.

    `unstaffed` rewrites a hand-off turn when nobody online would see the conversation where it
    will wait (the runtime's `unstaffed`: the customer is told so, not promised an operator)."""
    conv = await _conversation_the_bot_still_has(uow, ctx)
    if conv is None:
        return
    now = uow.now()
    last = turns[-1]
    team_id = None
    if last.handoff is not None:
        team_id = await _team_named(uow, last.handoff.queue)
        if unstaffed is not None and not await someone_online_in(uow, team_id or conv.team_id):
            last = unstaffed(last)
            turns = [*turns[:-1], last]
    session = await _session(uow, ctx, conv, now)
    session.state = last.state.to_json()
    session.last_activity_at = now
    answered = [t.answered for t in turns if t.answered]
    if answered:
        session.answered = [*session.answered, *answered]
    replies: list[BotReply] = [reply for turn in turns for reply in turn.replies]
    ticket: Ticket | None = None
    if last.ticket is not None:
        ticket = await _open_ticket(uow, conv, last, now)
        replies.append(BotReply(last.ticket.confirmation.replace("{ticket}", str(ticket.id))))
    for reply in replies:
        await _say(uow, conv, ctx.channel_account_id, ctx.channel, reply, now)
    if conv.language is None:
        conv.language = language
    if detected is not None and ctx.contact_language is None:
        # The customer card shows it, and later messages to them are written in it. Only a
        # language read from their words (not the default a "👍" or an order number gets), and
        # never over one the customer's channel or an agent set.
        await uow.session.execute(
            update(Contact)
            .where(Contact.id == conv.contact_id, Contact.language.is_(None))
            .values(language=detected)
            .execution_options(synchronize_session=False)
        )
    if last.outcome is not None:
        session.status, session.outcome, session.ended_at = SessionStatus.ENDED.value, last.outcome.value, now
    if last.handoff is not None:
        session.handoff_reason = last.handoff.reason[:200]
        await _hand_off(uow, conv, last.handoff.reason, team_id, now)
    elif ticket is not None:
        await _pass_ticket_to_people(uow, conv, ticket, now)
    elif last.outcome is Outcome.ANSWERED_CONFIRMED:
        _resolve(uow, conv, now)
    conv.updated_at = now
    await do_finish_item(uow, ctx.item_id)


#: How long after the bot's goodbye a thank-you is answered as one (later, it greets anew).
COURTESY_WINDOW = timedelta(hours=1)


def thanks_after_goodbye(ctx: TurnContext, now: datetime) -> bool:
    """The conversation's last bot session ended with a confirmed answer a moment ago."""
    return (
        ctx.session_id is None
        and ctx.last_outcome == Outcome.ANSWERED_CONFIRMED.value
        and ctx.last_ended_at is not None
        and now - ctx.last_ended_at <= COURTESY_WINDOW
    )


async def do_courtesy_reply(uow: UnitOfWork, ctx: TurnContext, reply: BotReply) -> None:
    """Answer a thank-you after the goodbye without opening a session (the bot report would count
    it as a contact of its own): the conversation, reopened by the message, is resolved again."""
    conv = await _conversation_the_bot_still_has(uow, ctx)
    if conv is None:
        return
    now = uow.now()
    await _say(uow, conv, ctx.channel_account_id, ctx.channel, reply, now)
    if conv.status != ConversationStatus.RESOLVED.value:
        _resolve(uow, conv, now)
    conv.updated_at = now
    await do_finish_item(uow, ctx.item_id)


async def do_hand_to_agents(uow: UnitOfWork, conversation_id: int, reason: str) -> None:
    """Give a conversation to people without a bot turn (the bot failed, or the flow is gone)."""
    conv = await uow.session.get(Conversation, conversation_id, with_for_update=True)
    if conv is None or conv.handler != Handler.BOT or conv.status == ConversationStatus.CLOSED.value:
        return
    await _hand_off(uow, conv, reason, None, uow.now())


async def do_end_idle_sessions(uow: UnitOfWork, idle: timedelta = ABANDON_AFTER) -> int:
    """Sessions whose customer went quiet mid-way end as abandoned (the containment reports)."""
    now = uow.now()
    result = await uow.session.execute(
        update(BotSession)
        .where(BotSession.status == SessionStatus.ACTIVE.value, BotSession.last_activity_at < now - idle)
        .values(status=SessionStatus.ENDED.value, outcome=Outcome.ABANDONED.value, ended_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def _session(uow: UnitOfWork, ctx: TurnContext, conv: Conversation, now: datetime) -> BotSession:
    if ctx.session_id is not None:
        session = await uow.session.get(BotSession, ctx.session_id, with_for_update=True)
        if session is not None and session.status == SessionStatus.ACTIVE.value:
            return session
        if session is not None and session.outcome == Outcome.ABANDONED.value:
            # The idle sweep ended it between this turn's read and now, but this very message
            # shows the customer is there: carry on with it rather than split it in two sessions
            # (the turn was computed from its state, and reports would count both).
            session.status, session.outcome, session.ended_at = SessionStatus.ACTIVE.value, None, None
            return session
    conv.flow_version_id = ctx.flow_version_id  # the version this conversation now runs
    session = BotSession(
        conversation_id=conv.id,
        flow_version_id=ctx.flow_version_id,
        channel=conv.channel,
        status=SessionStatus.ACTIVE.value,
        state={},
        answered=[],
        started_at=now,
        last_activity_at=now,
    )
    uow.session.add(session)
    return session


async def _say(
    uow: UnitOfWork, conv: Conversation, account_id: int, channel: str, reply: BotReply, now: datetime
) -> Message:
    in_app = not needs_delivery(channel)
    message = Message(
        conversation_id=conv.id,
        channel_account_id=account_id,
        direction=Direction.OUTBOUND.value,
        author_kind=AuthorKind.BOT.value,
        text=reply.text,
        is_internal=False,
        delivery_status=(DeliveryStatus.SENT if in_app else DeliveryStatus.QUEUED).value,
        options=[c.to_json() for c in reply.choices] or None,
        created_at=now,
        sent_at=now if in_app else None,
    )
    uow.session.add(message)
    await uow.session.flush()
    if not in_app:
        do_enqueue_message(uow, message)
    conv.last_message_at = now
    uow.emit(conversation_event("message.created", conv, message_id=message.id, internal=False))
    return message


async def _hand_off(
    uow: UnitOfWork, conv: Conversation, reason: str, team_id: int | None, now: datetime
) -> None:
    await _give_to_people(
        uow,
        conv,
        team_id=team_id,
        note=f"{HANDOFF_NOTE}{reason}",
        reason=reason,
        outcome=Outcome.HANDED_OFF,
        now=now,
    )


async def _pass_ticket_to_people(uow: UnitOfWork, conv: Conversation, ticket: Ticket, now: datetime) -> None:
    """The bot's part is done, a person's begins: the customer was promised a call or an answer,
    so the conversation waits, open, in the ticket's team inbox with the ticket's details on top.
    Resolved and left with the bot, nobody would ever have seen the request."""
    await _give_to_people(
        uow,
        conv,
        team_id=ticket.team_id,
        note=ticket_note(ticket),
        reason=f"ticket #{ticket.id}",
        outcome=Outcome.TICKET_CREATED,
        now=now,
    )


async def _give_to_people(
    uow: UnitOfWork,
    conv: Conversation,
    *,
    team_id: int | None,
    note: str,
    reason: str,
    outcome: Outcome,
    now: datetime,
) -> None:
    """People answer from now on: the bot steps back, the conversation waits, open, in `team_id`'s
    inbox (where it was, if None), and `note` on top tells the agent why."""
    await do_bot_steps_back(uow, conv, reason, outcome=outcome.value)
    if team_id is not None:
        conv.team_id = team_id
    if conv.status != ConversationStatus.OPEN.value:
        conv.status, conv.resolved_at = ConversationStatus.OPEN.value, None
    uow.session.add(internal_note(conv, note, now))
    conv.updated_at = now
    uow.emit(conversation_event("conversation.handoff", conv, reason=reason))


async def someone_online_in(uow: UnitOfWork, team_id: int | None) -> bool:
    """Whether someone online sees a conversation waiting in `team_id`'s inbox (the queue's team,
    else the one its channel gave it), or, in no team's, anyone online."""
    online = select(User.id).where(User.presence == Presence.ONLINE.value, User.is_active.is_(True))
    if team_id is not None:
        online = online.join(TeamMember, TeamMember.user_id == User.id).where(TeamMember.team_id == team_id)
    return await uow.session.scalar(online.limit(1)) is not None


async def _team_named(uow: UnitOfWork, queue: str | None) -> int | None:
    """The team a flow's `queue` names; None when it names none (the preview warns of that)."""
    if not queue:
        return None
    return await uow.session.scalar(select(Team.id).where(Team.name == queue))


def ticket_note(ticket: Ticket) -> str:
    """The note on top of a ticket's conversation, stored in English like the hand-off note:
    "Ticket opened by the bot: #12 Call me back (phone: +447911123456)". The subject and field
    names are the flow author's own words."""
    fields = ", ".join(f"{name}: {value}" for name, value in ticket.fields.items())
    return f"{TICKET_NOTE}#{ticket.id} {ticket.subject}" + (f" ({fields})" if fields else "")


def handoff_note(conv: Conversation, reason: str, now: datetime) -> Message:
    """The internal note that tells the agent why the bot handed the customer over."""
    return internal_note(conv, f"{HANDOFF_NOTE}{reason}", now)


async def _open_ticket(uow: UnitOfWork, conv: Conversation, turn: Turn, now: datetime) -> Ticket:
    assert turn.ticket is not None
    ticket = Ticket(
        conversation_id=conv.id,
        contact_id=conv.contact_id,
        team_id=await _team_named(uow, turn.ticket.queue) or conv.team_id,
        subject=turn.ticket.subject,
        fields=dict(turn.ticket.fields),
        source="bot",
        status="open",
        created_at=now,
    )
    uow.session.add(ticket)
    await uow.session.flush()
    uow.emit(conversation_event("ticket.created", conv, ticket_id=ticket.id))
    return ticket


def initial_state(ctx: TurnContext) -> SessionState | None:
    return SessionState.from_json(ctx.session_state) if ctx.session_state else None
