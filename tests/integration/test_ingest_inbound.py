"""Storing one inbound message. On PostgreSQL a returning customer's message is one statement in
autocommit (look-up and append), a reopening two; whatever lands between the two, nothing is lost
or doubled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import delete, event, func, insert, select, text, update
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from helpline.bootstrap import Container, build_container
from helpline.domain.conversations import ConversationStatus
from helpline.services.inbound import IngestResult, do_ingest_inbound, ingest_inbound
from helpline.storage import db
from helpline.storage.driver_sql import DriverStatement
from helpline.storage.models import Contact, ContactIdentity, Conversation, Message
from tests.conftest import make_settings, truncate_postgres
from tests.integration.channel_kit import telegram_account, telegram_message


@contextmanager
def statements(container: Container) -> Iterator[list[str]]:
    """The SQL statements the application sends while the block runs: through SQLAlchemy, and
    straight through psycopg (PostgreSQL's hot path), the latter marked with the connection's
    mode ("autocommit: ..." or "in transaction: ...")."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    real_fetch_one = DriverStatement.fetch_one

    async def fetch_one(self: DriverStatement, conn: Any, values: Any) -> Any:
        seen.append(f"{'autocommit' if conn.autocommit else 'in transaction'}: {self.sql}")
        return await real_fetch_one(self, conn, values)

    engine = container.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(DriverStatement, "fetch_one", fetch_one)
            yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def heads(sent: list[str]) -> list[str]:
    """Each statement's mode and first CTE ("autocommit: WITH known"): which statement it was."""
    return [sql.split(" AS", 1)[0] for sql in sent]


@contextmanager
def after_first_statement(action: Callable[[], Awaitable[None]]) -> Iterator[None]:
    """Runs `action` once, right after the ingest's first statement (PostgreSQL's hot path): a
    race made to happen between the look-up and the write that follows it."""
    real_fetch_one = DriverStatement.fetch_one
    done = False

    async def fetch_one_then_act(self: DriverStatement, conn: Any, values: Any) -> Any:
        nonlocal done
        row = await real_fetch_one(self, conn, values)
        if not done:
            done = True
            await action()
        return row

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DriverStatement, "fetch_one", fetch_one_then_act)
        yield


async def set_status(container: Container, conversation_id: int, status: ConversationStatus) -> None:
    async with container.uow() as uow:
        resolved_at = uow.now() - timedelta(minutes=5) if status is ConversationStatus.RESOLVED else None
        await uow.session.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id)
            .values(status=status.value, resolved_at=resolved_at)
        )
        await uow.commit()


async def stored(container: Container) -> list[tuple[int, str | None]]:
    async with container.uow() as uow:
        rows = await uow.session.execute(
            select(Message.conversation_id, Message.provider_message_id).order_by(Message.id)
        )
        return [(r[0], r[1]) for r in rows]


async def test_a_returning_customers_message_is_one_statement(container: Container) -> None:
    account_id = await telegram_account(container)
    first = await ingest_inbound(container.uow, telegram_message(account_id, 42, 1))
    with statements(container) as sent:
        second = await ingest_inbound(container.uow, telegram_message(account_id, 42, 2))
    assert second.conversation_id == first.conversation_id
    assert not second.duplicate
    if container.engine.dialect.name == "postgresql":
        assert len(sent) == 1, sent  # look-up, touch and insert in one statement; no BEGIN, no COMMIT
        assert sent[0].startswith("autocommit: WITH known AS")
    else:
        assert len(sent) == 4, sent  # BEGIN IMMEDIATE, look-up, touch, insert
    async with container.uow() as uow:
        conversation = await uow.session.get_one(Conversation, first.conversation_id)
        assert conversation.last_message_at == second.stored_at
    assert await stored(container) == [(first.conversation_id, "42:1"), (first.conversation_id, "42:2")]
    # A provider retry is answered from the look-up alone.
    with statements(container) as sent:
        retry = await ingest_inbound(container.uow, telegram_message(account_id, 42, 2))
    assert retry == IngestResult(
        second.message_id,
        second.conversation_id,
        second.contact_id,
        duplicate=True,
        stored_at=second.stored_at,
    )
    assert len([sql for sql in sent if not sql.startswith("BEGIN")]) == 1, sent
    assert await stored(container) == [(first.conversation_id, "42:1"), (first.conversation_id, "42:2")]


@pytest.mark.parametrize("status", [ConversationStatus.RESOLVED, ConversationStatus.PENDING])
async def test_a_conversation_waiting_on_the_customer_reopens(
    container: Container, status: ConversationStatus
) -> None:
    account_id = await telegram_account(container)
    first = await ingest_inbound(container.uow, telegram_message(account_id, 42, 1))
    await set_status(container, first.conversation_id, status)
    with statements(container) as sent:
        second = await ingest_inbound(container.uow, telegram_message(account_id, 42, 2))
    assert second.conversation_id == first.conversation_id
    if container.engine.dialect.name == "postgresql":
        # The first statement appends only to an open conversation; the second reopens and appends.
        assert heads(sent) == [
            "autocommit: WITH known",
            "autocommit: WITH touched",
        ]
    async with container.uow() as uow:
        conversation = await uow.session.get_one(Conversation, first.conversation_id)
    assert conversation.status == ConversationStatus.OPEN.value
    assert conversation.resolved_at is None
    assert conversation.last_message_at == second.stored_at
    assert await stored(container) == [(first.conversation_id, "42:1"), (first.conversation_id, "42:2")]


