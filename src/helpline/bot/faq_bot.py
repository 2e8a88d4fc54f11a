"""The self-service bot at work: runs one turn per customer message the outbox hands it.

It glues the pure flow runtime to what it needs from outside: the knowledge base and a
classifier trained on it (retrained when an admin edits the base), language detection, and
the flow's lookups. A turn that keeps failing hands the conversation to people rather than
leaving the customer without an answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

from helpline.bot.classifier import FORMAT_VERSION as MODEL_FORMAT
from helpline.bot.classifier import (
    ClassifierSettings,
    IntentClassifier,
    TrainingExample,
    TrainingReport,
    answer_examples,
    resolve_engine,
)
from helpline.bot.lookup_client import LookupClient
from helpline.bot.lookups import run_lookup
from helpline.bot.off_topic import everyday_off_topic
from helpline.bot.text import detect_language, has_letters, reply_language
from helpline.domain.conversations import Channel, Handler
from helpline.domain.flows.runtime import Decision as GuessDecision
from helpline.domain.flows.runtime import (
    FlowRuntime,
    HandoffReason,
    IntentGuess,
    Outcome,
    SessionState,
    Turn,
    says_hello,
)
from helpline.flows.loader import flow_from_data
from helpline.logs import get_logger, scrub_text
from helpline.services.bot_learning import (
    LearntFigures,
    do_record_training_failed,
    do_record_training_learnt,
    do_record_training_started,
)
from helpline.services.bot_sessions import (
    TurnContext,
    do_apply_turn,
    do_courtesy_reply,
    do_end_idle_sessions,
    do_finish_item,
    do_hand_to_agents,
    initial_state,
    load_turn,
    thanks_after_goodbye,
)
from helpline.services.knowledge import (
    OOS_INTENT,
    KnowledgeSnapshot,
    TrainingQuestion,
    knowledge_changes,
    knowledge_snapshot,
)
from helpline.storage.uow import UnitOfWork

log = get_logger(__name__)

T = TypeVar("T")

#: A flow may chain lookups; more than this in one turn is a loop in the flow, not a need.
MAX_LOOKUPS_PER_TURN = 3

#: Saved models kept in the model folder (each edit of the base adds one of ~1.7 MB): the newest
#: few, so an edit undone, or a process still on the previous base, loads rather than trains.
KEEP_MODELS = 3
#: A half-written model older than this was left by a process that died while saving it
#: (saving takes about a second).
ABANDONED_PARTIAL_SECONDS = 3600.0
_PARTIAL_SUFFIX = ".partial"


class IntentEngine(Protocol):
    """A classifier trained on the knowledge base: its verdict on one message."""

    def guess(self, text: str) -> IntentGuess: ...


TrainEngine = Callable[[Sequence[TrainingQuestion]], IntentEngine]
DetectLanguage = Callable[[str], str | None]


class ClassifierEngine:
    """The product's classifier (bot.classifier) behind the runtime's IntentGuess."""

    def __init__(self, classifier: IntentClassifier) -> None:
        self._classifier = classifier

    def guess(self, text: str) -> IntentGuess:
        prediction = self._classifier.predict(text)
        return IntentGuess(prediction.decision, tuple(s.intent for s in prediction.intents))

    @property
    def report(self) -> TrainingReport | None:
        return self._classifier.report


def learnt_figures(engine: IntentEngine, questions: Sequence[TrainingQuestion]) -> LearntFigures:
    """What the console shows of a training: its size, and its held-out quality when tuned."""
    report = engine.report if isinstance(engine, ClassifierEngine) else None
    if report is None:
        return LearntFigures(examples=len(questions))
    return LearntFigures(len(questions), report.tuning_accuracy, report.tuning_oos_recall)


def train_engine(questions: Sequence[TrainingQuestion], model_dir: Path | None = None) -> IntentEngine:
    """Train the classifier on the knowledge base's questions (out-of-scope ones as `oos`).

    With `model_dir`, a model trained on exactly these questions before is loaded instead of
    trained again (a restart answers at once), and a new one is saved there. The folder is a
    cache: a model that cannot be read, or cannot be saved, costs a training, never a turn.
    A base with fewer than two intents cannot be classified: every question is handed off.
    """
    examples = [TrainingExample(q.intent, q.utterance, q.language) for q in questions]
    if len({e.intent for e in examples}) < 2:
        return _HandsEverythingOff()
    path = model_dir / f"intents-{_fingerprint(examples)}.npz" if model_dir is not None else None
    if path is not None:
        saved = _load_model(path)
        if saved is not None:
            return ClassifierEngine(saved)
    classifier = IntentClassifier.train(examples, oos_label=OOS_INTENT)
    if path is not None:
        _keep_model(classifier, path)
    return ClassifierEngine(classifier)


def _keep_model(classifier: IntentClassifier, path: Path) -> None:
    """Save the model for the next start, then drop the older ones; a full or read-only disk
    is logged, not raised: the model in memory answers all the same."""
    try:
        _save_model(classifier, path)
    except OSError as error:
        log.warning("bot_model_not_saved", path=str(path), error=repr(error))
        return
    try:
        _prune_models(path)
    except OSError as error:
        log.warning("bot_models_not_pruned", folder=str(path.parent), error=repr(error))


def _load_model(path: Path) -> IntentClassifier | None:
    """The model saved at `path`, or None when there is none usable.

    Any failure counts as unusable (an empty or cut file, another version's format or
    settings): the file's name depends only on the questions, so a bad file left in place
    would fail every later turn the same way. It is deleted and the caller trains again.
    """
    try:
        classifier = IntentClassifier.load(path)
    except FileNotFoundError:
        return None
    except Exception as error:
        log.warning("bot_model_unreadable", path=str(path), error=repr(error))
        with contextlib.suppress(OSError):  # then saving over it fails too, and says so
            path.unlink(missing_ok=True)
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # in use: the newest are the ones kept
    return classifier


def _save_model(classifier: IntentClassifier, path: Path) -> None:
    """Write the model under a name of its own, on disk, then rename it into place.

    Another process never reads half a file, two processes saving the same model each rename
    a whole one, and a power cut after the rename cannot leave a cut file under the final name.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=_PARTIAL_SUFFIX, dir=path.parent)
    os.close(fd)
    partial = Path(name)
    try:
        classifier.save(partial)
        with partial.open("r+b") as handle:  # save() closed (so flushed) its own handle
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX only; elsewhere a lost rename costs a training)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _prune_models(kept: Path) -> None:
    """Delete all but the newest KEEP_MODELS models beside `kept`, and abandoned partial files.

    Other processes save, load and prune in the same folder at the same time: a file that
    vanishes meanwhile is simply skipped.
    """
    folder = kept.parent
    models: list[tuple[float, Path]] = []
    for candidate in folder.glob("intents-*.npz"):
        if candidate != kept:
            try:
                models.append((candidate.stat().st_mtime, candidate))
            except FileNotFoundError:
                continue
    models.sort(reverse=True)
    for _, old in models[KEEP_MODELS - 1 :]:
        old.unlink(missing_ok=True)
    now = time.time()
    for partial in folder.glob(f".intents-*{_PARTIAL_SUFFIX}"):
        try:
            abandoned = now - partial.stat().st_mtime > ABANDONED_PARTIAL_SECONDS
        except FileNotFoundError:
            continue
        if abandoned:
            partial.unlink(missing_ok=True)


