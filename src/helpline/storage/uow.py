"""Unit of work: one transaction, its clock, and the events to publish once it commits."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpline.domain.events import Event

Clock = Callable[[], datetime]
Publisher = Callable[[Sequence[Event]], Awaitable[None]]


def utc_now() -> datetime:
    return datetime.now(UTC)


async def _discard(_events: Sequence[Event]) -> None:
    return None


class UnitOfWork:
    """`async with uow:` opens a transaction; leaving without `commit()` rolls it back.

    Services record events with `emit`; they reach consoles and webhooks only after the
    commit succeeds, so nobody ever sees a change that was rolled back.
    """

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        publish: Publisher = _discard,
        clock: Clock = utc_now,
    ) -> None:
        self._session_factory = session_factory
        self._publish = publish
        self.now = clock
        self._session: AsyncSession | None = None
        self._events: list[Event] = []

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("unit of work used outside `async with`")
        return self._session

    @property
    def dialect(self) -> str:
        """The database's SQLAlchemy dialect name, for the few paths PostgreSQL does in fewer steps."""
        return str(self._session_factory.kw["bind"].dialect.name)

    def emit(self, event: Event) -> None:
        self._events.append(event)

    async def __aenter__(self) -> UnitOfWork:
        self._session = self._session_factory()
        self._events = []
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        session, self._session = self.session, None
        # close() rolls back anything uncommitted and detaches objects without expiring them,
        # so values already loaded stay readable after the block.
        try:
            await session.close()
        finally:
            self._events = []

    async def commit(self) -> None:
        await self.session.commit()
        events, self._events = self._events, []
        if events:
            await self._publish(events)

    async def rollback(self) -> None:
        await self.session.rollback()
        self._events = []


UnitOfWorkFactory = Callable[[], UnitOfWork]
