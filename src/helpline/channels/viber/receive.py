"""A Viber webhook callback, from the provider's JSON to a stored message or receipt.

Viber signs every callback: `X-Viber-Content-Signature` is the hex HMAC-SHA256 of the body keyed
with the account's token, so the check runs on the raw bytes before anything is parsed. Order
matters for "nothing lost": media are downloaded and stored first, then the message is committed,
and only then does the route answer 200. Viber re-sends a callback that was not answered 200 "for
up to an hour", so a media download that fails answers 503 and the callback comes again; its
`message_token` makes that retry store the message once.
"""

from __future__ import annotations

import json

import httpx
from sqlalchemy import select

from helpline.channels.base import (
    MalformedPayload,
    StatusReceipt,
    TryAgainLater,
    WebhookContext,
    WebhookRejected,
    WebhookReply,
    WebhookRequest,
)
from helpline.channels.signatures import hex_signature_matches
from helpline.channels.viber.parse import MediaRef, Notice, ViberInbound, parse_callback
from helpline.domain.attachments import MAX_ATTACHMENT_BYTES
from helpline.domain.contacts import Language
from helpline.domain.conversations import Channel
from helpline.domain.identities import IdentityKind
from helpline.domain.inbound import MEDIA_TOO_LARGE, InboundAttachment, InboundMessage, media_note
from helpline.logs import get_logger
from helpline.services.attachments import store_provider_media
from helpline.services.receipts import record_receipts
from helpline.storage.files import FileStore
from helpline.storage.models import Message

SIGNATURE_HEADER = "x-viber-content-signature"

log = get_logger(__name__)


class MediaUnavailable(TryAgainLater):
    """Viber's media URL did not give us the file now: answer non-200 so the callback comes again."""


class ViberReceiver:
    """`POST /webhooks/viber/{account}`: the signature made with the account's token, then the event."""

    async def handle(self, ctx: WebhookContext, request: WebhookRequest) -> WebhookReply:
        if request.method != "POST":
            raise WebhookRejected("Viber only POSTs callbacks", 405)
        token = ctx.config.get("auth_token")
        presented = request.headers.get(SIGNATURE_HEADER)
        if not isinstance(token, str) or not hex_signature_matches(token, request.body, presented):
            raise WebhookRejected("bad or missing signature")
        try:
            callback = json.loads(request.body)
        except ValueError:
            raise MalformedPayload("the body is not JSON") from None
        if not isinstance(callback, dict):
            raise MalformedPayload("a callback is a JSON object")
        try:
            event = parse_callback(callback)
        except ValueError as exc:
            raise MalformedPayload(str(exc)) from None
        if isinstance(event, ViberInbound):
            await store_message(ctx, event)
        elif isinstance(event, StatusReceipt):
            await record_receipts(ctx.make_uow, ctx.account_id, [event])
        else:
            acknowledge(ctx.account_id, event)
        return WebhookReply()


def acknowledge(account_id: int, notice: Notice) -> None:
    """Events that change nothing stored.

    `webhook` is Viber checking the URL when it is set. `subscribed` and `conversation_started`
    need no contact of their own: the first message creates it. `unsubscribed` is not kept either:
    a reply sent afterwards fails with Viber's own `receiverNotSubscribed` status, which the agent
    sees next to the message, and a customer who writes again is subscribed again.
    """
    log.info("viber_event", account_id=account_id, viber_event=notice.event)


async def store_message(ctx: WebhookContext, parsed: ViberInbound) -> None:
    """Download the media, then store the message once per `message_token`.

    A redelivered media message is recognised before downloading: Viber's media links live an
    hour, as long as its redeliveries, so a late redelivery could otherwise fail on a link that
    has expired for a message that is already stored.
    """
    if parsed.media and await already_stored(ctx, parsed.provider_message_id):
        return
    attachments: list[InboundAttachment] = []
    notes: list[str] = []
    for media in parsed.media:
        stored = await fetch(ctx.files, ctx.http, media)
        if stored is None:
            notes.append(media_note("file", MEDIA_TOO_LARGE, media.filename))
        else:
            attachments.append(stored)
    text = "\n".join(part for part in (parsed.text, *notes) if part)
    await ctx.ingest(inbound_message(ctx.account_id, parsed, text, tuple(attachments)))


async def already_stored(ctx: WebhookContext, provider_message_id: str) -> bool:
    async with ctx.make_uow() as uow:
        found = await uow.session.scalar(
            select(Message.id).where(
                Message.channel_account_id == ctx.account_id,
                Message.provider_message_id == provider_message_id,
            )
        )
    return found is not None


async def fetch(files: FileStore, http: httpx.AsyncClient, media: MediaRef) -> InboundAttachment | None:
    """Download and store one media file; None if it is larger than Helpline keeps.

    A file too large to keep will be as large next time, so it does not make the callback fail:
    the message is stored with a note instead. Nothing is sent with the request but the URL Viber
    gave (its media links are signed; the account's token never goes to a media host).
    """
    try:
        async with http.stream("GET", media.url) as response:
            if response.status_code != 200:
                raise MediaUnavailable(f"media download answered {response.status_code}")
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > MAX_ATTACHMENT_BYTES:
                    return None
    except httpx.HTTPError as exc:
        raise MediaUnavailable(f"media download failed ({type(exc).__name__})") from None
    return await store_provider_media(files, bytes(data), media.filename, media.content_type)


def inbound_message(
    account_id: int, parsed: ViberInbound, text: str, attachments: tuple[InboundAttachment, ...]
) -> InboundMessage:
    return InboundMessage(
        channel=Channel.VIBER,
        channel_account_id=account_id,
        identity_kind=IdentityKind.VIBER,
        identity_value=parsed.user_id,
        text=text,
        provider_message_id=parsed.provider_message_id,
        sent_at=parsed.sent_at,
        sender_name=parsed.sender_name,
        language=language_of(parsed.language_code),
        attachments=attachments,
    )


def language_of(code: str | None) -> Language | None:
    """Viber reports the device language as ISO 639-1 ("en"; sometimes with a region, "en-US")."""
    base = (code or "").replace("_", "-").split("-")[0].lower()
    try:
        return Language(base)
    except ValueError:
        return None