def _fingerprint(examples: Sequence[TrainingExample]) -> str:
    digest = hashlib.sha256(f"{MODEL_FORMAT}:{resolve_engine(ClassifierSettings().engine)}".encode())
    for e in examples:
        digest.update(json.dumps([e.intent, e.utterance, e.lang, e.weight], ensure_ascii=False).encode())
    return digest.hexdigest()[:24]


def trainer(model_dir: Path | None) -> TrainEngine:
    return lambda questions: train_engine(questions, model_dir)


class _HandsEverythingOff:
    def guess(self, text: str) -> IntentGuess:
        return IntentGuess(GuessDecision.HANDOFF, ())


def detect_message_language(text: str) -> str | None:
    return detect_language(text)


@dataclass(frozen=True)
class _Brain:
    revision: str
    snapshot: KnowledgeSnapshot
    engine: IntentEngine


def training_set(snapshot: KnowledgeSnapshot) -> tuple[TrainingQuestion, ...]:
    """The questions of the base, plus each answer (whole and by sentence) as its article's
    example: answers carry the words customers use about a topic (several points of accuracy on
    reworded questions in cross-validation, see bot/README.md). A base without out-of-scope
    questions of its own learns the stock everyday ones (see off_topic.py)."""
    from_answers = tuple(
        TrainingQuestion(example.intent, example.utterance, language)
        for intent, article in snapshot.articles.items()
        if not article.hands_off
        for language, answer in sorted(article.answer.items())
        for example in answer_examples(intent, answer, language)
    )
    has_own_off_topic = any(q.intent == OOS_INTENT for q in snapshot.questions)
    return snapshot.questions + from_answers + (() if has_own_off_topic else everyday_off_topic())


