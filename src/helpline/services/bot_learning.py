"""Trainings of the bot in storage: each process that learns a revision of the knowledge base
records it, so the console (maybe another process) can tell admins what customers get."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, update

from helpline.domain.bot_learning import LearningStatus, TrainingRecord, TrainingState, learning_status
from helpline.services.knowledge import knowledge_changes, knowledge_snapshot
from helpline.storage.models import BotTraining
from helpline.storage.uow import UnitOfWork

#: Trainings kept: enough for every process's latest ones; older rows are deleted as new start.
KEEP_TRAININGS = 200
#: A failure's text is shown to admins; a long traceback-like message is cut.
MAX_ERROR_LENGTH = 500


@dataclass(frozen=True, slots=True)
class LearntFigures:
    examples: int
    #: Held-out figures of the tuning (None when the model had nothing to tune on).
    accuracy: float | None = None
    oos_recall: float | None = None


async def do_record_training_started(
    uow: UnitOfWork, revision: str, learnt: LearntFigures | None = None
) -> int:
    """A training of `revision` begins; with `learnt`, it is over already (an engine trained on the
    same questions before served it: only titles changed)."""
    row = BotTraining(revision=revision, state=TrainingState.LEARNING.value, started_at=uow.now())
    if learnt is not None:
        row.state, row.finished_at = TrainingState.LEARNT.value, row.started_at
        row.examples, row.accuracy, row.oos_recall = learnt.examples, learnt.accuracy, learnt.oos_recall
    uow.session.add(row)
    await uow.session.flush()
    await uow.session.execute(delete(BotTraining).where(BotTraining.id <= row.id - KEEP_TRAININGS))
    return row.id


async def do_record_training_learnt(uow: UnitOfWork, training_id: int, figures: LearntFigures) -> None:
    await uow.session.execute(
        update(BotTraining)
        .where(BotTraining.id == training_id)
        .values(
            state=TrainingState.LEARNT.value,
            finished_at=uow.now(),
            examples=figures.examples,
            accuracy=figures.accuracy,
            oos_recall=figures.oos_recall,
        )
    )


async def do_record_training_failed(uow: UnitOfWork, training_id: int, error: str) -> None:
    await uow.session.execute(
        update(BotTraining)
        .where(BotTraining.id == training_id)
        .values(state=TrainingState.FAILED.value, finished_at=uow.now(), error=error[:MAX_ERROR_LENGTH])
    )


@dataclass
class RevisionCache:
    """The base's revision by its change count, for one database: the console asks every few
    seconds per open page, and the revision is a digest of the whole base (half a second for two
    thousand articles), while the count is one row. Kept per container, never per process: two
    databases (or one emptied and filled again) may reach the same count with other contents."""

    changes: int | None = None
    revision: str = ""


async def base_revision(uow: UnitOfWork, cache: RevisionCache) -> str:
    changes = await knowledge_changes(uow)  # read first: an edit after it moves it again
    if changes != cache.changes:
        cache.revision = (await knowledge_snapshot(uow)).revision
        cache.changes = changes
    return cache.revision


async def bot_learning_status(uow: UnitOfWork, cache: RevisionCache | None = None) -> LearningStatus:
    """The status of the base as it stands in this transaction."""
    revision = await base_revision(uow, cache or RevisionCache())
    newest = select(BotTraining).order_by(BotTraining.id.desc()).limit(KEEP_TRAININGS)
    rows = await uow.session.scalars(newest)
    records = [
        TrainingRecord(
            revision=row.revision,
            state=TrainingState(row.state),
            started_at=row.started_at,
            finished_at=row.finished_at,
            examples=row.examples,
            accuracy=row.accuracy,
            oos_recall=row.oos_recall,
            error=row.error,
        )
        for row in rows
    ]
    return learning_status(revision, records, uow.now())
