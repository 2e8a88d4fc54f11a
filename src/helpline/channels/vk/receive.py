"""A VK Callback API notification, from the provider's JSON to a stored message.

VK expects the text `ok` (HTTP 200) for every notification, and for `confirmation` the
community's confirmation string; anything else counts as a failure and VK sends the same event
(same `event_id`, same message id) again later, stopping for a while after several failures in
a row (Callback API, "Connecting Callback API"). So:

* `confirmation` is answered only for our community (`group_id` as configured);
* every other notification must carry the secret key set for the server, else 403 and nothing
  is stored (as VK's own SDK answers a wrong secret);
* media are downloaded and stored first, then the message is committed, then `ok`: a file VK
  cannot hand over now is a 503, and VK's redelivery stores the message once (by message id).
  A file that waiting cannot bring back (gone, too large), or one still missing after a few
  redeliveries, leaves a note in the text instead, so the customer's words are never lost.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import httpx

from helpline.channels.base import (
    MalformedPayload,
    TryAgainLater,
    WebhookContext,
    WebhookRejected,
    WebhookReply,
    WebhookRequest,
)
from helpline.channels.signatures import secret_equals
from helpline.channels.vk.api import ApiFailure, call
from helpline.channels.vk.parse import (
    CallbackEnvelope,
    MediaRef,
    VkInbound,
    VkRead,
    parse_envelope,
    parse_event,
)
from helpline.domain.attachments import MAX_ATTACHMENT_BYTES
from helpline.domain.contacts import Language
from helpline.domain.conversations import Channel
from helpline.domain.identities import IdentityKind, normalise_identity
from helpline.domain.inbound import InboundAttachment, InboundMessage
from helpline.logs import get_logger
from helpline.services.attachments import store_provider_media
from helpline.services.contacts import identity_owner
from helpline.services.watermarks import record_read_up_to

log = get_logger(__name__)

OK = WebhookReply(body=b"ok")
REFUSED = "bad or missing secret key"
#: VK numbers its redeliveries of a notification in this header (read by VK's Go SDK, vksdk).
RETRY_HEADER = "x-retry-counter"
#: From this redelivery on, a file that still cannot be fetched no longer holds its message back.
MEDIA_RETRIES = 3


class Skipped(Enum):
    """Why a file was not downloaded, when waiting would not change it."""

    TOO_LARGE = "file too large to keep"
    GONE = "file no longer available at VK"


class MediaUnavailable(TryAgainLater):
    """VK could not give us a file right now: answer non-"ok" so the event comes again."""


class VkReceiver:
    """`POST /webhooks/vk/{account}`: one Callback API notification per request."""

    async def handle(self, ctx: WebhookContext, request: WebhookRequest) -> WebhookReply:
        if request.method != "POST":
            raise WebhookRejected("VK only POSTs notifications", 405)
        try:
            body = json.loads(request.body)
        except ValueError:
            raise MalformedPayload("the body is not JSON") from None
        try:
            envelope = parse_envelope(body)
        except ValueError as exc:
            raise MalformedPayload(str(exc)) from None
        if envelope.group_id != configured_group_id(ctx.config):
            raise WebhookRejected(REFUSED, 403)
        if envelope.type == "confirmation":
            return confirm(ctx.config, envelope)
        if not secret_equals(ctx.config.get("secret"), envelope.secret):
            raise WebhookRejected(REFUSED, 403)
        try:
            event = parse_event(envelope, received_at=datetime.now(UTC))
        except ValueError as exc:
            raise MalformedPayload(str(exc)) from None
        if isinstance(event, VkInbound):
            await receive_message(ctx, event, last_try=retries(request) >= MEDIA_RETRIES)
            if event.event_id is not None:
                await answer_event(ctx.http, ctx.config, event)
        elif isinstance(event, VkRead):
            await record_read_up_to(
                ctx.make_uow,
                ctx.account_id,
                IdentityKind.VK,
                str(event.user_id),
                event.read_message_id,
                datetime.now(UTC),
            )
        return OK


def configured_group_id(config: Mapping[str, Any]) -> int | None:
    """The community id as the admin typed it: `218400119`, `-218400119` or `club218400119`."""
    raw = str(config.get("group_id") or "").strip().lstrip("-").lower()
    for prefix in ("club", "public"):
        raw = raw.removeprefix(prefix)
    return int(raw) if raw.isdigit() else None


def confirm(config: Mapping[str, Any], envelope: CallbackEnvelope) -> WebhookReply:
    """The confirmation string, for our community only; a secret, if VK sends one, must match."""
    code = config.get("confirmation_code")
    if not code:
        raise WebhookRejected("no confirmation code is configured", 403)
    if envelope.secret is not None and not secret_equals(config.get("secret"), envelope.secret):
        raise WebhookRejected(REFUSED, 403)
    return WebhookReply(body=str(code).encode())


def retries(request: WebhookRequest) -> int:
    """How many times VK has sent this notification before (its `X-Retry-Counter` header)."""
    try:
        return max(0, int(request.headers.get(RETRY_HEADER, "0")))
    except ValueError:
        return 0


async def receive_message(ctx: WebhookContext, event: VkInbound, *, last_try: bool = False) -> None:
    """Fetch the message's files, then commit it (once per provider id).

    A file VK cannot hand over now makes the whole notification fail (MediaUnavailable), so VK
    sends it again; on `last_try` the message is stored with a note instead, because VK gives
    up on a notification after a few failures and its text would be lost with the file.
    """
    attachments: list[InboundAttachment] = []
    notes: list[str] = []
    for media in event.media:
        try:
            data = await download(ctx.http, media)
        except MediaUnavailable:
            if not last_try:
                raise
            notes.append(f"[file VK could not hand over: {media.filename}]")
            continue
        if isinstance(data, Skipped):
            notes.append(f"[{data.value}: {media.filename}]")
            continue
        attachments.append(await store_provider_media(ctx.files, data, media.filename, media.content_type))
    text = "\n".join(part for part in (event.text, *notes) if part)
    await ctx.ingest(
        InboundMessage(
            channel=Channel.VK,
            channel_account_id=ctx.account_id,
            identity_kind=IdentityKind.VK,
            identity_value=str(event.user_id),
            text=text,
            provider_message_id=event.provider_message_id,
            sent_at=event.sent_at,
            sender_name=None
            if await _known(ctx, event.user_id)
            else await sender_name(ctx.http, ctx.config, event.user_id),
            language=Language(event.language) if event.language else None,
            attachments=tuple(attachments),
        )
    )


async def download(http: httpx.AsyncClient, media: MediaRef) -> bytes | Skipped:
    """The file's bytes, or why not: larger than Helpline keeps, or VK no longer has it.

    Neither of those improves by waiting, so they are not worth a redelivery; a 5xx, a timeout
    or a broken connection is (MediaUnavailable).
    """
    if media.size is not None and media.size > MAX_ATTACHMENT_BYTES:
        return Skipped.TOO_LARGE
    chunks: list[bytes] = []
    received = 0
    try:
        async with http.stream("GET", media.url, follow_redirects=True) as response:
            if response.status_code in (403, 404, 410):
                return Skipped.GONE
            if response.status_code != 200:
                raise MediaUnavailable(f"VK's file server answered {response.status_code}")
            async for chunk in response.aiter_bytes():
                received += len(chunk)
                if received > MAX_ATTACHMENT_BYTES:
                    return Skipped.TOO_LARGE
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise MediaUnavailable(type(exc).__name__) from None
    return b"".join(chunks)


async def _known(ctx: WebhookContext, user_id: int) -> bool:
    """A returning customer already has a name: users.get is asked only about new senders."""
    async with ctx.make_uow() as uow:
        identity = normalise_identity(IdentityKind.VK, str(user_id), ctx.default_region)
        return await identity_owner(uow, identity) is not None


async def sender_name(http: httpx.AsyncClient, config: Mapping[str, Any], user_id: int) -> str | None:
    """The customer's name from users.get (best effort: the message is stored without it)."""
    result = await call(http, config, "users.get", {"user_ids": user_id})
    if isinstance(result, ApiFailure) or not isinstance(result, list) or not result:
        return None
    user = result[0]
    if not isinstance(user, dict):
        return None
    parts = [user.get("first_name"), user.get("last_name")]
    name = " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
    return name or None


async def answer_event(http: httpx.AsyncClient, config: Mapping[str, Any], event: VkInbound) -> None:
    """Tell VK the button press was handled, so the button stops spinning (best effort)."""
    result = await call(
        http,
        config,
        "messages.sendMessageEventAnswer",
        {"event_id": event.event_id, "user_id": event.user_id, "peer_id": event.peer_id},
    )
    if isinstance(result, ApiFailure):
        log.warning("vk_event_answer_failed", reason=getattr(result.outcome, "reason", ""))
