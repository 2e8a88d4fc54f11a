"""Storage on a real SQLite file and a real PostgreSQL server: schema, races, and access rules in SQL."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from helpline.bootstrap import Container
from helpline.domain.access import Viewer, can_view_conversation
from helpline.domain.conversations import Channel
from helpline.domain.identities import IdentityKind
from helpline.domain.inbound import InboundMessage
from helpline.domain.users import Role
from helpline.services.channel_accounts import do_ensure_channel_account
from helpline.services.conversations import ConversationFilter, list_conversations
from helpline.services.inbound import ingest_inbound
from helpline.services.users import UserSpec, do_create_team, do_create_user
from helpline.storage.db import to_async_url, to_sync_url
from helpline.storage.migrate import downgrade, upgrade
from helpline.storage.models import Base, Conversation


def test_migrations_match_the_models_and_go_down_and_up(database_url: str) -> None:
    engine = create_engine(to_sync_url(database_url))
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"
    downgrade(database_url, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(database_url)
    assert {t.name for t in Base.metadata.sorted_tables} <= set(inspect(engine).get_table_names())
    engine.dispose()


def _message(account_id: int, who: str, pid: str) -> InboundMessage:
    return InboundMessage(
        channel=Channel.WHATSAPP,
        channel_account_id=account_id,
        identity_kind=IdentityKind.WHATSAPP,
        identity_value=who,
        text="hello",
        provider_message_id=pid,
        sent_at=datetime.now(UTC),
    )


async def test_concurrent_deliveries_of_one_message_store_it_once(container: Container) -> None:
    async with container.uow() as uow:
        account = await do_ensure_channel_account(uow, Channel.WHATSAPP, "race")
        await uow.commit()
    # Ten concurrent webhook deliveries: the same provider message, from a brand-new customer.
    results = await asyncio.gather(
        *[ingest_inbound(container.uow, _message(account.id, "79001112233", "wamid.1")) for _ in range(10)]
    )
    assert len({r.message_id for r in results}) == 1
    assert len({r.contact_id for r in results}) == 1
    assert sum(not r.duplicate for r in results) == 1
    # Different messages from one new customer arriving together end in one contact and conversation.
    many = await asyncio.gather(
        *[ingest_inbound(container.uow, _message(account.id, "79005556677", f"wamid.x{i}")) for i in range(8)]
    )
    assert len({r.message_id for r in many}) == 8
    assert len({r.contact_id for r in many}) == 1
    assert len({r.conversation_id for r in many}) == 1


async def test_sql_visibility_agrees_with_the_domain_rule(container: Container) -> None:
    """`visible_to` (SQL) and `can_view_conversation` (Python) over every assignee × team combination."""
    async with container.uow() as uow:
        team_a = await do_create_team(uow, "A")
        team_b = await do_create_team(uow, "B")
        me = await do_create_user(
            uow, UserSpec(email="me@t.test", name="me", password="long enough password")
        )
        other = await do_create_user(
            uow, UserSpec(email="o@t.test", name="o", password="long enough password")
        )
        account = await do_ensure_channel_account(uow, Channel.WEBCHAT, "site")
        await uow.commit()
    combos = list(itertools.product([None, me.id, other.id], [None, team_a.id, team_b.id]))
    for n, (assignee, team) in enumerate(combos):
        result = await ingest_inbound(container.uow, _message(account.id, f"7900000000{n}", f"v{n}"))
        async with container.uow() as uow:
            conv = await uow.session.get(Conversation, result.conversation_id)
            assert conv is not None
            conv.assignee_id, conv.team_id = assignee, team
            await uow.commit()
    viewers = [
        Viewer(me.id, Role.AGENT, frozenset(teams)) for teams in ([], [team_a.id], [team_a.id, team_b.id])
    ]
    viewers += [Viewer(me.id, Role.SUPERVISOR, frozenset()), Viewer(me.id, Role.ADMIN, frozenset())]
    for viewer in viewers:
        async with container.uow() as uow:
            listed = await list_conversations(uow, viewer, ConversationFilter(limit=200))
            expected = {
                c.id
                for c in await uow.session.scalars(select(Conversation))
                if can_view_conversation(viewer, c.assignee_id, c.team_id)
            }
            everything = len(combos)
        assert {c.id for c in listed} == expected, viewer
        assert 0 < len(expected) <= everything


async def test_the_pool_is_opened_at_start_up_not_in_the_first_requests(container: Container) -> None:
    from helpline.storage.db import open_pool

    pool = container.engine.pool
    await open_pool(container.engine)
    # Every pooled connection now exists and waits, checked in: the first burst opens none.
    assert pool.checkedin() == pool.size()  # type: ignore[attr-defined]
    assert pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_connection_killed_while_idle_in_the_pool_is_replaced_before_use(
    migrated_postgres: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only connections left idle are pinged (not every transaction); a dead one is swapped out."""
    from sqlalchemy.exc import OperationalError

    from helpline.storage import db

    url = migrated_postgres

    async def kill_pooled_connections(engine: AsyncEngine) -> None:
        async with engine.connect() as conn:  # warm the pool: this connection goes back to it
            await conn.execute(text("SELECT 1"))
        killer = create_async_engine(to_async_url(url), poolclass=NullPool)
        async with killer.connect() as conn:
            killed = await conn.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND application_name = 'idle-ping-test'"
                )
            )
        await killer.dispose()
        assert killed == 1

    def engine() -> AsyncEngine:
        return db.create_engine(url, pool_size=1, connect_args={"application_name": "idle-ping-test"})

    # Used a moment ago: not pinged, so the dead connection fails its first statement.
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 3600.0)
    busy = engine()
    await kill_pooled_connections(busy)
    with pytest.raises(OperationalError):
        async with busy.connect() as conn:
            await conn.execute(text("SELECT 1"))
    await busy.dispose()

    # Left idle past the threshold: pinged on checkout, found dead, replaced; the caller sees nothing.
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)
    idle = engine()
    await kill_pooled_connections(idle)
    async with idle.connect() as conn:
        assert await conn.scalar(text("SELECT 1")) == 1
    await idle.dispose()