class BotBrain:
    """The knowledge base and its trained classifier, rebuilt when the base's revision changes.

    Training runs in a thread: in the one-process setup the web server shares this event loop.
    It takes up to half a minute on a real base, so while a new revision trains, turns keep
    being answered with the classifier of the revision before it (and the base's articles as
    they are now); only the first classifier of the process is waited for. One training runs at
    a time; an edit made during it is trained next. Trained engines are kept by the questions
    they learnt from, so an edit that changes only a title (or a second container in the same
    process) does not train again.
    """

    #: Engines by their training questions, shared by every brain of the process (bounded).
    _trained: ClassVar[dict[tuple[TrainingQuestion, ...], IntentEngine]] = {}
    _KEEP: ClassVar[int] = 4

    #: Seconds `notice_changes` waits after a failed training before it starts another.
    QUIET_AFTER_FAILURE = 300.0

    def __init__(self, train: TrainEngine) -> None:
        self._train = train
        self._current: _Brain | None = None
        self._training: asyncio.Task[_Brain] | None = None
        #: The base's change count when `_current` was last found up to date (None: never).
        self._checked_changes: int | None = None
        #: Until when `notice_changes` starts no training (monotonic; a training failed).
        self._quiet_until = 0.0

    async def get(self, make_uow: Callable[[], UnitOfWork]) -> _Brain:
        async with make_uow() as uow:
            changes = await knowledge_changes(uow)
            current = self._current
            if current is not None and changes == self._checked_changes:
                return current  # one row read: the usual turn
            snapshot = await knowledge_snapshot(uow)
        if current is not None and current.revision == snapshot.revision:
            self._checked_changes = changes
            return current
        questions = training_set(snapshot)
        engine = self._trained.get(questions)
        if engine is not None:
            # Only titles (or nothing the classifier reads) changed: learnt at once.
            self._current = _Brain(snapshot.revision, snapshot, engine)
            self._checked_changes = changes
            await _TrainingRecord(make_uow).started(snapshot.revision, learnt_figures(engine, questions))
            return self._current
        if self._training is None:
            self._training = asyncio.create_task(self._learn(snapshot, make_uow))
            self._training.add_done_callback(_report_training)
        if current is not None:
            # The classifier is the last one learnt, but the articles are the base's own now:
            # an answer needs no training, and an article just written for a flow's button was
            # "not in the knowledge base" (a hand-off) until the classifier had learnt it.
            return _Brain(current.revision, snapshot, current.engine)
        # Shielded: a waiting turn that is cancelled must not cancel the others' training.
        return await asyncio.shield(self._training)

    async def notice_changes(self, make_uow: Callable[[], UnitOfWork]) -> None:
        """Start learning an edited base now, not at the next customer's question, so that
        customer already gets the new answers. Waits for no training: before the first
        classifier exists, the warm-up is training it. After a failed training, nothing is
        started here for a while (customers' turns still try), or a base that cannot be learnt
        would be trained again every few seconds."""
        if self._current is not None and time.monotonic() >= self._quiet_until:
            await self.get(make_uow)

    async def stop(self) -> None:
        """Before the database is closed: a training still running would record its end on a
        closed pool. Its thread cannot be stopped; its result is dropped."""
        if (training := self._training) is not None:
            training.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await training

    async def _learn(self, snapshot: KnowledgeSnapshot, make_uow: Callable[[], UnitOfWork]) -> _Brain:
        record = _TrainingRecord(make_uow)
        try:
            await record.started(snapshot.revision)
            training = training_set(snapshot)
            try:
                engine = await asyncio.to_thread(self._train, training)
            except Exception as error:
                await record.failed(scrub_text(f"{type(error).__name__}: {error}"))
                raise
            if len(self._trained) >= self._KEEP:
                self._trained.pop(next(iter(self._trained)))
            self._trained[training] = engine
            log.info("bot_trained", revision=snapshot.revision, questions=len(snapshot.questions))
            # Recorded first: whoever sees the new answers finds the record written.
            await record.learnt(learnt_figures(engine, training))
            self._current = _Brain(snapshot.revision, snapshot, engine)
            return self._current
        except Exception:
            self._quiet_until = time.monotonic() + self.QUIET_AFTER_FAILURE
            raise
        finally:
            self._training = None


