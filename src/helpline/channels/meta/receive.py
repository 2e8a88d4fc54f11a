"""A Messenger or Instagram webhook request, from Meta's JSON to stored messages and receipts.

GET is Meta's verification handshake: `hub.mode=subscribe` with the verify token the admin
typed into the App Dashboard, answered with `hub.challenge` as plain text (403 otherwise).

POST carries notifications, signed `X-Hub-Signature-256: sha256=<HMAC-SHA256 of the raw body
keyed with the app secret>`; an unsigned or wrongly signed request is refused (401) before its
body is even parsed. Media are fetched and stored first, then each message is committed, then
receipts, and only then does the route answer 200. If a file cannot be fetched now the answer is
503 and Meta delivers the notification again (it retries failed deliveries); message ids make
that retry store each message once.

One Meta app sends every Page's notifications to one callback URL, so an account only stores
the entries of its own `page_id` (the Page, or the Instagram professional account).
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from typing import Any, Final

import httpx
from sqlalchemy import select

from helpline.channels.base import (
    MalformedPayload,
    MediaGone,
    StatusReceipt,
    TryAgainLater,
    WebhookContext,
    WebhookRejected,
    WebhookReply,
    WebhookRequest,
)
from helpline.channels.meta.graph import auth_headers
from helpline.channels.meta.parse import MediaRef, MetaInbound, MetaNotification, parse_notification
from helpline.channels.meta.platform import MetaPlatform
from helpline.channels.signatures import hub_signature_matches, secret_equals
from helpline.domain.attachments import MAX_ATTACHMENT_BYTES
from helpline.domain.inbound import (
    MEDIA_NOT_AVAILABLE,
    MEDIA_TOO_LARGE,
    InboundAttachment,
    InboundMessage,
    media_note,
)
from helpline.logs import get_logger
from helpline.services.attachments import store_provider_media
from helpline.services.receipts import record_receipts
from helpline.services.watermarks import Watermark, record_watermarks
from helpline.storage.models import ContactIdentity, Message
from helpline.storage.uow import UnitOfWorkFactory

SIGNATURE_HEADER: Final = "x-hub-signature-256"
#: What Meta's own webhook samples answer; any 200 will do.
ACKNOWLEDGED: Final = b"EVENT_RECEIVED"
#: "hub.challenge: An int you must pass back to us"; anything else is not echoed into a page.
_MAX_CHALLENGE = 256
_CHALLENGE_CHARACTERS: Final = frozenset(string.ascii_letters + string.digits + "-_.~")

log = get_logger(__name__)


class MediaUnavailable(TryAgainLater):
    """Meta's CDN could not hand over a file right now: answer 503 so the notification comes again."""


#: CDN answers that will not change on a redelivery.
_GONE_STATUSES = frozenset({400, 403, 404, 410})


class MetaReceiver:
    """`/webhooks/{messenger|instagram}/{account}`: the handshake (GET) and notifications (POST)."""

    def __init__(self, platform: MetaPlatform) -> None:
        self._platform = platform

    async def handle(self, ctx: WebhookContext, request: WebhookRequest) -> WebhookReply:
        if request.method == "GET":
            return verification(ctx.config, request.query)
        if request.method != "POST":
            raise WebhookRejected(f"{self._platform.name} only GETs and POSTs", 405)
        header = request.headers.get(SIGNATURE_HEADER)
        if not hub_signature_matches(ctx.config.get("app_secret"), request.body, header):
            raise WebhookRejected("bad or missing signature")
        try:
            payload = json.loads(request.body)
        except ValueError:
            raise MalformedPayload("the body is not JSON") from None
        try:
            notification = parse_notification(payload, self._platform.webhook_object)
        except ValueError as exc:
            raise MalformedPayload(str(exc)) from None
        if notification is None:
            log.info("meta_webhook_other_object", channel=self._platform.channel.value)
        else:
            await store_notification(ctx, self._platform, notification)
        return WebhookReply(body=ACKNOWLEDGED)


def verification(config: Mapping[str, Any], query: Mapping[str, str]) -> WebhookReply:
    """Meta's subscription handshake: echo `hub.challenge` only for the right verify token."""
    challenge = query.get("hub.challenge")
    if (
        query.get("hub.mode") != "subscribe"
        or not secret_equals(config.get("verify_token"), query.get("hub.verify_token"))
        or not challenge
        or len(challenge) > _MAX_CHALLENGE
        or not set(challenge) <= _CHALLENGE_CHARACTERS
    ):
        raise WebhookRejected("verification refused", 403)
    return WebhookReply(body=challenge.encode())


