"""What the console tells admins about the bot's learning of the knowledge base, from the
trainings processes recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from helpline.domain.bot_learning import (
    ABANDONED_AFTER,
    LearningKind,
    TrainingRecord,
    TrainingState,
    learning_status,
)

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def record(revision: str, state: TrainingState, minutes_ago: float, took: float = 0.5) -> TrainingRecord:
    started = NOW - timedelta(minutes=minutes_ago)
    finished = None if state is TrainingState.LEARNING else started + timedelta(minutes=took)
    return TrainingRecord(revision, state, started, finished)


def test_a_base_never_learnt_is_waiting_with_nothing_to_answer_from() -> None:
    status = learning_status("r1", [], NOW)
    assert (status.kind, status.current, status.answering) == (LearningKind.WAITING, None, None)
    assert not status.settled


def test_a_learnt_revision_is_up_to_date() -> None:
    done = record("r1", TrainingState.LEARNT, 5)
    status = learning_status("r1", [done], NOW)
    assert (status.kind, status.current, status.answering) == (LearningKind.UP_TO_DATE, done, done)
    assert status.settled


def test_while_an_edit_is_learnt_customers_get_the_version_before() -> None:
    before = record("r1", TrainingState.LEARNT, 30)
    running = record("r2", TrainingState.LEARNING, 0.2)
    status = learning_status("r2", [running, before], NOW)
    assert (status.kind, status.current, status.answering) == (LearningKind.LEARNING, running, before)
    assert not status.settled


def test_a_failed_edit_says_so_and_what_customers_still_get() -> None:
    before = record("r1", TrainingState.LEARNT, 30)
    failed = TrainingRecord("r2", TrainingState.FAILED, NOW - timedelta(minutes=1), NOW, error="boom")
    status = learning_status("r2", [before, failed], NOW)
    assert (status.kind, status.current, status.answering) == (LearningKind.FAILED, failed, before)
    assert status.settled


def test_one_process_that_learnt_a_revision_settles_it_whatever_another_recorded() -> None:
    failed = record("r2", TrainingState.FAILED, 3)
    learnt = record("r2", TrainingState.LEARNT, 2)
    assert learning_status("r2", [failed, learnt], NOW).kind is LearningKind.UP_TO_DATE


def test_a_retry_in_progress_comes_before_an_older_failure() -> None:
    failed = record("r2", TrainingState.FAILED, 3)
    retry = record("r2", TrainingState.LEARNING, 0.1)
    assert learning_status("r2", [failed, retry], NOW).kind is LearningKind.LEARNING


def test_a_training_whose_process_died_is_not_shown_as_running_for_ever() -> None:
    abandoned = TrainingRecord("r2", TrainingState.LEARNING, NOW - ABANDONED_AFTER - timedelta(seconds=1))
    assert learning_status("r2", [abandoned], NOW).kind is LearningKind.WAITING


def test_an_edit_back_to_a_learnt_revision_is_up_to_date_again() -> None:
    """Undoing an edit brings back the revision learnt before (the digest is of the content)."""
    first = record("r1", TrainingState.LEARNT, 30)
    second = record("r2", TrainingState.LEARNT, 10)
    status = learning_status("r1", [first, second], NOW)
    assert status.kind is LearningKind.UP_TO_DATE
    assert status.current == first


states = st.sampled_from(list(TrainingState))
records = st.builds(
    lambda revision, state, minutes: record(revision, state, minutes),
    st.sampled_from(["r1", "r2", "r3"]),
    states,
    st.sampled_from([0.0, 1.0, 2.0, 20.0]),  # few values: ties between records are common
)


@given(st.sampled_from(["r1", "r2", "r3"]), st.lists(records, max_size=12))
def test_the_status_agrees_with_the_records(revision: str, found: list[TrainingRecord]) -> None:
    status = learning_status(revision, found, NOW)
    assert status.answering is None or status.answering.state is TrainingState.LEARNT
    assert (status.answering is None) == all(r.state is not TrainingState.LEARNT for r in found)
    mine = [r for r in found if r.revision == revision]
    if any(r.state is TrainingState.LEARNT for r in mine):
        assert status.kind is LearningKind.UP_TO_DATE
    if status.kind is not LearningKind.WAITING:
        assert status.current is not None
        assert status.current.revision == revision
    else:
        assert status.current is None
    assert learning_status(revision, list(reversed(found)), NOW) == status  # order does not matter