class _TrainingRecord:
    """One training's progress, recorded for the console. A failure to record is logged, never
    raised: customers' answers do not depend on it (nor is a training recorded in part)."""

    def __init__(self, make_uow: Callable[[], UnitOfWork]) -> None:
        self._make_uow = make_uow
        self._id: int | None = None

    async def started(self, revision: str, learnt: LearntFigures | None = None) -> None:
        self._id = await self._write(lambda uow: do_record_training_started(uow, revision, learnt))

    async def learnt(self, figures: LearntFigures) -> None:
        if (training_id := self._id) is not None:
            await self._write(lambda uow: do_record_training_learnt(uow, training_id, figures))

    async def failed(self, reason: str) -> None:
        if (training_id := self._id) is not None:
            await self._write(lambda uow: do_record_training_failed(uow, training_id, reason))

    async def _write(self, write: Callable[[UnitOfWork], Awaitable[T]]) -> T | None:
        try:
            async with self._make_uow() as uow:
                result = await write(uow)
                await uow.commit()
                return result
        except Exception:
            log.exception("bot_training_not_recorded")
            return None


def _report_training(task: asyncio.Task[_Brain]) -> None:
    """Log a failed training: one running in the background has nobody else to tell (the
    next turn that finds the base changed starts another)."""
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("bot_training_failed", error=repr(error))


#: Flow runtimes a turn runner keeps: a few versions (channels may run different ones) over the
#: current knowledge-base revision and the one before it.
KEPT_RUNTIMES = 8


