"""A WhatsApp Cloud API webhook, from Meta's JSON to stored messages and receipts.

GET is Meta's verification handshake: it sends `hub.mode=subscribe`, the verify token the admin
typed in the App Dashboard and a `hub.challenge` to echo back. POST carries notifications signed
with the app secret (`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`).

Order matters for "nothing lost": the whole document is parsed first (a bad one stores nothing),
media are fetched and stored, every message and receipt is committed, and only then does the route
answer 200. If Meta cannot hand us a file right now the route answers 503 and Meta delivers the
same notification again; the `wamid`s make that retry store each message once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

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
    keep_media,
)
from helpline.channels.signatures import hub_signature_matches, secret_equals
from helpline.channels.whatsapp.parse import MediaRef, WhatsAppBatch, WhatsAppInbound, parse_webhook
from helpline.channels.whatsapp.send import auth_headers, graph_url
from helpline.domain.attachments import MAX_ATTACHMENT_BYTES
from helpline.domain.conversations import Channel
from helpline.domain.errors import DomainError
from helpline.domain.identities import IdentityKind
from helpline.domain.inbound import InboundAttachment, InboundMessage
from helpline.logs import get_logger
from helpline.services.contacts import link_revealed_phone
from helpline.services.receipts import record_receipts
from helpline.storage.models import Message
from helpline.storage.uow import UnitOfWorkFactory

SIGNATURE_HEADER = "x-hub-signature-256"

log = get_logger(__name__)


class MediaUnavailable(TryAgainLater):
    """Meta could not give us a file right now: answer non-2xx so the notification comes again."""


class WhatsAppReceiver:
    """`/webhooks/whatsapp/{account}`: the verification handshake (GET) and notifications (POST)."""

    async def handle(self, ctx: WebhookContext, request: WebhookRequest) -> WebhookReply:
        if request.method == "GET":
            return verify_subscription(ctx.config, request.query)
        if request.method != "POST":
            raise WebhookRejected("WhatsApp only GETs (handshake) and POSTs (notifications)", 405)
        if not hub_signature_matches(
            ctx.config.get("app_secret"), request.body, request.headers.get(SIGNATURE_HEADER)
        ):
            raise WebhookRejected("bad or missing signature")
        try:
            payload = json.loads(request.body)
        except ValueError:
            raise MalformedPayload("the body is not JSON") from None
        try:
            batch = parse_webhook(
                payload, phone_number_id=str(ctx.config.get("phone_number_id") or "") or None
            )
        except ValueError as exc:
            raise MalformedPayload(str(exc)) from None
        await receive_batch(ctx, batch)
        return WebhookReply()


def verify_subscription(config: Mapping[str, Any], query: Mapping[str, str]) -> WebhookReply:
    """Meta's handshake: echo `hub.challenge` when the verify token is ours, 403 otherwise."""
    challenge = query.get("hub.challenge")
    if (
        query.get("hub.mode") != "subscribe"
        or not challenge
        or not secret_equals(config.get("verify_token"), query.get("hub.verify_token"))
    ):
        raise WebhookRejected("verification token mismatch", 403)
    return WebhookReply(status=200, body=challenge.encode())


async def receive_batch(ctx: WebhookContext, batch: WhatsAppBatch) -> None:
    """Commit every message and receipt of one notification; raises MediaUnavailable to be sent again."""
    if batch.statuses:
        receipts = [StatusReceipt(s.provider_message_id, s.status, s.at, s.error) for s in batch.statuses]
        await record_receipts(ctx.make_uow, ctx.account_id, receipts)
    linked: set[str] = set()
    for message in batch.messages:
        attachments: tuple[InboundAttachment, ...] = ()
        notes: list[str] = []
        if message.media and not await _already_stored(ctx.make_uow, ctx.account_id, message):
            attachments, notes = await keep_media(ctx, download, message.media)
        result = await ctx.ingest(inbound_message(ctx.account_id, message, attachments, notes))
        if message.wa_id not in linked:
            linked.add(message.wa_id)
            await _link_phone(ctx, result.contact_id, message.wa_id)


async def _already_stored(make_uow: UnitOfWorkFactory, account_id: int, message: WhatsAppInbound) -> bool:
    """A redelivered message is not downloaded again (its file may be gone by then)."""
    async with make_uow() as uow:
        found = await uow.session.scalar(
            select(Message.id).where(
                Message.channel_account_id == account_id,
                Message.provider_message_id == message.provider_message_id,
            )
        )
    return found is not None


async def _link_phone(ctx: WebhookContext, contact_id: int, wa_id: str) -> None:
    """The wa_id *is* the customer's phone number, vouched for by WhatsApp: link or merge by it."""
    try:
        async with ctx.make_uow() as uow:
            await link_revealed_phone(uow, contact_id, f"+{wa_id}", ctx.default_region)
            await uow.commit()
    except DomainError as exc:  # the message is stored; a link that cannot be made must not lose it
        log.warning("whatsapp_phone_link_failed", reason=exc.reason)


async def download(http: httpx.AsyncClient, config: Mapping[str, Any], media: MediaRef) -> bytes:
    """`GET /{media-id}` for a short-lived URL, then `GET` that URL, both with the bearer token.

    Network trouble, 5xx, 429 and a rejected token are temporary (MediaUnavailable): the
    notification comes again. 400/404 mean the id is unknown or expired (MediaGone). A file larger
    than we store is MediaGone too, found out from `file_size` before downloading it.
    """
    headers = auth_headers(config)
    try:
        info = await http.get(graph_url(config, media.media_id), headers=headers)
        _check(info, "media lookup")
        body = info.json()
        url = body.get("url") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise MediaUnavailable("media lookup gave no URL")
        size = _size(body.get("file_size"))
        if size is not None and size > MAX_ATTACHMENT_BYTES:
            raise MediaGone(f"{size // (1024 * 1024)} MB is more than we store")
        response = await http.get(url, headers=headers)
        _check(response, "media download")
    except httpx.HTTPError as exc:
        raise MediaUnavailable(type(exc).__name__) from None
    except ValueError:
        raise MediaUnavailable("media lookup answered no JSON") from None
    data = response.content
    if media.sha256 and not hmac.compare_digest(hashlib.sha256(data).hexdigest(), media.sha256.lower()):
        raise MediaUnavailable("downloaded file does not match its SHA-256")
    return data


def _check(response: httpx.Response, what: str) -> None:
    if response.status_code == 200:
        return
    if response.status_code in (400, 404, 410):
        raise MediaGone(f"{what} answered {response.status_code}")
    raise MediaUnavailable(f"{what} answered {response.status_code}")


def _size(value: object) -> int | None:
    """`file_size` is documented as a number but sent as a string of digits: accept both."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def inbound_message(
    account_id: int,
    parsed: WhatsAppInbound,
    attachments: tuple[InboundAttachment, ...],
    notes: list[str] | None = None,
) -> InboundMessage:
    """The normalised message; `notes` say what became of files we could not keep."""
    text = "\n".join(part for part in (parsed.text, *(notes or ())) if part)
    return InboundMessage(
        channel=Channel.WHATSAPP,
        channel_account_id=account_id,
        identity_kind=IdentityKind.WHATSAPP,
        identity_value=parsed.wa_id,
        text=text,
        provider_message_id=parsed.provider_message_id,
        sent_at=parsed.sent_at,
        sender_name=parsed.sender_name,
        attachments=attachments,
    )
