"""How much the self-service bot contains: bot sessions over a period and how they ended.

A session is counted in the period it started in. Containment is the share of sessions the
bot resolved without a person (the customer confirmed the answer helped); sessions still
running count as not contained yet. The counting is SQL on both databases: GROUP BY on the
session rows, and the answered articles (a JSON list per session) unnested with json_each on
SQLite and jsonb_array_elements_text on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select, true

from helpline.domain.errors import DomainError
from helpline.domain.flows.model import LocalText
from helpline.domain.flows.runtime import Outcome, SessionStatus
from helpline.services import flows
from helpline.storage.models import BotSession
from helpline.storage.uow import UnitOfWork

#: The bucket of sessions that have not ended yet.
STILL_ACTIVE = SessionStatus.ACTIVE.value
#: Every bucket a session falls in, in the order reports show them.
OUTCOMES: tuple[str, ...] = (*(o.value for o in Outcome), STILL_ACTIVE)
DEFAULT_DAYS = 7
MAX_DAYS = 366
TOP = 10


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end): whole UTC days, `end` exclusive."""

    start: datetime
    end: datetime

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(days=1)).date()


def report_period(today: date, first: date | None = None, last: date | None = None) -> Period:
    """The days from `first` to `last` inclusive; by default the last 7 days up to `today`."""
    for day, name in ((first, "from"), (last, "to")):
        if day is not None and not date.min + timedelta(days=MAX_DAYS) <= day < date.max:
            raise DomainError("choose a date between years 2 and 9999", field=name)
    last = last or (today if first is None else max(first, today))
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise DomainError("the period starts after it ends", field="from")
    if (last - first).days + 1 > MAX_DAYS:
        raise DomainError("choose a period of at most {days} days", field="from", days=MAX_DAYS)
    start = datetime.combine(first, time.min, tzinfo=UTC)
    return Period(start, datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC))


@dataclass(frozen=True, slots=True)
class Counted:
    key: str
    count: int


def _containment(outcomes: Mapping[str, int], sessions: int) -> float | None:
    return outcomes.get(Outcome.ANSWERED_CONFIRMED.value, 0) / sessions if sessions else None


@dataclass(frozen=True, slots=True)
class ChannelContainment:
    channel: str
    sessions: int
    outcomes: dict[str, int]

    @property
    def containment(self) -> float | None:
        return _containment(self.outcomes, self.sessions)


@dataclass(frozen=True, slots=True)
class BotReport:
    period: Period
    sessions: int
    #: Sessions per bucket of OUTCOMES (every bucket present, zeros included).
    outcomes: dict[str, int]
    handoff_reasons: tuple[Counted, ...] = ()
    answered_articles: tuple[Counted, ...] = ()
    channels: tuple[ChannelContainment, ...] = field(default_factory=tuple)

    @property
    def containment(self) -> float | None:
        """Resolved without a person, as a share of all sessions (None when there were none)."""
        return _containment(self.outcomes, self.sessions)

    def share(self, outcome: str) -> float | None:
        return self.outcomes.get(outcome, 0) / self.sessions if self.sessions else None


def _bucket(status: str, outcome: str | None) -> str:
    if status == SessionStatus.ACTIVE:
        return STILL_ACTIVE
    return outcome if outcome in OUTCOMES else Outcome.ABANDONED.value


def _in_period(period: Period) -> list[Any]:
    return [BotSession.started_at >= period.start, BotSession.started_at < period.end]


async def bot_report(uow: UnitOfWork, period: Period, top: int = TOP) -> BotReport:
    """Sessions started in `period`: how they ended, per channel, why people took over, what was answered."""
    rows = (
        await uow.session.execute(
            select(BotSession.channel, BotSession.status, BotSession.outcome, func.count())
            .where(*_in_period(period))
            .group_by(BotSession.channel, BotSession.status, BotSession.outcome)
        )
    ).all()
    totals = dict.fromkeys(OUTCOMES, 0)
    per_channel: dict[str, dict[str, int]] = {}
    for channel, status, outcome, count in rows:
        bucket = _bucket(status, outcome)
        totals[bucket] += count
        own = per_channel.setdefault(channel, dict.fromkeys(OUTCOMES, 0))
        own[bucket] += count
    channels = tuple(
        sorted(
            (ChannelContainment(c, sum(o.values()), o) for c, o in per_channel.items()),
            key=lambda c: (-c.sessions, c.channel),
        )
    )
    return BotReport(
        period=period,
        sessions=sum(totals.values()),
        outcomes=totals,
        handoff_reasons=await _handoff_reasons(uow, period, top),
        answered_articles=await _answered_articles(uow, period, top),
        channels=channels,
    )


async def _handoff_reasons(uow: UnitOfWork, period: Period, top: int) -> tuple[Counted, ...]:
    count = func.count().label("n")
    rows = (
        await uow.session.execute(
            select(BotSession.handoff_reason, count)
            # A ticket's session keeps its "ticket #12" as reason: counted as a ticket, not here.
            .where(
                *_in_period(period),
                BotSession.outcome == Outcome.HANDED_OFF.value,
                BotSession.handoff_reason.is_not(None),
            )
            .group_by(BotSession.handoff_reason)
            .order_by(count.desc(), BotSession.handoff_reason)
            .limit(top)
        )
    ).all()
    return tuple(Counted(str(reason), int(n)) for reason, n in rows)


async def handoff_reason_texts(uow: UnitOfWork, period: Period) -> Mapping[str, LocalText]:
    """The period's hand-off reasons as their flows wrote them per language (see flows)."""
    return await flows.handoff_reason_texts(uow, *_in_period(period))


async def _answered_articles(uow: UnitOfWork, period: Period, top: int) -> tuple[Counted, ...]:
    if uow.session.get_bind().dialect.name == "postgresql":
        elements = func.jsonb_array_elements_text(BotSession.answered).table_valued("value").render_derived()
    else:
        elements = func.json_each(BotSession.answered).table_valued("value")
    count = func.count().label("n")
    rows = (
        await uow.session.execute(
            select(elements.c.value, count)
            .select_from(BotSession)
            .join(elements, true())
            .where(*_in_period(period))
            .group_by(elements.c.value)
            .order_by(count.desc(), elements.c.value)
            .limit(top)
        )
    ).all()
    return tuple(Counted(str(intent), int(n)) for intent, n in rows)
