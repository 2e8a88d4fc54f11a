"""The one place that picks concrete adapters and wires them together.

Nothing is created at import time: `build_container` is called by the CLI, the tests and
the benchmarks, each with its own settings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from helpline.bot.faq_bot import BotBrain, BotTurnRunner, detect_message_language, trainer
from helpline.bot.lookup_client import LookupClient
from helpline.bot.lookup_hosts import LookupHosts
from helpline.channels.registry import build_senders
from helpline.config import Settings
from helpline.notify.email import EmailSender, SmtpEmailSender
from helpline.realtime.bus import EventBus, InProcessBus
from helpline.realtime.redis_bus import RedisBus
from helpline.services.account_cache import ChannelAccountCache
from helpline.services.bot_learning import RevisionCache
from helpline.services.ingest_batch import IngestBatcher
from helpline.services.ratelimit import AttemptLimiter, MemoryAttemptLimiter
from helpline.storage.db import create_engine, create_session_factory, is_sqlite
from helpline.storage.files import FileStore, LocalFileStore
from helpline.storage.redis_limiter import RedisAttemptLimiter
from helpline.storage.uow import Clock, UnitOfWork, utc_now
from helpline.worker.delivery import DeliveryWorker

PROVIDER_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


@dataclass
class Container:
    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    bus: EventBus
    #: Failed logins per client address and per account (in Redis when configured: shared).
    login_limiter: AttemptLimiter
    #: New anonymous web chat visitors per client address (spam control).
    visitor_limiter: AttemptLimiter
    clock: Clock = utc_now
    metrics: CollectorRegistry = field(default_factory=CollectorRegistry)
    #: Outgoing e-mail, when an SMTP server is configured.
    email: EmailSender | None = None
    files: FileStore = field(default_factory=lambda: LocalFileStore(Path("var/files")))
    #: Calls to providers (Telegram, WhatsApp…): bounded time, never waiting forever.
    http: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=PROVIDER_TIMEOUT))
    #: Webhooks read their account's secret from here, not from a transaction per request.
    accounts: ChannelAccountCache = field(default_factory=ChannelAccountCache)
    #: Webhooks store inbound messages through here: group commit under load.
    ingest: IngestBatcher = field(init=False)
    #: The knowledge base's revision by its change count (the console's learning notice).
    knowledge_revisions: RevisionCache = field(default_factory=RevisionCache)
    #: The bot's knowledge base and trained classifier, shared by this process's workers.
    bot_brain: BotBrain = field(init=False)
    #: The bot's flow lookups: a client that connects only to addresses its host check passed.
    lookups: LookupClient = field(init=False)

    def __post_init__(self) -> None:
        # SQLite has one connection (one writer): one lane; PostgreSQL a few, leaving the pool
        # room for agents' requests.
        self.ingest = IngestBatcher(self.uow, lanes=1 if is_sqlite(self.settings.database_url) else 4)
        # Trained models are kept beside the files: a restart loads instead of training again.
        self.bot_brain = BotBrain(trainer(Path(self.settings.data_dir) / "bot-models"))
        # The host list is parsed here, so that a typo in it stops the server at start.
        self.lookups = LookupClient(hosts=LookupHosts.parse(self.settings.lookup_hosts))

    def delivery_worker(self, **options: Any) -> DeliveryWorker:
        options.setdefault("lease", timedelta(seconds=self.settings.delivery_lease_seconds))
        options.setdefault(
            "bot",
            BotTurnRunner(
                self.uow,
                self.bot_brain,
                detect_message_language,
                self.lookups,
                phone_region=self.settings.default_region,
            ),
        )
        return DeliveryWorker(self.uow, build_senders(self.http), self.files, **options)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.session_factory, self.bus.publish, self.clock)

    async def close(self) -> None:
        await self.bot_brain.stop()
        await self.login_limiter.close()
        await self.visitor_limiter.close()
        await self.http.aclose()
        await self.lookups.aclose()
        await self.bus.close()
        await self.engine.dispose()


def _limiter(settings: Settings, name: str, limit: int, window_seconds: float) -> AttemptLimiter:
    """Shared by every process through Redis when there is one; else this process's memory."""
    if settings.redis_url:
        return RedisAttemptLimiter(settings.redis_url, name, limit, window_seconds)
    return MemoryAttemptLimiter(limit, window_seconds, time.monotonic)


def build_container(settings: Settings, clock: Clock = utc_now) -> Container:
    engine = create_engine(settings.database_url)
    return Container(
        settings=settings,
        engine=engine,
        session_factory=create_session_factory(engine),
        bus=RedisBus(settings.redis_url) if settings.redis_url else InProcessBus(),
        login_limiter=_limiter(settings, "login", settings.login_attempts, settings.login_window_seconds),
        visitor_limiter=_limiter(settings, "visitor", settings.new_chats_per_hour, 3600),
        clock=clock,
        email=SmtpEmailSender(settings.smtp_url, settings.mail_from) if settings.smtp_url else None,
        files=LocalFileStore(Path(settings.data_dir) / "files"),
    )