async def store_notification(
    ctx: WebhookContext, platform: MetaPlatform, notification: MetaNotification
) -> None:
    """Commit the messages, then the receipts, of the entries that belong to this account."""
    page_id = str(ctx.config.get("page_id") or "").strip()

    def ours(entry_id: str) -> bool:
        if page_id and entry_id != page_id:
            log.warning("meta_webhook_other_page", channel=platform.channel.value, account_id=ctx.account_id)
            return False
        return True

    for message in notification.messages:
        if ours(message.page_id):
            await store_message(ctx, platform, message)
    await record_receipts(
        ctx.make_uow,
        ctx.account_id,
        [
            StatusReceipt(r.provider_message_id, r.status, r.at)
            for r in notification.receipts
            if ours(r.page_id)
        ],
    )
    await record_watermarks(
        ctx.make_uow,
        ctx.account_id,
        [
            Watermark(platform.identity_kind, w.customer_id, w.status, w.at, w.until, w.through_message_id)
            for w in notification.watermarks
            if ours(w.page_id)
        ],
    )


async def store_message(ctx: WebhookContext, platform: MetaPlatform, message: MetaInbound) -> None:
    """Fetch the media, name a new customer, store the message (once per `mid`).

    A redelivery of a stored message stops before the download: its URL may have expired since,
    and the message is already there.
    """
    duplicate, known = await _seen(ctx.make_uow, ctx.account_id, platform, message)
    if duplicate:
        return
    attachments: list[InboundAttachment] = []
    notes: list[str] = []
    for media in message.media:
        try:
            stored = await fetch(ctx, media)
        except MediaGone as exc:
            notes.append(media_note(media.kind, MEDIA_NOT_AVAILABLE, str(exc)))
            continue
        if stored is None:
            notes.append(media_note(media.kind, MEDIA_TOO_LARGE, media.filename))
        else:
            attachments.append(stored)
    name = None if known else await profile_name(ctx.http, ctx.config, platform, message.sender_id)
    await ctx.ingest(
        InboundMessage(
            channel=platform.channel,
            channel_account_id=ctx.account_id,
            identity_kind=platform.identity_kind,
            identity_value=message.sender_id,
            text="\n".join(part for part in (message.text, *notes) if part),
            provider_message_id=message.provider_message_id,
            sent_at=message.sent_at,
            sender_name=name,
            attachments=tuple(attachments),
        )
    )


async def fetch(ctx: WebhookContext, media: MediaRef) -> InboundAttachment | None:
    """Download an attachment from Meta's CDN and store it; None if larger than Helpline keeps.

    Raises MediaGone when the URL will never work, MediaUnavailable when it may work later.

    The URL is signed by Meta and needs no token, so none is sent to it.
    """
    chunks: list[bytes] = []
    received = 0
    try:
        async with ctx.http.stream("GET", media.url, follow_redirects=True) as response:
            if response.status_code in _GONE_STATUSES:
                raise MediaGone(f"the download answered {response.status_code}")
            if response.status_code != 200:
                raise MediaUnavailable(f"the {media.kind} download answered {response.status_code}")
            declared = response.headers.get("content-type", "").split(";")[0].strip()
            async for chunk in response.aiter_bytes():
                received += len(chunk)
                if received > MAX_ATTACHMENT_BYTES:
                    return None
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise MediaUnavailable(f"the {media.kind} download failed ({type(exc).__name__})") from None
    data = b"".join(chunks)
    if not data:
        raise MediaUnavailable(f"the {media.kind} download was empty")
    usable = declared and declared != "application/octet-stream"
    return await store_provider_media(
        ctx.files, data, media.filename, declared if usable else media.content_type
    )


async def _seen(
    make_uow: UnitOfWorkFactory, account_id: int, platform: MetaPlatform, message: MetaInbound
) -> tuple[bool, bool]:
    """(is the message already stored, is its sender already a contact), in one round trip."""
    stored = select(Message.id).where(
        Message.channel_account_id == account_id, Message.provider_message_id == message.provider_message_id
    )
    known = select(ContactIdentity.id).where(
        ContactIdentity.kind == platform.identity_kind.value, ContactIdentity.value == message.sender_id
    )
    async with make_uow() as uow:
        row = (await uow.session.execute(select(stored.scalar_subquery(), known.scalar_subquery()))).one()
    return row[0] is not None, row[1] is not None


async def profile_name(
    http: httpx.AsyncClient, config: Mapping[str, Any], platform: MetaPlatform, user_id: str
) -> str | None:
    """A new customer's name from the User Profile API (best effort: stored without it otherwise)."""
    try:
        response = await http.get(
            f"{platform.api_root(config)}/{user_id}",
            params={"fields": ",".join(platform.profile_fields)},
            headers=auth_headers(config),
        )
        profile = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError) as exc:
        log.info("meta_profile_unavailable", channel=platform.channel.value, error=type(exc).__name__)
        return None
    if not isinstance(profile, Mapping):
        return None
    values = [profile.get(field) for field in platform.profile_fields]
    parts = [v.strip() for v in values if isinstance(v, str) and v.strip()]
    if not parts:
        return None
    return parts[0] if platform.profile_name_first_only else " ".join(parts)[:200]