@pytest.fixture
async def postgres_container(migrated_postgres: str) -> AsyncIterator[Container]:
    """The races need two connections at once: PostgreSQL only (SQLite's pool holds one, and its
    ingest runs in one transaction on it, so nothing can land between look-up and write)."""
    truncate_postgres(migrated_postgres)
    c = build_container(make_settings(migrated_postgres))
    yield c
    await c.close()


async def test_a_retry_stored_between_lookup_and_append_leaves_the_conversation_untouched(
    postgres_container: Container,
) -> None:
    container = postgres_container
    account_id = await telegram_account(container)
    first = await ingest_inbound(container.uow, telegram_message(account_id, 42, 1))
    await set_status(container, first.conversation_id, ConversationStatus.PENDING)
    async with container.uow() as uow:
        before = (await uow.session.get_one(Conversation, first.conversation_id)).last_message_at

    async def original_lands() -> None:
        # The original delivery of message 2, committed by another request in the meantime,
        # with a timestamp the failed statement would have overwritten.
        async with container.uow() as uow:
            await uow.session.execute(
                insert(Message).values(
                    conversation_id=first.conversation_id,
                    channel_account_id=account_id,
                    direction="inbound",
                    author_kind="customer",
                    text="message 2",
                    is_internal=False,
                    provider_message_id="42:2",
                    delivery_status="received",
                    created_at=before,
                )
            )
            await uow.commit()

    with after_first_statement(original_lands):
        retry = await ingest_inbound(container.uow, telegram_message(account_id, 42, 2))
    assert retry.duplicate
    assert retry.conversation_id == first.conversation_id
    assert await stored(container) == [(first.conversation_id, "42:1"), (first.conversation_id, "42:2")]
    async with container.uow() as uow:
        # The reopening was part of the statement that failed on the unique constraint.
        conversation = await uow.session.get_one(Conversation, first.conversation_id)
    assert conversation.last_message_at == before
    assert conversation.status == ConversationStatus.PENDING.value


async def test_a_conversation_deleted_between_lookup_and_append_gets_a_new_one(
    postgres_container: Container,
) -> None:
    container = postgres_container
    account_id = await telegram_account(container)
    first = await ingest_inbound(container.uow, telegram_message(account_id, 42, 1))
    await set_status(container, first.conversation_id, ConversationStatus.PENDING)

    async def agent_deletes_it() -> None:
        async with container.uow() as uow:
            await uow.session.execute(delete(Conversation).where(Conversation.id == first.conversation_id))
            await uow.commit()

    with after_first_statement(agent_deletes_it):
        second = await ingest_inbound(container.uow, telegram_message(account_id, 42, 2))
    assert second.conversation_id != first.conversation_id
    assert second.contact_id == first.contact_id
    assert not second.duplicate
    assert await stored(container) == [(second.conversation_id, "42:2")]
    async with container.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Conversation)) == 1


async def test_when_the_server_drops_the_pool_one_message_fails_and_the_next_is_stored(
    postgres_container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hot path runs on psycopg directly, out of SQLAlchemy's sight: a dead connection fails
    one message (the provider retries it), and the pool's other dead ones are not used."""
    container = postgres_container
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 3600.0)  # connections in steady use: no ping
    account_id = await telegram_account(container)
    # Three customers at once: three connections are used, then wait in the pool.
    await asyncio.gather(
        *(ingest_inbound(container.uow, telegram_message(account_id, c, 1)) for c in (1, 2, 3))
    )
    killer = create_async_engine(container.engine.url, poolclass=NullPool)
    async with killer.connect() as conn:
        killed = await conn.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    await killer.dispose()
    assert killed >= 2
    with pytest.raises(psycopg.OperationalError):
        await ingest_inbound(container.uow, telegram_message(account_id, 1, 2))
    # The provider retries: stored on a fresh connection.
    retried = await ingest_inbound(container.uow, telegram_message(account_id, 1, 2))
    assert not retried.duplicate
    later = await ingest_inbound(container.uow, telegram_message(account_id, 2, 2))
    assert not later.duplicate
    assert len(await stored(container)) == 5


async def test_messages_stored_together_take_one_statement_each_in_their_transaction(
    container: Container,
) -> None:
    """The batcher's path: several messages in one transaction (committed once)."""
    account_id = await telegram_account(container)
    firsts = [await ingest_inbound(container.uow, telegram_message(account_id, c, 1)) for c in (1, 2, 3)]
    with statements(container) as sent:
        async with container.uow() as uow:
            results = [await do_ingest_inbound(uow, telegram_message(account_id, c, 2)) for c in (1, 2, 3)]
            await uow.commit()
    assert [r.conversation_id for r in results] == [f.conversation_id for f in firsts]
    if container.engine.dialect.name == "postgresql":
        assert heads(sent) == ["in transaction: WITH known"] * 3
    assert sorted(await stored(container)) == sorted(
        [(f.conversation_id, f"{c}:{n}") for f, c in zip(firsts, (1, 2, 3), strict=True) for n in (1, 2)]
    )


