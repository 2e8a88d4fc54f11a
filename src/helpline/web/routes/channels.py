"""REST: channel accounts (admins) and the providers' webhooks (public, signature-checked)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import Field

from helpline.channels.base import (
    MalformedPayload,
    TryAgainLater,
    WebhookContext,
    WebhookRejected,
    WebhookRequest,
)
from helpline.channels.registry import SPECS
from helpline.domain.conversations import Channel
from helpline.logs import get_logger
from helpline.services import channel_accounts as svc
from helpline.storage.models import ChannelAccount
from helpline.storage.uow import UnitOfWork
from helpline.web import schemas
from helpline.web.deps import container, open_uow
from helpline.web.security import require_admin

log = get_logger(__name__)
admin = APIRouter(prefix="/api/v1", tags=["channels"], dependencies=[Depends(require_admin)])
webhooks = APIRouter(prefix="/webhooks", tags=["webhooks"])
Uow = Annotated[UnitOfWork, Depends(open_uow)]
#: Providers' webhooks are small JSON documents (media come by reference); anything bigger is abuse.
MAX_WEBHOOK_BODY = 1024 * 1024


class ChannelAccountIn(schemas.In):
    channel: Channel
    name: str = Field(min_length=1, max_length=120)
    config: dict[str, Any] = Field(default_factory=dict)
    team_id: int | None = None


class ChannelAccountPatch(schemas.In):
    config: dict[str, Any] | None = None
    is_active: bool | None = None
    team_id: int | None = Field(default=None, description="the inbox team; null for none, absent to keep")


class ChannelAccountOut(schemas.Out):
    id: int
    channel: str
    name: str
    is_active: bool
    team_id: int | None
    config: dict[str, Any] = Field(description="secrets are shown masked, never in full")
    webhook_path: str | None


def secret_keys(channel: str) -> frozenset[str]:
    spec = SPECS.get(channel)
    return spec.secret_keys if spec else frozenset()


def required_keys(channel: str) -> frozenset[str]:
    spec = SPECS.get(channel)
    return spec.required_keys if spec else frozenset()


def account_out(account: ChannelAccount) -> ChannelAccountOut:
    return ChannelAccountOut(
        id=account.id,
        channel=account.channel,
        name=account.name,
        is_active=account.is_active,
        team_id=account.team_id,
        config=svc.masked_config(dict(account.config or {}), secret_keys(account.channel)),
        webhook_path=f"/webhooks/{account.channel}/{account.id}" if account.channel in SPECS else None,
    )


@admin.get("/channel-accounts")
async def list_accounts(uow: Uow) -> list[ChannelAccountOut]:
    return [account_out(a) for a in await svc.list_channel_accounts(uow)]


@admin.post("/channel-accounts", status_code=status.HTTP_201_CREATED)
async def create_account(body: ChannelAccountIn, uow: Uow, request: Request) -> ChannelAccountOut:
    account = await svc.do_create_channel_account(
        uow, body.channel, body.name, body.config, body.team_id, required_keys(body.channel)
    )
    await uow.commit()
    container(request).accounts.invalidate(account.id)
    return account_out(account)


@admin.patch("/channel-accounts/{account_id}")
async def update_account(
    account_id: int, body: ChannelAccountPatch, uow: Uow, request: Request
) -> ChannelAccountOut:
    existing = await uow.session.get(ChannelAccount, account_id)
    channel = existing.channel if existing is not None else ""
    account = await svc.do_update_channel_account(
        uow,
        account_id,
        body.config,
        body.is_active,
        secret_keys(channel),
        required_keys(channel),
        team_id=body.team_id if "team_id" in body.model_fields_set else svc.UNSET,
    )
    await uow.commit()
    container(request).accounts.invalidate(account_id)
    return account_out(account)


@webhooks.api_route("/{channel}/{account_id}", methods=["GET", "POST"], include_in_schema=False)
async def provider_webhook(channel: str, account_id: int, request: Request) -> Response:
    """Every provider's webhook: the adapter checks the signature, commits, then we answer.

    GET is there for the providers' verification handshakes (Meta's hub.challenge). An unknown
    account, an inactive one and a bad signature all get the same answer: nothing to probe.
    """
    spec = SPECS.get(channel)
    if spec is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such channel")
    c = container(request)
    account = await c.accounts.get(c.uow, account_id)
    config = account.config if account is not None else {}
    active = account is not None and account.is_active and account.channel == channel
    refused = status.HTTP_403_FORBIDDEN if request.method == "GET" else status.HTTP_401_UNAUTHORIZED
    if not active:
        raise HTTPException(refused, "bad or missing signature")
    body = await request.body()
    if len(body) > MAX_WEBHOOK_BODY:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "webhook body too large")
    webhook = WebhookRequest(
        method=request.method,
        headers={k.lower(): v for k, v in request.headers.items()},
        query=dict(request.query_params),
        body=body,
    )
    region = c.settings.default_region
    ctx = WebhookContext(
        account_id, config, c.uow, c.files, c.http, region, lambda msg: c.ingest.ingest(msg, region)
    )
    try:
        reply = await spec.receiver.handle(ctx, webhook)
    except WebhookRejected as exc:
        raise HTTPException(exc.status_code, str(exc) or "bad or missing signature") from None
    except MalformedPayload as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"malformed payload: {exc}") from None
    except TryAgainLater as exc:
        log.warning("webhook_try_again_later", channel=channel, account_id=account_id, reason=str(exc))
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "not available yet, send again") from None
    return Response(content=reply.body, status_code=reply.status, media_type=reply.content_type)
