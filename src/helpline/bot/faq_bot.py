"""The self-service bot at work: runs one turn per customer message the outbox hands it.

It glues the pure flow runtime to what it needs from outside: the knowledge base and a
classifier trained on it (retrained when an admin edits the base), language detection, and
the flow's lookups. A turn that keeps failing hands the conversation to people rather than
leaving the customer without an answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx

from helpline.bot.lookups import run_lookup
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
from helpline.services.inbound import HANDLER_BOT
from helpline.services.knowledge import (
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


@dataclass
class _Brain:
    revision: str
    snapshot: KnowledgeSnapshot
    engine: IntentEngine


class BotBrain:
    """The knowledge base and its trained classifier, rebuilt when the base's revision changes.

    Training runs in a thread: in the one-process setup the web server shares this event loop.
    """

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
                engine = await asyncio.to_thread(self._train, snapshot.questions)
                self._current = _Brain(snapshot.revision, snapshot, engine)
                log.info("bot_trained", revision=snapshot.revision, questions=len(snapshot.questions))
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
    ) -> None:
        self._make_uow = make_uow
        self._brain = brain
        self._detect = detect_language
        self._http = http
        self._default_language = default_language

    async def run(self, item_id: int) -> None:
        """Answer the customer message behind outbox item `item_id` (claimed by the caller)."""
        async with self._make_uow() as uow:
            ctx = await load_turn(uow, item_id)
        if ctx is None:
            return
        if ctx.handler != HANDLER_BOT or ctx.flow_data is None:
            async with self._make_uow() as uow:
                if ctx.handler == HANDLER_BOT:  # the flow was deleted under it: people take over
                    await do_hand_to_agents(uow, ctx.conversation_id, "the conversation's flow is gone")
                await do_finish_item(uow, item_id)
                await uow.commit()
            return
        brain = await self._brain.get(self._make_uow)
        runtime = FlowRuntime(flow_from_data(ctx.flow_data), brain.snapshot.articles)
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
        if previous is None:
            # A new session: a question the bot knows is answered at once, anything else
            # ("hi", a question it is unsure of) is greeted with the menu, never handed off unseen.
            greeting = runtime.start(language)
            if not text.strip() or not runtime.needs_intent(greeting.state, text):
                return runtime.handle(greeting.state, text, language) if text.strip() else greeting
            guess = engine.guess(text)
            if guess.decision.value == "handoff":
                return greeting
            return runtime.handle(greeting.state, text, language, guess)
        later_guess = engine.guess(text) if runtime.needs_intent(previous, text) else None
        return runtime.handle(previous, text, language, later_guess)

    async def _resume_lookup(self, runtime: FlowRuntime, turn: Turn) -> Turn:
        assert turn.lookup is not None
        endpoint = runtime.flow.lookups.get(turn.lookup.name)
        if endpoint is None:
            return runtime.resume_lookup(turn.state, None, failed=True)
        result = await run_lookup(self._http, endpoint, turn.lookup.fields)
        resumed = runtime.resume_lookup(turn.state, result.answer, failed=result.failed)
        return resumed
