"""Flow files in storage: upload a version, list, preview, activate it on channels.

A version is immutable once uploaded; activating one on a channel is what makes new
conversations there start with it (each conversation records the version that greeted it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.exc import IntegrityError

from helpline.domain.conversations import Channel
from helpline.domain.errors import DomainError, NotFound
from helpline.domain.flows.model import LocalText
from helpline.flows.loader import LoadedFlow, Problem, flow_from_data, load_flow
from helpline.services.knowledge import KIND_ANSWER
from helpline.storage.models import BotSession, Flow, FlowActivation, FlowVersion, KnowledgeArticle
from helpline.storage.uow import UnitOfWork

#: Channels a chat or voice flow can greet (e-mail and paper mail are not conversations in real time).
FLOW_CHANNELS: tuple[Channel, ...] = (
    Channel.WEBCHAT,
    Channel.TELEGRAM,
    Channel.WHATSAPP,
    Channel.VIBER,
    Channel.MESSENGER,
    Channel.INSTAGRAM,
    Channel.VK,
    Channel.PHONE,
)


class FlowRejected(DomainError):
    """The uploaded file is not a flow that may run; `problems` says where and why."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems[:5]), field="source")
        self.problems = tuple(problems)


@dataclass(frozen=True, slots=True)
class FlowSummary:
    flow: Flow
    versions: tuple[FlowVersion, ...]
    #: channel → version id active there
    active: dict[str, int]


async def known_articles(uow: UnitOfWork) -> set[str]:
    return set(
        await uow.session.scalars(select(KnowledgeArticle.intent).where(KnowledgeArticle.kind == KIND_ANSWER))
    )


async def check_source(uow: UnitOfWork, source: str) -> LoadedFlow:
    # Off the event loop: a 256 KiB file takes up to a second, and every websocket would wait.
    return await asyncio.to_thread(load_flow, source, await known_articles(uow))


async def do_upload_flow(uow: UnitOfWork, source: str, user_id: int | None) -> FlowVersion:
    """Store `source` as the next version of the flow it names; refused with every problem found."""
    loaded = await check_source(uow, source)
    if not loaded.ok or loaded.flow is None or loaded.data is None:
        raise FlowRejected(loaded.problems)
    now = uow.now()
    flow = await _flow_named(uow, loaded.flow.name, now)
    latest = await uow.session.scalar(
        select(func.max(FlowVersion.version)).where(FlowVersion.flow_id == flow.id)
    )
    version = FlowVersion(
        flow_id=flow.id,
        version=(latest or 0) + 1,
        source=source,
        data=dict(loaded.data),
        uploaded_by_id=user_id,
        created_at=now,
    )
    uow.session.add(version)
    await uow.session.flush()
    return version


async def _flow_named(uow: UnitOfWork, name: str, now: datetime) -> Flow:
    """The flow called `name`, locked, created if new. Two first uploads of one flow at once both
    find none; the second's insert then fails on the unique name and it takes the first's row
    (inside a savepoint, so its transaction goes on), instead of answering 500."""
    found = select(Flow).where(Flow.name == name).with_for_update()
    flow = await uow.session.scalar(found)
    if flow is not None:
        return flow
    try:
        async with uow.session.begin_nested():
            flow = Flow(name=name, created_at=now)
            uow.session.add(flow)
    except IntegrityError:
        flow = await uow.session.scalar(found)
        if flow is None:  # created and deleted meanwhile: let the caller's retry decide
            raise
    return flow


async def get_version(uow: UnitOfWork, version_id: int) -> FlowVersion:
    version = await uow.session.get(FlowVersion, version_id)
    if version is None:
        raise NotFound("no such flow version", field="version_id")
    return version


async def do_activate(
    uow: UnitOfWork, version_id: int, channels: Sequence[str], user_id: int | None
) -> list[str]:
    """Make `version_id` the flow of each of `channels`: every bot session that starts from now
    on runs it, in new conversations and returning ones; a session under way ends on its own."""
    version = await get_version(uow, version_id)
    allowed = {c.value for c in FLOW_CHANNELS}
    wanted = list(dict.fromkeys(channels))
    if not wanted or any(c not in allowed for c in wanted):
        raise DomainError("choose channels among: {channels}", field="channels", channels=sorted(allowed))
    # Articles may have been deleted since the upload: re-check before anything greets customers.
    loaded = await check_source(uow, version.source)
    if not loaded.ok:
        raise FlowRejected(loaded.problems)
    now = uow.now()
    for channel in wanted:
        row = await uow.session.get(FlowActivation, channel, with_for_update=True)
        if row is None:
            uow.session.add(
                FlowActivation(
                    channel=channel, flow_version_id=version.id, activated_by_id=user_id, activated_at=now
                )
            )
        else:
            row.flow_version_id, row.activated_by_id, row.activated_at = version.id, user_id, now
    return wanted


async def do_deactivate(uow: UnitOfWork, channel: str) -> None:
    """No flow on `channel`: new conversations go straight to people, and one the bot handled
    goes to people with the customer's next message once its session under way has ended."""
    await uow.session.execute(delete(FlowActivation).where(FlowActivation.channel == channel))


async def list_flows(uow: UnitOfWork) -> list[FlowSummary]:
    flows = list(await uow.session.scalars(select(Flow).order_by(Flow.name)))
    versions = list(await uow.session.scalars(select(FlowVersion).order_by(FlowVersion.version.desc())))
    activations = list(await uow.session.scalars(select(FlowActivation)))
    by_version = {a.channel: a.flow_version_id for a in activations}
    summaries = []
    for flow in flows:
        own = tuple(v for v in versions if v.flow_id == flow.id)
        own_ids = {v.id for v in own}
        summaries.append(
            FlowSummary(flow, own, {channel: vid for channel, vid in by_version.items() if vid in own_ids})
        )
    return summaries


async def active_versions(uow: UnitOfWork) -> dict[str, int]:
    return {a.channel: a.flow_version_id for a in await uow.session.scalars(select(FlowActivation))}


async def active_flow_data(uow: UnitOfWork, channel: str) -> dict[str, Any] | None:
    """The flow the bot greets `channel`'s new conversations with, None when it has none."""
    return await uow.session.scalar(
        select(FlowVersion.data)
        .join(FlowActivation, FlowActivation.flow_version_id == FlowVersion.id)
        .where(FlowActivation.channel == channel)
    )


async def handoff_reason_texts(uow: UnitOfWork, *sessions: ColumnElement[bool]) -> Mapping[str, LocalText]:
    """The flows' hand-off reasons written per language, by the reason stored for them, from the
    versions that ran the bot sessions matching `sessions` (handed-off ones): a console shows a
    stored reason in its reader's language with these. Where versions word one reason differently,
    the newest wins."""
    data = await uow.session.scalars(
        select(FlowVersion.data)
        .where(
            FlowVersion.id.in_(
                select(BotSession.flow_version_id).where(*sessions, BotSession.handoff_reason.is_not(None))
            )
        )
        .order_by(FlowVersion.id)
    )
    texts: dict[str, LocalText] = {}
    for version in data:
        texts.update(flow_from_data(version).handoff_reasons())
    return texts


async def conversations_reason_texts(
    uow: UnitOfWork, conversation_ids: Collection[int]
) -> Mapping[str, LocalText]:
    """handoff_reason_texts for the bot sessions of these conversations (a customer's history)."""
    if not conversation_ids:
        return {}
    return await handoff_reason_texts(uow, BotSession.conversation_id.in_(conversation_ids))
