"""A Telegram webhook update, from the provider's JSON to a stored message.

Order matters for "nothing lost": media are fetched and stored first, then the message is
committed, and only then does the route answer 200. If Telegram cannot hand us a file the
route answers 503 and Telegram delivers the update again later (its documented behaviour
for non-2xx answers); the provider id makes that retry store the message once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from helpline.channels.base import (
    MalformedPayload,
    MediaGone,
    TryAgainLater,
    WebhookContext,
    WebhookRejected,
    WebhookReply,
    WebhookRequest,
    keep_media,
)
from helpline.channels.signatures import secret_equals
from helpline.channels.telegram.parse import MediaRef, TelegramInbound, parse_update
from helpline.channels.telegram.send import DEFAULT_API_BASE
from helpline.domain.contacts import Language
from helpline.domain.conversations import Channel
from helpline.domain.identities import IdentityKind
from helpline.domain.inbound import InboundAttachment, InboundMessage
from helpline.logs import get_logger
from helpline.services.contacts import link_revealed_phone

SECRET_HEADER = "x-telegram-bot-api-secret-token"  # noqa: S105 (a header name)
#: Bots may download files of up to 20 MB (Bot API, getFile).
MAX_DOWNLOAD = 20 * 1024 * 1024


log = get_logger(__name__)


class MediaUnavailable(TryAgainLater):
    """Telegram could not give us a file right now: answer non-2xx so the update comes again."""


class TelegramReceiver:
    """`POST /webhooks/telegram/{account}`: the secret token set with setWebhook, then the update."""

    async def handle(self, ctx: WebhookContext, request: WebhookRequest) -> WebhookReply:
        if request.method != "POST":
            raise WebhookRejected("Telegram only POSTs updates", 405)
        if not secret_equals(ctx.config.get("webhook_secret"), request.headers.get(SECRET_HEADER)):
            raise WebhookRejected("bad or missing secret token")
        try:
            update = json.loads(request.body)
        except ValueError:
            raise MalformedPayload("the body is not JSON") from None
        if not isinstance(update, dict):
            raise MalformedPayload("an update is a JSON object")
        try:
            parsed = await receive_update(ctx, update)
        except MediaUnavailable:
            raise
        except ValueError as exc:
            raise MalformedPayload(str(exc)) from None
        if parsed is not None and parsed.callback_query_id is not None:
            await answer_callback_query(ctx.http, ctx.config, parsed.callback_query_id)
        return WebhookReply()


async def answer_callback_query(http: httpx.AsyncClient, config: Mapping[str, Any], query_id: str) -> None:
    """Stop the button's loading spinner on the customer's screen (best effort: the press is stored)."""
    base = str(config.get("api_base") or DEFAULT_API_BASE).rstrip("/")
    try:
        await http.post(
            f"{base}/bot{config['bot_token']}/answerCallbackQuery", json={"callback_query_id": query_id}
        )
    except httpx.HTTPError as exc:
        log.warning("telegram_answer_callback_failed", error=type(exc).__name__)


def language_of(code: str | None) -> Language | None:
    base = (code or "").split("-")[0].lower()
    try:
        return Language(base)
    except ValueError:
        return None


async def download(http: httpx.AsyncClient, config: Mapping[str, Any], media: MediaRef) -> bytes:
    """getFile, then the file. Network trouble, 429 and 5xx are temporary (MediaUnavailable: the
    update comes again); a file over the bots' limit, found from `file_size` before asking, and a
    400 from getFile ("file is too big", an id it does not know) never change (MediaGone)."""
    if media.size is not None and media.size > MAX_DOWNLOAD:
        raise MediaGone(f"{media.size // (1024 * 1024)} MB is more than bots may download")
    base = str(config.get("api_base") or DEFAULT_API_BASE).rstrip("/")
    token = config["bot_token"]
    try:
        info = await http.post(f"{base}/bot{token}/getFile", json={"file_id": media.file_id})
        body = info.json()
        if info.status_code == 400:
            raise MediaGone(f"getFile answered 400 ({_description(body)})")
        path = body["result"]["file_path"] if info.status_code == 200 and body.get("ok") else None
        if not path:
            raise MediaUnavailable(f"getFile answered {info.status_code}")
        response = await http.get(f"{base}/file/bot{token}/{path}")
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise MediaUnavailable(type(exc).__name__) from None
    if response.status_code != 200:
        raise MediaUnavailable(f"file download answered {response.status_code}")
    if len(response.content) > MAX_DOWNLOAD:
        raise MediaGone("the file is larger than the Bot API allows")
    return response.content


def _description(body: object) -> str:
    """Telegram's own words for a refusal, cut short: they go into a note beside the message."""
    said = body.get("description") if isinstance(body, dict) else None
    return said[:100] if isinstance(said, str) and said else "no description"


async def receive_update(ctx: WebhookContext, update: Mapping[str, Any]) -> TelegramInbound | None:
    """Store the customer message in `update`; None for updates that carry none.

    ValueError: the update is malformed (answer 400). MediaUnavailable: try again later.
    """
    parsed = parse_update(update)
    if parsed is None:
        return None
    attachments, notes = await keep_media(ctx, download, parsed.media)
    result = await ctx.ingest(inbound_message(ctx.account_id, parsed, attachments, notes))
    if parsed.shared_phone and not result.duplicate:
        async with ctx.make_uow() as uow:
            await link_revealed_phone(uow, result.contact_id, parsed.shared_phone, ctx.default_region)
            await uow.commit()
    return parsed


def inbound_message(
    account_id: int,
    parsed: TelegramInbound,
    attachments: tuple[InboundAttachment, ...],
    notes: Sequence[str] = (),
) -> InboundMessage:
    return InboundMessage(
        channel=Channel.TELEGRAM,
        channel_account_id=account_id,
        identity_kind=IdentityKind.TELEGRAM,
        identity_value=parsed.user_id,
        text="\n".join(part for part in (parsed.text, *notes) if part),
        provider_message_id=parsed.provider_message_id,
        sent_at=parsed.sent_at,
        sender_name=parsed.sender_name,
        language=language_of(parsed.language_code),
        attachments=attachments,
    )