async def test_a_first_message_starts_contact_and_conversation_in_a_second_statement(
    container: Container,
) -> None:
    account_id = await telegram_account(container)
    with statements(container) as sent:
        first = await ingest_inbound(container.uow, telegram_message(account_id, 42, 1))
    if container.engine.dialect.name == "postgresql":
        assert heads(sent) == [
            "autocommit: WITH known",
            "autocommit: WITH new_contact",
        ]
    async with container.uow() as uow:
        conversation = await uow.session.get_one(Conversation, first.conversation_id)
        identity = await uow.session.scalar(
            select(ContactIdentity).where(ContactIdentity.contact_id == first.contact_id)
        )
        contact = await uow.session.get_one(Contact, first.contact_id)
    assert (conversation.contact_id, conversation.status) == (first.contact_id, ConversationStatus.OPEN.value)
    assert conversation.last_message_at == first.stored_at
    assert identity is not None
    assert (identity.kind, identity.value, identity.verified) == ("telegram", "42", True)
    assert (contact.tags, contact.attributes) == ([], {})
    # A closed conversation is never reopened: the known contact gets a new one, in a second statement.
    await set_status(container, first.conversation_id, ConversationStatus.CLOSED)
    with statements(container) as sent:
        second = await ingest_inbound(container.uow, telegram_message(account_id, 42, 2))
    assert second.contact_id == first.contact_id
    assert second.conversation_id != first.conversation_id
    if container.engine.dialect.name == "postgresql":
        assert heads(sent) == [
            "autocommit: WITH known",
            "autocommit: WITH new_conversation",
        ]
    assert await stored(container) == [(first.conversation_id, "42:1"), (second.conversation_id, "42:2")]


async def test_two_first_messages_of_one_new_sender_make_one_contact(postgres_container: Container) -> None:
    """Another request stores the sender's first message between our look-up and our insert:
    our contact-creating statement fails whole, and the retry appends to theirs."""
    container = postgres_container
    account_id = await telegram_account(container)
    theirs: list[IngestResult] = []

    async def other_request_lands() -> None:
        theirs.append(await ingest_inbound(container.uow, telegram_message(account_id, 42, 2)))

    with after_first_statement(other_request_lands):
        ours = await ingest_inbound(container.uow, telegram_message(account_id, 42, 1))
    assert ours.contact_id == theirs[0].contact_id
    assert ours.conversation_id == theirs[0].conversation_id
    assert await stored(container) == [(ours.conversation_id, "42:2"), (ours.conversation_id, "42:1")]
    async with container.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Contact)) == 1


async def test_a_connection_pinged_after_sitting_idle_can_still_run_in_autocommit(
    postgres_container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pool pings connections that sat idle; the ping must not leave a transaction open,
    or the autocommit ingest cannot use the connection (seen once in 40,000 webhooks)."""
    container = postgres_container
    account_id = await telegram_account(container)
    await ingest_inbound(container.uow, telegram_message(account_id, 42, 1))
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)  # every checkout now pings
    second = await ingest_inbound(container.uow, telegram_message(account_id, 42, 2))
    third = await ingest_inbound(container.uow, telegram_message(account_id, 42, 3))
    assert third.conversation_id == second.conversation_id
    assert len(await stored(container)) == 3


async def test_a_batch_reopens_and_starts_conversations_with_the_same_statements(
    container: Container,
) -> None:
    """In the batcher's transaction too: a pending conversation is reopened, a new sender's
    first message starts contact and conversation, each in a second statement."""
    account_id = await telegram_account(container)
    pending = await ingest_inbound(container.uow, telegram_message(account_id, 1, 1))
    await set_status(container, pending.conversation_id, ConversationStatus.PENDING)
    with statements(container) as sent:
        async with container.uow() as uow:
            reopened = await do_ingest_inbound(uow, telegram_message(account_id, 1, 2))
            started = await do_ingest_inbound(uow, telegram_message(account_id, 2, 1))
            await uow.commit()
    if container.engine.dialect.name == "postgresql":
        assert heads(sent) == [
            "in transaction: WITH known",
            "in transaction: WITH touched",
            "in transaction: WITH known",
            "in transaction: WITH new_contact",
        ]
    assert reopened.conversation_id == pending.conversation_id
    async with container.uow() as uow:
        conversation = await uow.session.get_one(Conversation, pending.conversation_id)
    assert conversation.status == ConversationStatus.OPEN.value
    assert sorted(await stored(container)) == sorted(
        [
            (pending.conversation_id, "1:1"),
            (pending.conversation_id, "1:2"),
            (started.conversation_id, "2:1"),
        ]
    )
