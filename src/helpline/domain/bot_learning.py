"""Whether the bot has learnt the knowledge base as it stands now, as an admin needs to know it.

An edit is learnt in the background (seconds to half a minute on a real base), by whichever
process serves customers; until then customers get the answers of the version before. Without
this, an admin who fixed a wrong answer could not tell when customers start getting the fix,
nor that a change could not be learnt at all. Every training leaves a record (started, then
learnt or failed); the status compares the base's current revision with those records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class TrainingState(StrEnum):
    LEARNING = "learning"
    LEARNT = "learnt"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class TrainingRecord:
    """One training of one revision of the base, as a process recorded it."""

    revision: str
    state: TrainingState
    started_at: datetime
    finished_at: datetime | None = None
    #: Training questions (the base's own, its answers' sentences, stock off-topic ones).
    examples: int | None = None
    #: Held-out share of in-scope questions answered right at the tuned threshold.
    accuracy: float | None = None
    #: Held-out share of out-of-scope questions handed off at that threshold.
    oos_recall: float | None = None
    error: str | None = None


class LearningKind(StrEnum):
    #: The bot answers from the base as it stands.
    UP_TO_DATE = "up_to_date"
    #: The current base is being learnt; customers get the previous version's answers.
    LEARNING = "learning"
    #: The current base could not be learnt; customers get the previous version's answers.
    FAILED = "failed"
    #: Nothing has started on the current base yet (the next check or question starts it).
    WAITING = "waiting"


#: A training recorded as started this long ago and never finished died with its process.
ABANDONED_AFTER = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class LearningStatus:
    kind: LearningKind
    #: The record of the current revision (absent while waiting).
    current: TrainingRecord | None
    #: The newest learnt version: what customers are answered from (may be `current`).
    answering: TrainingRecord | None

    @property
    def settled(self) -> bool:
        """Nothing will change without another edit: a page need not look again."""
        return self.kind in (LearningKind.UP_TO_DATE, LearningKind.FAILED)


def learning_status(revision: str, records: Sequence[TrainingRecord], now: datetime) -> LearningStatus:
    """The status of `revision` (the base now) from the trainings recorded, in any order.

    Several processes may train the same revision: one that learnt it settles it, whatever the
    others recorded; a failure counts only when no process learnt it and none is still at it.
    """
    newest_first = sorted(records, key=_newest, reverse=True)
    learnt = [r for r in newest_first if r.state is TrainingState.LEARNT]
    answering = max(learnt, key=lambda r: (r.finished_at or r.started_at, *_newest(r)), default=None)
    mine = [r for r in newest_first if r.revision == revision]
    done = next((r for r in mine if r.state is TrainingState.LEARNT), None)
    if done is not None:
        return LearningStatus(LearningKind.UP_TO_DATE, done, done)
    running = next(
        (r for r in mine if r.state is TrainingState.LEARNING and now - r.started_at < ABANDONED_AFTER),
        None,
    )
    if running is not None:
        return LearningStatus(LearningKind.LEARNING, running, answering)
    failed = next((r for r in mine if r.state is TrainingState.FAILED), None)
    if failed is not None:
        return LearningStatus(LearningKind.FAILED, failed, answering)
    return LearningStatus(LearningKind.WAITING, None, answering)


def _newest(record: TrainingRecord) -> tuple[datetime, datetime, str, str]:
    """Order of recording, ties broken by content, so the status never depends on row order."""
    return (record.started_at, record.finished_at or record.started_at, record.revision, record.state.value)
