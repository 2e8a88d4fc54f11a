"""Engine and session factory for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import QueuePool

from helpline.storage.param_guard import refuse_unstorable_parameters


def to_async_url(url: str) -> str:
    """Accept the URLs people write (`sqlite:///x.db`, `postgresql://…`) and pick our async drivers."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    else:
        raise ValueError(f"unsupported database {backend!r}: use SQLite or PostgreSQL")
    return parsed.render_as_string(hide_password=False)


def to_sync_url(url: str) -> str:
    """The same database through a synchronous driver, for Alembic."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        parsed = parsed.set(drivername="sqlite")
    else:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _configure_sqlite(engine: AsyncEngine) -> None:
    """WAL for concurrent readers; BEGIN IMMEDIATE so writers queue on the lock instead of failing.

    With the default deferred BEGIN, two transactions that both read and then write deadlock
    and one gets SQLITE_BUSY at once, whatever the busy timeout; taking the write lock at
    BEGIN makes them wait their turn (the recipe from SQLAlchemy's pysqlite notes).
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def ensure_sqlite_directory(url: str) -> None:
    """SQLite creates the file but not its directory; a fresh install has neither."""
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)


async def open_pool(engine: AsyncEngine) -> None:
    """Open the pool's connections now, at start-up, instead of during the first burst.

    A PostgreSQL connection costs a backend process and an authentication round trip
    (5-20 ms); opened lazily, the first busy seconds of a fresh server paid them inside
    requests (p99 above 100 ms in the webhook benchmark's first two seconds).
    """
    size = engine.pool.size() if isinstance(engine.pool, QueuePool) else 1
    held: list[AsyncConnection] = []
    try:
        for _ in range(size):
            held.append(await engine.connect())
    finally:
        for connection in held:
            await connection.close()


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    url = to_async_url(url)
    if is_sqlite(url):
        ensure_sqlite_directory(url)
        # One connection: SQLite has one writer anyway, and a single connection in-process
        # avoids lock waits between our own requests.
        engine = create_async_engine(url, pool_size=1, max_overflow=0, **kwargs)
        _configure_sqlite(engine)
        refuse_unstorable_parameters(engine)
        return engine
    # Sized for bursts: an overflow connection is opened for one checkout and closed after it,
    # so a pool smaller than the usual concurrency pays a new connection per request.
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 10)
    # Last in, first out: under light load the same few connections serve and stay warm, so
    # the others age and only they are pinged (below) when a burst needs them.
    kwargs.setdefault("pool_use_lifo", True)
    engine = create_async_engine(url, **kwargs)
    _ping_connections_left_idle(engine)
    refuse_unstorable_parameters(engine)
    return engine


#: A pooled connection unused for this long is checked with a round trip before it is handed out.
IDLE_PING_SECONDS = 10.0


def _ping_connections_left_idle(engine: AsyncEngine) -> None:
    """Ping a pooled connection before use only when it has sat unused, not on every checkout.

    SQLAlchemy's `pool_pre_ping` costs a round trip per transaction. Under webhook load most
    transactions hold one message, so that was one extra round trip per message (~5-8 % of the
    server's CPU in bench/webhooks.py) to guard against what only happens to idle connections:
    a database restart or an idle timeout in between. A connection in steady use that breaks
    anyway fails its statement, and SQLAlchemy then recycles the whole pool (disconnect
    detection), so one request answers 5xx and the provider's retry finds fresh connections.
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("returned_at")
        if returned is None or time.monotonic() - returned < IDLE_PING_SECONDS:
            return  # new (just connected) or in steady use
        try:
            # The dialect's own ping (SQLAlchemy's pre-ping uses it): on psycopg it runs in
            # autocommit, so it leaves no transaction open. A plain cursor.execute would leave
            # one, and the connection could then not be switched to autocommit by its user.
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool drops this connection and checks out another
            raise DisconnectionError("pooled connection was closed while idle") from exc


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
