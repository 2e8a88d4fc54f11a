"""The self-service bot at work: runs one turn per customer message the outbox hands it.

It glues the pure flow runtime to what it needs from outside: the knowledge base and a
classifier trained on it (retrained when an admin edits the base), language detection, and
the flow's lookups. A turn that keeps failing hands the conversation to people rather than
leaving the customer without an answer.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

import httpx

from helpline.bot.classifier import FORMAT_VERSION as MODEL_FORMAT
from helpline.bot.classifier import (
    ClassifierSettings,
    IntentClassifier,
    TrainingExample,
    answer_examples,
    resolve_engine,
)
from helpline.bot.lookups import run_lookup
from helpline.bot.text import detect_language
from helpline.domain.conversations import Handler
from helpline.domain.flows.runtime import Decision as GuessDecision
from helpline.domain.flows.runtime import FlowRuntime, IntentGuess, SessionState, Turn
from helpline.flows.loader import flow_from_data
from helpline.logs import get_logger
from helpline.services.bot_sessions import (
    TurnContext,
    do_apply_turn,
    do_end_idle_sessions,
    do_finish_item,
    do_hand_to_agents,
    initial_state,
    load_turn,
)
from helpline.services.knowledge import (
    OOS_INTENT,
    KnowledgeSnapshot,
    TrainingQuestion,
    knowledge_revision,
    knowledge_snapshot,
)
from helpline.storage.uow import UnitOfWork

log = get_logger(__name__)

#: A flow may chain lookups; more than this in one turn is a loop in the flow, not a need.
MAX_LOOKUPS_PER_TURN = 3


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


def train_engine(questions: Sequence[TrainingQuestion], model_dir: Path | None = None) -> IntentEngine:
    """Train the classifier on the knowledge base's questions (out-of-scope ones as `oos`).

    With `model_dir`, a model trained on exactly these questions before is loaded instead of
    trained again (a restart answers at once), and a new one is saved there. A base with fewer
    than two intents cannot be classified: every question is handed off.
    """
    examples = [TrainingExample(q.intent, q.utterance, q.language) for q in questions]
    if len({e.intent for e in examples}) < 2:
        return _HandsEverythingOff()
    path = model_dir / f"intents-{_fingerprint(examples)}.npz" if model_dir is not None else None
    if path is not None and path.exists():
        try:
            return ClassifierEngine(IntentClassifier.load(path))
        except (ValueError, OSError, KeyError):
            log.warning("bot_model_unreadable", path=str(path))  # trained again below
    classifier = IntentClassifier.train(examples, oos_label=OOS_INTENT)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.npz")
        classifier.save(partial)
        partial.replace(path)  # another process never loads half a file
    return ClassifierEngine(classifier)


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


@dataclass
class _Brain:
    revision: str
    snapshot: KnowledgeSnapshot
    engine: IntentEngine


def training_set(snapshot: KnowledgeSnapshot) -> tuple[TrainingQuestion, ...]:
    """The questions of the base, plus each answer (whole and by sentence) as its article's
    example: answers carry the words customers use about a topic (several points of accuracy on
    reworded questions in cross-validation, see bot/README.md)."""
    from_answers = tuple(
        TrainingQuestion(example.intent, example.utterance, language)
        for intent, article in snapshot.articles.items()
        if not article.hands_off
        for language, answer in sorted(article.answer.items())
        for example in answer_examples(intent, answer, language)
    )
    return snapshot.questions + from_answers


class BotBrain:
    """The knowledge base and its trained classifier, rebuilt when the base's revision changes.

    Training runs in a thread: in the one-process setup the web server shares this event loop.
    Trained engines are kept by the questions they learnt from, so an edit that changes only
    an answer or a title (or a second container in the same process) does not train again.
    """

    #: Engines by their training questions, shared by every brain of the process (bounded).
    _trained: ClassVar[dict[tuple[TrainingQuestion, ...], IntentEngine]] = {}
    _KEEP: ClassVar[int] = 4

    def __init__(self, train: TrainEngine) -> None:
        self._train = train
        self._current: _Brain | None = None
        self._lock = asyncio.Lock()

    async def get(self, make_uow: Callable[[], UnitOfWork]) -> _Brain:
        async with make_uow() as uow:
            revision = await knowledge_revision(uow)
            if self._current is not None and self._current.revision == revision:
                return self._current
            snapshot = await knowledge_snapshot(uow)
        async with self._lock:
            if self._current is None or self._current.revision != snapshot.revision:
                training = training_set(snapshot)
                engine = self._trained.get(training)
                if engine is None:
                    engine = await asyncio.to_thread(self._train, training)
                    if len(self._trained) >= self._KEEP:
                        self._trained.pop(next(iter(self._trained)))
                    self._trained[training] = engine
                    log.info("bot_trained", revision=snapshot.revision, questions=len(snapshot.questions))
                self._current = _Brain(snapshot.revision, snapshot, engine)
            return self._current


class BotTurnRunner:
    def __init__(
        self,
        make_uow: Callable[[], UnitOfWork],
        brain: BotBrain,
        detect_language: DetectLanguage,
        http: httpx.AsyncClient,
        *,
        default_language: str = "en",
        phone_region: str = "RU",
    ) -> None:
        self._make_uow = make_uow
        self._brain = brain
        self._detect = detect_language
        self._http = http
        self._default_language = default_language
        self._phone_region = phone_region

    async def run(self, item_id: int) -> None:
        """Answer the customer message behind outbox item `item_id` (claimed by the caller)."""
        async with self._make_uow() as uow:
            ctx = await load_turn(uow, item_id)
        if ctx is None:
            return
        if ctx.handler != Handler.BOT or ctx.flow_data is None:
            async with self._make_uow() as uow:
                if ctx.handler == Handler.BOT:  # the flow was deleted under it: people take over
                    await do_hand_to_agents(uow, ctx.conversation_id, "the conversation's flow is gone")
                await do_finish_item(uow, item_id)
                await uow.commit()
            return
        brain = await self._brain.get(self._make_uow)
        runtime = FlowRuntime(
            flow_from_data(ctx.flow_data), brain.snapshot.articles, phone_region=self._phone_region
        )
        previous = initial_state(ctx)
        language = self._detect(ctx.text) or (
            previous.language if previous else ctx.conversation_language or self._default_language
        )
        turns = [self._first_turn(runtime, brain.engine, ctx, previous, language)]
        while turns[-1].lookup is not None and len(turns) <= MAX_LOOKUPS_PER_TURN:
            turns.append(await self._resume_lookup(runtime, turns[-1]))
        async with self._make_uow() as uow:
            await do_apply_turn(uow, ctx, turns, language)
            await uow.commit()

    async def give_up(self, item_id: int, reason: str) -> None:
        """The turn failed for good: the customer goes to people, the item is recorded as failed."""
        async with self._make_uow() as uow:
            ctx = await load_turn(uow, item_id)
            if ctx is not None:
                await do_hand_to_agents(uow, ctx.conversation_id, "the bot failed to answer")
            await do_finish_item(uow, item_id, error=reason)
            await uow.commit()

    async def warm_up(self) -> None:
        """Train (or load) the classifier before the first customer needs it."""
        try:
            await self._brain.get(self._make_uow)
        except Exception:  # the first turn will try again and report properly
            log.exception("bot_warm_up_failed")

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
        state = previous if previous is not None else runtime.start(language).state
        guess = engine.guess(text) if text.strip() and runtime.needs_intent(state, text) else None
        if previous is None and (
            not text.strip() or (guess is not None and guess.decision is GuessDecision.HANDOFF)
        ):
            # A new session: "hi", an attachment, or a question the bot is unsure of is greeted
            # with the menu rather than handed off unseen; a known question is answered at once.
            return runtime.start(language)
        return runtime.handle(state, text, language, guess)

    async def _resume_lookup(self, runtime: FlowRuntime, turn: Turn) -> Turn:
        assert turn.lookup is not None
        endpoint = runtime.flow.lookups.get(turn.lookup.name)
        if endpoint is None:
            return runtime.resume_lookup(turn.state, None, failed=True)
        result = await run_lookup(self._http, endpoint, turn.lookup.fields)
        resumed = runtime.resume_lookup(turn.state, result.answer, failed=result.failed)
        return resumed
