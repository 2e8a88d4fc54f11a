"""The bot learns every edit of the knowledge base, whatever the timing of the edits' commits,
and keeps answering while it learns. Real SQLite and PostgreSQL, real classifier (tiny bases).
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text

from helpline.bootstrap import Container, build_container
from helpline.bot.faq_bot import BotBrain, IntentEngine, train_engine
from helpline.domain.bot_learning import LearningKind, LearningStatus
from helpline.services.bot_learning import bot_learning_status
from helpline.services.knowledge import (
    TrainingQuestion,
    do_delete_article,
    do_save_article,
    knowledge_changes,
    knowledge_snapshot,
)
from helpline.storage.db import to_sync_url
from helpline.storage.models import BotTraining
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
        self.brains: list[BotBrain] = []

    def __call__(self, questions: Sequence[TrainingQuestion]) -> IntentEngine:
        self.calls += 1
        assert self.gate.wait(timeout=60)
        if self.fail:
            self.fail = False
            raise RuntimeError("training failed")
        self.learnt.append(tuple(questions))
        return train_engine(questions)

    def brain(self) -> BotBrain:
        """A brain learning with this trainer, stopped before the test's database is closed."""
        self.brains.append(BotBrain(self))
        return self.brains[-1]

    def utterances(self, intent: str) -> set[str]:
        return {q.utterance for q in self.learnt[-1] if q.intent == intent}


@pytest.fixture
async def trainer() -> AsyncIterator[Trainer]:
    """Requested after the test's container: stops its brains before the container closes."""
    t = Trainer()
    yield t
    t.gate.set()  # a test that failed with the gate closed must not leave the thread waiting
    for brain in t.brains:
        await brain.stop()


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


def same_classifier(served: Any, before: Any) -> bool:
    """Served by the classifier `before` was (the articles are read afresh, they need no training)."""
    return bool(served.engine is before.engine and served.revision == before.revision)


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
        brain = trainer.brain()
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
    brain = trainer.brain()
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
    brain = trainer.brain()
    before = await brain.get(container.uow)

    trainer.gate.clear()  # the new questions take long to learn
    await save(container, "refund", "Refunds take 5 days.", [f"how do I get a refund {marker}", "money back"])
    await save(container, "parking", "Behind the office.", [f"where to park {marker}"])
    async with asyncio.timeout(5):
        during = await asyncio.gather(*(brain.get(container.uow) for _ in range(3)))
    assert all(same_classifier(b, before) for b in during)
    # An answer needs no training: a flow's button for the new article answers it at once.
    assert all(b.snapshot.articles["parking"].answer == {"en": "Behind the office."} for b in during)

    trainer.gate.set()
    after = await learnt(brain, container.uow, await revision(container))
    assert "money back" in trainer.utterances("refund")
    assert "money back" in {q.utterance for q in after.snapshot.questions}


async def test_the_first_classifier_is_waited_for(container: Container, trainer: Trainer) -> None:
    await seed(container)
    brain = trainer.brain()
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
    brain = trainer.brain()
    before = await brain.get(container.uow)

    trainer.fail = True
    await save(container, "refund", "Refunds take 5 days.", [f"how do I get a refund {marker}", "money back"])
    assert same_classifier(await brain.get(container.uow), before)

    await learnt(brain, container.uow, await revision(container))
    assert "money back" in trainer.utterances("refund")


async def test_a_title_edit_is_served_at_once_without_training(
    container: Container, trainer: Trainer
) -> None:
    marker = await seed(container)
    brain = trainer.brain()
    await brain.get(container.uow)

    await save(container, "hours", "We open at 9.", [f"when are you open {marker}"], title="Opening hours")
    current = await brain.get(container.uow)

    assert current.snapshot.articles["hours"].title == {"en": "Opening hours"}
    assert len(trainer.learnt) == 1


async def test_an_unchanged_base_costs_a_turn_one_row_and_every_edit_is_counted(
    container: Container, trainer: Trainer
) -> None:
    marker = await seed(container)
    brain = trainer.brain()
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
    brain = trainer.brain()
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
    brain = trainer.brain()
    trainer.gate.clear()
    async with asyncio.timeout(5):
        await brain.notice_changes(container.uow)  # the warm-up trains the first classifier
    assert trainer.learnt == []


async def test_after_a_failed_training_noticing_changes_starts_none_for_a_while(
    container: Container, trainer: Trainer
) -> None:
    """A base that cannot be learnt must not be trained again every few seconds."""
    marker = await seed(container)
    brain = trainer.brain()
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
    assert same_classifier(await brain.get(container.uow), before)  # a customer's turn tries, is served


async def status(c: Container) -> LearningStatus:
    async with c.uow() as uow:
        return await bot_learning_status(uow)


async def status_once(c: Container, kind: LearningKind) -> LearningStatus:
    """The console's status once it is `kind` (a training records itself in the background)."""
    for _ in range(1500):
        found = await status(c)
        if found.kind is kind:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"the status never became {kind}: {found}")


async def test_each_training_is_recorded_for_the_console(container: Container, trainer: Trainer) -> None:
    marker = await seed(container)
    brain = trainer.brain()
    assert (await status(container)).kind is LearningKind.WAITING
    await brain.get(container.uow)
    first = await status(container)
    assert first.kind is LearningKind.UP_TO_DATE
    assert first.current is not None
    assert first.current.examples == len(trainer.learnt[-1])

    trainer.gate.clear()
    await save(container, "refund", "Refunds take 5 days.", [f"how do I get a refund {marker}", "money back"])
    await brain.notice_changes(container.uow)
    during = await status_once(container, LearningKind.LEARNING)
    assert during.answering == first.current  # customers still get the first version

    trainer.gate.set()
    await learnt(brain, container.uow, await revision(container))
    after = await status(container)
    assert after.kind is LearningKind.UP_TO_DATE
    assert after.current is not None
    assert after.current.finished_at is not None
    assert after.current.started_at >= first.current.started_at


async def test_a_failed_training_is_recorded_with_its_reason(container: Container, trainer: Trainer) -> None:
    marker = await seed(container)
    brain = trainer.brain()
    before = await brain.get(container.uow)
    trainer.fail = True
    await save(container, "refund", "Refunds take 5 days.", [f"how do I get a refund {marker}", "refund pls"])
    await brain.notice_changes(container.uow)
    found = await status_once(container, LearningKind.FAILED)
    assert found.current is not None
    assert found.current.error == "RuntimeError: training failed"
    assert found.answering is not None
    assert found.answering.revision == before.revision


async def test_a_title_edit_is_recorded_as_learnt_at_once(container: Container, trainer: Trainer) -> None:
    marker = await seed(container)
    brain = trainer.brain()
    await brain.get(container.uow)
    await save(container, "hours", "We open at 9.", [f"when are you open {marker}"], title="Opening hours")
    await brain.get(container.uow)
    assert (await status(container)).kind is LearningKind.UP_TO_DATE
    assert trainer.calls == 1


async def test_a_training_that_cannot_be_recorded_still_serves_customers(
    container: Container, trainer: Trainer
) -> None:
    """The records are for the console: a database refusing them costs customers nothing."""
    await seed(container)
    async with container.uow() as uow:
        await uow.session.execute(text("DROP TABLE bot_trainings"))
        await uow.commit()
    try:
        brain = trainer.brain()
        served = await brain.get(container.uow)
        assert served.revision == await revision(container)
    finally:
        async with container.uow() as uow:
            await uow.session.run_sync(lambda s: BotTraining.__table__.create(s.connection()))
            await uow.commit()