class BotTurnRunner:
    def __init__(
        self,
        make_uow: Callable[[], UnitOfWork],
        brain: BotBrain,
        detect_language: DetectLanguage,
        lookups: LookupClient,
        *,
        default_language: str = "en",
        phone_region: str = "RU",
    ) -> None:
        self._make_uow = make_uow
        self._brain = brain
        self._detect = detect_language
        self._lookups = lookups
        self._default_language = default_language
        self._phone_region = phone_region
        #: Runtimes by (flow version, knowledge-base revision), the newest few.
        self._runtimes: dict[tuple[int | None, str], FlowRuntime] = {}

    async def run(self, item_id: int) -> None:
        """Answer the customer message behind outbox item `item_id` (claimed by the caller)."""
        async with self._make_uow() as uow:
            ctx = await load_turn(uow, item_id)
        if ctx is None:
            return
        if ctx.handler != Handler.BOT or ctx.flow_data is None:
            async with self._make_uow() as uow:
                if ctx.handler == Handler.BOT:  # the flow was deleted under it: people take over
                    await do_hand_to_agents(uow, ctx.conversation_id, HandoffReason.FLOW_GONE)
                await do_finish_item(uow, item_id)
                await uow.commit()
            return
        brain = await self._brain.get(self._make_uow)
        runtime = self._runtime(ctx.flow_version_id, ctx.flow_data, brain.snapshot)
        previous = initial_state(ctx)
        # What the session, else the customer's card, has been in (the default is no evidence).
        known = previous.language if previous else ctx.conversation_language
        detected = self._detect(ctx.text)
        language = reply_language(ctx.text, detected, known) or self._default_language
        if language != detected:
            detected = None  # too weak to be the customer's language (a bare "ok" on a Russian page)
        if previous is None and (reply := runtime.courtesy(ctx.text, language)) is not None:
            async with self._make_uow() as uow:
                if thanks_after_goodbye(ctx, uow.now()):
                    await do_courtesy_reply(uow, ctx, reply)
                    await uow.commit()
                    return
        turns = [self._first_turn(runtime, brain.engine, ctx, previous, language)]
        while turns[-1].lookup is not None and len(turns) <= MAX_LOOKUPS_PER_TURN:
            turns.append(await self._resume_lookup(runtime, turns[-1]))
        async with self._make_uow() as uow:
            await do_apply_turn(uow, ctx, turns, language, detected=detected, unstaffed=runtime.unstaffed)
            await uow.commit()

    def _runtime(
        self, version_id: int | None, data: Mapping[str, Any], snapshot: KnowledgeSnapshot
    ) -> FlowRuntime:
        """The runtime of a flow version over a revision of the knowledge base. Neither ever
        changes, so it is built once, not on every turn: parsing the flow and indexing its labels
        (for buttons of earlier menus) took about 0.3 ms of each turn on the demo flow."""
        key = (version_id, snapshot.revision)
        runtime = self._runtimes.get(key)
        if runtime is None:
            if len(self._runtimes) >= KEPT_RUNTIMES:
                del self._runtimes[next(iter(self._runtimes))]  # the oldest
            runtime = FlowRuntime(flow_from_data(data), snapshot.articles, phone_region=self._phone_region)
            self._runtimes[key] = runtime
        return runtime

    async def give_up(self, item_id: int, reason: str) -> None:
        """The turn failed for good: the customer goes to people, the item is recorded as failed."""
        async with self._make_uow() as uow:
            ctx = await load_turn(uow, item_id)
            if ctx is not None:
                await do_hand_to_agents(uow, ctx.conversation_id, HandoffReason.BOT_FAILED)
            await do_finish_item(uow, item_id, error=reason)
            await uow.commit()

    async def warm_up(self) -> None:
        """Train (or load) the classifier before the first customer needs it."""
        try:
            await self._brain.get(self._make_uow)
        except Exception:  # the first turn will try again and report properly
            log.exception("bot_warm_up_failed")

    async def notice_knowledge_changes(self) -> None:
        await self._brain.notice_changes(self._make_uow)

    async def end_idle_sessions(self) -> int:
        async with self._make_uow() as uow:
            ended = await do_end_idle_sessions(uow)
            await uow.commit()
        return ended

    def _first_turn(
        self,
        runtime: FlowRuntime,
        engine: IntentEngine,
        ctx: TurnContext,
        previous: SessionState | None,
        language: str,
    ) -> Turn:
        text = ctx.text
        if (
            previous is None
            and ctx.last_outcome == Outcome.ABANDONED.value
            and runtime.answers_a_stale_menu(text, ctx.last_node, ctx.last_awaiting)
        ):
            return runtime.start(language)
        state = previous if previous is not None else runtime.start(language).state
        guess = engine.guess(text) if text.strip() and runtime.needs_intent(state, text) else None
        if previous is None and (
            not text.strip() or (guess is not None and guess.decision is GuessDecision.HANDOFF)
        ):
            # A new session: "hi", an attachment, or a question the bot is unsure of is greeted
            # with the menu rather than handed off unseen; a known question is answered at once.
            # The web chat greeted on opening: a question there is told it was not understood.
            if ctx.channel == Channel.WEBCHAT.value and has_letters(text) and not says_hello(text):
                return runtime.start_unclear(language)
            return runtime.start(language)
        return runtime.handle(state, text, language, guess)

    async def _resume_lookup(self, runtime: FlowRuntime, turn: Turn) -> Turn:
        assert turn.lookup is not None
        endpoint = runtime.flow.lookups.get(turn.lookup.name)
        if endpoint is None:
            return runtime.resume_lookup(turn.state, None, failed=True)
        result = await run_lookup(self._lookups, endpoint, turn.lookup.fields)
        resumed = runtime.resume_lookup(turn.state, result.answer, failed=result.failed)
        return resumed
