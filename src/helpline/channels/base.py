"""The ports every provider adapter implements, and the plain values that cross them.

A provider package under `channels/` offers two things: a `ChannelSender` (hand one outbound
message to the provider, report a `DeliveryOutcome`) and a `ChannelReceiver` (answer one
webhook request: verify it, store what it carries, say what to answer). The web layer and
the delivery worker only know these ports; which adapter serves which channel is data in
`channels/registry.py`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

import httpx

from helpline.domain.conversations import Channel, DeliveryStatus
from helpline.domain.delivery import DeliveryOutcome
from helpline.domain.errors import DomainError
from helpline.domain.identities import IdentityKind
from helpline.domain.inbound import (
    MEDIA_NOT_AVAILABLE,
    MEDIA_NOT_STORED,
    InboundAttachment,
    InboundMessage,
    media_note,
)
from helpline.services.attachments import store_provider_media
from helpline.services.inbound import IngestResult
from helpline.storage.files import FileStore
from helpline.storage.uow import UnitOfWorkFactory


@dataclass(frozen=True, slots=True)
class ReplyOption:
    """A button the customer can press instead of typing; `payload` is what comes back."""

    payload: str
    label: str


@dataclass(frozen=True, slots=True)
class OutboundFile:
    """A file to send with a message (read from the file store by the worker)."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One agent (or bot) message on its way out.

    `recipient` is the provider's address (chat id, phone, PSID…). `options` are rendered as the
    provider's native buttons where it has them, as numbered text where it has not.
    """

    recipient: str
    text: str
    options: tuple[ReplyOption, ...] = ()
    files: tuple[OutboundFile, ...] = ()
    #: The label of a button that sends the customer's own phone number, for providers that have
    #: one (Telegram's request_contact, Viber's share-phone); the others ignore it and the
    #: customer types the number the text asks for.
    phone_request: str | None = None
    #: Stable across re-sends of the same message (the worker passes our message id), so
    #: providers with an idempotency key (VK's `random_id`) drop a re-send after a crash.
    idempotency_key: str | None = None


class ChannelSender(Protocol):
    async def send(self, config: Mapping[str, Any], message: OutboundMessage) -> DeliveryOutcome:
        """Hand `message` to the provider once; never raise for provider or network trouble."""
        ...


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """What a provider sent, before anything in it is trusted. Header names are lower-case."""

    method: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class WebhookReply:
    """What to answer the provider once everything the request carried is committed."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class WebhookContext:
    """Everything a receiver may use: the account it was called for and the adapters around it."""

    account_id: int
    config: Mapping[str, Any]
    make_uow: UnitOfWorkFactory
    files: FileStore
    http: httpx.AsyncClient
    default_region: str
    #: Stores one inbound message, committed when it returns (group-committed with messages
    #: arriving at the same moment); use it rather than a transaction of your own.
    ingest: Callable[[InboundMessage], Awaitable[IngestResult]]


@dataclass(frozen=True, slots=True)
class StatusReceipt:
    """A provider saying what became of a message we sent (delivered, read, failed)."""

    provider_message_id: str
    status: DeliveryStatus
    at: datetime
    error: str | None = None


class WebhookRejected(Exception):
    """Bad or missing signature/secret/token: nothing is stored, the answer is `status_code`."""

    def __init__(self, reason: str, status_code: int = 401) -> None:
        super().__init__(reason)
        self.status_code = status_code


class MalformedPayload(ValueError):
    """The body does not have the provider's documented shape: 400, nothing stored."""


class TryAgainLater(Exception):
    """Something the request refers to (a media file) is not available yet: answer 503 so the
    provider redelivers; the provider's message id makes the redelivery store once."""


class MediaGone(Exception):
    """The provider will never hand over this file (too large, an id it no longer knows): the
    message is stored without it, with a note saying why, instead of being refused at every
    redelivery (which would lose the customer's words with it)."""


class ProviderMedia(Protocol):
    """A file a provider named in a message, as the channels' parsers describe one."""

    @property
    def kind(self) -> str: ...
    @property
    def filename(self) -> str: ...
    @property
    def content_type(self) -> str: ...


M = TypeVar("M", bound=ProviderMedia)


async def keep_media(
    ctx: WebhookContext,
    download: Callable[[httpx.AsyncClient, Mapping[str, Any], M], Awaitable[bytes]],
    media: Sequence[M],
) -> tuple[tuple[InboundAttachment, ...], list[str]]:
    """The files of a message stored, and a note for each one that never will be, saying why.

    TryAgainLater from `download` passes through: the provider sends the message again."""
    kept: list[InboundAttachment] = []
    notes: list[str] = []
    for item in media:
        try:
            data = await download(ctx.http, ctx.config, item)
        except MediaGone as exc:
            notes.append(media_note(item.kind, MEDIA_NOT_AVAILABLE, str(exc)))
            continue
        try:
            kept.append(await store_provider_media(ctx.files, data, item.filename, item.content_type))
        except DomainError as exc:
            notes.append(media_note(item.kind, MEDIA_NOT_STORED, exc.reason))
    return tuple(kept), notes


class ChannelReceiver(Protocol):
    async def handle(self, ctx: WebhookContext, request: WebhookRequest) -> WebhookReply:
        """Verify `request`, commit everything it carries, then say what to answer.

        Raises WebhookRejected, MalformedPayload or TryAgainLater; the route maps them to
        401/403, 400 and 503.
        """
        ...


@dataclass(frozen=True, slots=True)
class ChannelCapabilities:
    """What a provider can render, so callers choose a form without `if channel == ...`."""

    max_text: int
    native_buttons: int = 0  # how many ReplyOptions show as buttons (0: numbered text)
    media: bool = True


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """One provider as data: how it addresses customers, what is secret, who sends and receives."""

    channel: Channel
    #: The identity that holds the customer's address on this channel.
    address_kind: IdentityKind
    #: Keys of the account's configuration that are secret: stored, never shown back in full,
    #: never logged.
    secret_keys: frozenset[str]
    #: Keys an account must have to work (checked when an admin saves it).
    required_keys: frozenset[str]
    make_sender: Callable[[httpx.AsyncClient], ChannelSender]
    receiver: ChannelReceiver
    capabilities: ChannelCapabilities
    #: Further settings the admin form offers (API base for a proxy, sender name…).
    optional_keys: frozenset[str] = frozenset()
