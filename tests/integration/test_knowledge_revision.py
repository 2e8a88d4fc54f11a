"""The bot learns every edit of the knowledge base, whatever the timing of the edits' commits,
and keeps answering while it learns. Real SQLite and PostgreSQL, real classifier (tiny bases).
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text

from helpline.bootstrap import Container, build_container
from helpline.bot.faq_bot import BotBrain, IntentEngine, train_engine
from helpline.services.knowledge import (
    TrainingQuestion,
    do_delete_article,
    do_save_article,
    knowledge_changes,
    knowledge_snapshot,
)
from helpline.storage.db import to_sync_url
from helpline.storage.uow import UnitOfWork
from tests.conftest import make_settings
from tests.integration.conftest import Clock


class Trainer:
    """The product's training, recording what each call learnt from; `gate` holds it back as
    long as a real base's half minute of training would, `fail` makes the next call fail."""

    def __init__(self) -> None:
        self.learnt: list[tuple[TrainingQuestion, ...]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail = False
        self.calls = 0

    def __call__(self, questions: Sequence[TrainingQuestion]) -> IntentEngine:
        self.calls += 1
        assert self.gate.wait(timeout=60)
        if self.fail:
            self.fail = False
            raise RuntimeError("training failed")
        self.learnt.append(tuple(questions))
        return train_engine(questions)

    def utterances(self, intent: str) -> set[str]:
        return {q.utterance for q in self.learnt[-1] if q.intent == intent}


@pytest.fixture
def trainer() -> Iterator[Trainer]:
    t = Trainer()
    yield t
    t.gate.set()  # a test that failed with the gate closed must not leave the thread waiting


@pytest.fixture
async def clocked(database_url: str, clock: Clock) -> AsyncIterator[Container]:
    c = build_container(make_settings(database_url), clock=clock)
    yield c
    await c.close()


async def save(c: Container, intent: str, answer: str, questions: list[str], title: str = "") -> None:
    async with c.uow() as uow:
        await do_save_article(
            uow,
            intent,
            title={"en": title} if title else {},
            answer={"en": answer},
            questions={"en": questions},
        )
        await uow.commit()


async def seed(c: Container) -> str:
    """Two articles whose questions no other test uses (trained engines are shared process-wide).
    Returns the marker that makes them unique."""
    marker = uuid.uuid4().hex[:8]
    await save(c, "refund", "Refunds take 5 days.", [f"how do I get a refund {marker}"])
    await save(c, "hours", "We open at 9.", [f"when are you open {marker}"])
    return marker


async def revision(c: Container) -> str:
    async with c.uow() as uow:
        return (await knowledge_snapshot(uow)).revision


async def learnt(brain: BotBrain, make_uow: Callable[[], UnitOfWork], wanted: str) -> Any:
    """The brain once it serves revision `wanted` (it may train in the background first)."""
    for _ in range(1500):
        current = await brain.get(make_uow)
        if current.revision == wanted:
            return current
        await asyncio.sleep(0.02)
    raise AssertionError(f"the bot never served revision {wanted}")


async def test_every_edit_changes_the_revision_even_at_the_same_clock_time(clocked: Container) -> None:
    """Edit times are the app's clock, not the commit order: they cannot tell an edit apart."""
    marker = await seed(clocked)
    seen = [await revision(clocked)]
    await save(clocked, "refund", "Refunds now take 30 days.", [f"how do I get a refund {marker}"])
    seen.append(await revision(clocked))
    await save(clocked, "refund", "Refunds now take 30 days.", [f"how do I get a refund {marker}"], "Refunds")
    seen.append(await revision(clocked))
    async with clocked.uow() as uow:
        await do_delete_article(uow, "hours")
        await uow.commit()
    seen.append(await revision(clocked))

    assert len(set(seen)) == len(seen)


async def test_an_edit_committed_while_the_bot_reads_the_base_is_learnt_next(
    on_postgres: Container, trainer: Trainer
) -> None:
    marker = await seed(on_postgres)
    other_connection = create_engine(to_sync_url(str(on_postgres.settings.database_url)))
    edited: list[bool] = []

    @event.listens_for(on_postgres.engine.sync_engine, "after_cursor_execute")
    def admin_edits_now(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if "FROM kb_articles ORDER BY" in statement and not edited:
            edited.append(True)
            with other_connection.begin() as admin:
                admin.execute(
                    text("UPDATE kb_articles SET questions = :q WHERE intent = 'refund'"),
                    {"q": f'{{"en": ["how do I get a refund {marker}", "money back please"]}}'},
                )
                admin.execute(text("UPDATE kb_changes SET count = count + 1"))  # as every edit does

    try:
        brain = BotBrain(trainer)
        first = await brain.get(on_postgres.uow)
        assert edited
        assert "money back please" not in trainer.utterances("refund")
        # The edit was not in what the bot read, so the revision it serves is not the stored one.
        assert first.revision != await revision(on_postgres)

        await learnt(brain, on_postgres.uow, await revision(on_postgres))
        assert "money back please" in trainer.utterances("refund")
    finally:
        event.remove(on_postgres.engine.sync_engine, "after_cursor_execute", admin_edits_now)
        other_connection.dispose()


async def test_edits_wait_for_each_other_so_none_commits_unseen(
    on_postgres: Container, trainer: Trainer
) -> None:
    """Edit times are the app's clock, so an edit stamped first could commit last; every edit
    bumps the one change counter in its own transaction, so a second edit waits for the first."""
    marker = await seed(on_postgres)
    brain = BotBrain(trainer)
    await brain.get(on_postgres.uow)

    first = on_postgres.uow()
    async with first:  # stamped first…
        await do_save_article(
            first,
            "refund",
            title={},
            answer={"en": "Refunds now take 30 days."},
            questions={"en": [f"how do I get a refund {marker}"]},
        )
        second = asyncio.create_task(
            save(on_postgres, "hours", "We open at 10.", [f"when are you open {marker}"])
        )
        await asyncio.sleep(0.3)
        assert not second.done()  # …so the later one cannot commit before it
        await first.commit()
    async with asyncio.timeout(10):
        await second

    current = await learnt(brain, on_postgres.uow, await revision(on_postgres))
    assert current.snapshot.articles["refund"].answer == {"en": "Refunds now take 30 days."}
    assert current.snapshot.articles["hours"].answer == {"en": "We open at 10."}


async def test_while_a_new_revision_trains_turns_are_answered_with_the_previous_one(
    container: Container, trainer: Trainer
) -> None:
    marker = await seed(container)
    brain = BotBrain(trainer)
    before = await brain.get(container.uow)

    trainer.gate.clear()  # the new questions take long to learn
    await save(container, "refund", "Refunds take 5 days.", [f"how do I get a refund {marker}", "money back"])
    async with asyncio.timeout(5):
        during = await asyncio.gather(*(brain.get(container.uow) for _ in range(3)))
    assert all(b is before for b in during)

    trainer.gate.set()
    after = await learnt(brain, container.uow, await revision(container))
    assert "money back" in trainer.utterances("refund")
    assert "money back" in {q.utterance for q in after.snapshot.questions}


async def test_the_first_classifier_is_waited_for(container: Container, trainer: Trainer) -> None:
    await seed(container)
    brain = BotBrain(trainer)
    trainer.gate.clear()
    first = asyncio.create_task(brain.get(container.uow))
    second = asyncio.create_task(brain.get(container.uow))
    await asyncio.sleep(0.2)
    assert not first.done()
    assert not second.done()

    trainer.gate.set()
    assert (await first) is (await second)
    assert (await first).revision == await revision(container)
    assert len(trainer.learnt) == 1


async def test_a_failed_training_keeps_the_previous_classifier_and_is_tried_again(
    container: Container, trainer: Trainer
) -> None:
    marker = await seed(container)
    brain = BotBrain(trainer)
    before = await brain.get(container.uow)

    trainer.fail = True
    await save(container, "refund", "Refunds take 5 days.", [f"how do I get a refund {marker}", "money back"])
    assert (await brain.get(container.uow)) is before

    await learnt(brain, container.uow, await revision(container))
    assert "money back" in trainer.utterances("refund")


async def test_a_title_edit_is_served_at_once_without_training(
    container: Container, trainer: Trainer
) -> None:
    marker = await seed(container)
    brain = BotBrain(trainer)
    await brain.get(container.uow)

    await save(container, "hours", "We open at 9.", [f"when are you open {marker}"], title="Opening hours")
    current = await brain.get(container.uow)

    assert current.snapshot.articles["hours"].title == {"en": "Opening hours"}
    assert len(trainer.learnt) == 1


async def test_an_unchanged_base_costs_a_turn_one_row_and_every_edit_is_counted(
    container: Container, trainer: Trainer
) -> None:
    marker = await seed(container)
    brain = BotBrain(trainer)
    await brain.get(container.uow)
    await brain.get(container.uow)  # the first check after training notes the change count
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(container.engine.sync_engine, "before_cursor_execute", record)
    try:
        for _ in range(3):
            await brain.get(container.uow)
        assert statements
        assert not [s for s in statements if "kb_articles" in s], statements
        async with container.uow() as uow:
            before = await knowledge_changes(uow)
        await save(container, "hours", "We open at 10.", [f"when are you open {marker}"])
        async with container.uow() as uow:
            await do_delete_article(uow, "refund")
            await uow.commit()
        async with container.uow() as uow:
            assert await knowledge_changes(uow) == before + 2
        statements.clear()
        served = await brain.get(container.uow)  # the change is seen, the base read again
        assert [s for s in statements if "kb_articles" in s]
    finally:
        event.remove(container.engine.sync_engine, "before_cursor_execute", record)
    assert "refund" not in (await learnt(brain, container.uow, await revision(container))).snapshot.articles
    assert served is not None


async def test_an_edit_is_learnt_before_any_customer_asks(container: Container, trainer: Trainer) -> None:
    marker = await seed(container)
    brain = BotBrain(trainer)
    await brain.get(container.uow)
    await save(container, "refund", "Refunds take 5 days.", [f"how do I get a refund {marker}", "money back"])

    await brain.notice_changes(container.uow)  # what the worker does every few seconds
    for _ in range(1500):  # nobody asks the brain anything meanwhile
        if len(trainer.learnt) == 2:
            break
        await asyncio.sleep(0.02)
    assert "money back" in trainer.utterances("refund")


async def test_noticing_changes_waits_for_no_first_training(container: Container, trainer: Trainer) -> None:
    await seed(container)
    brain = BotBrain(trainer)
    trainer.gate.clear()
    async with asyncio.timeout(5):
        await brain.notice_changes(container.uow)  # the warm-up trains the first classifier
    assert trainer.learnt == []


async def test_after_a_failed_training_noticing_changes_starts_none_for_a_while(
    container: Container, trainer: Trainer
) -> None:
    """A base that cannot be learnt must not be trained again every few seconds."""
    marker = await seed(container)
    brain = BotBrain(trainer)
    before = await brain.get(container.uow)
    trainer.fail = True
    await save(container, "refund", "Refunds take 5 days.", [f"how do I get a refund {marker}", "money back"])
    await brain.notice_changes(container.uow)
    for _ in range(1500):
        if trainer.calls == 2 and not trainer.fail:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)  # the failed training's task finishes
    calls = trainer.calls
    await brain.notice_changes(container.uow)
    await asyncio.sleep(0.2)
    assert trainer.calls == calls
    assert (await brain.get(container.uow)) is before  # a customer's turn still tries, and is served
