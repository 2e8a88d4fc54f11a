"""Console: admins connect and configure channel accounts (bots, numbers, pages, communities).

Secrets are stored server-side and only ever shown masked; a secret field left empty (or sent
back masked) keeps the stored value, so editing a page name never requires re-typing a token.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from helpline.channels.registry import SPECS
from helpline.domain.conversations import Channel
from helpline.domain.errors import DomainError
from helpline.services import channel_accounts as svc
from helpline.storage.models import Team
from helpline.storage.uow import UnitOfWork
from helpline.web.deps import container, open_uow
from helpline.web.routes.console import VIEWS, error_page, filters, inbox_filter, inbox_rows, render
from helpline.web.security import Principal, require_admin

router = APIRouter(
    prefix="/console/admin/channels",
    tags=["console"],
    dependencies=[Depends(require_admin)],
    include_in_schema=False,
)
Uow = Annotated[UnitOfWork, Depends(open_uow)]
Admin = Annotated[Principal, Depends(require_admin)]
CONFIG_PREFIX = "config."


def form_fields(channel: str) -> list[dict[str, Any]]:
    """The settings the form shows for `channel`, required ones first."""
    spec = SPECS.get(channel)
    if spec is None:
        return []
    keys = sorted(spec.required_keys) + sorted((spec.secret_keys | spec.optional_keys) - spec.required_keys)
    return [{"key": k, "secret": k in spec.secret_keys, "required": k in spec.required_keys} for k in keys]


def config_from_form(form: dict[str, str]) -> dict[str, Any]:
    return {k.removeprefix(CONFIG_PREFIX): v for k, v in form.items() if k.startswith(CONFIG_PREFIX)}


def optional_int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


@router.get("", response_class=HTMLResponse)
async def channels_page(request: Request, uow: Uow, principal: Admin) -> Response:
    accounts = await svc.list_channel_accounts(uow)
    teams = list(await uow.session.scalars(select(Team).order_by(Team.name)))
    f = filters("mine", None, None, None, None)
    inbox = inbox_filter(principal, "mine", None, None, None, None)
    return render(
        request,
        principal,
        "console/channels.html",
        rows=await inbox_rows(uow, principal, inbox, "mine"),
        f=f,
        views=VIEWS,
        channels=list(Channel),
        current=None,
        accounts=[
            {
                "account": a,
                "config": svc.masked_config(
                    dict(a.config or {}), SPECS[a.channel].secret_keys if a.channel in SPECS else frozenset()
                ),
                "fields": form_fields(a.channel),
                "webhook_url": f"{str(request.base_url).rstrip('/')}/webhooks/{a.channel}/{a.id}"
                if a.channel in SPECS
                else None,
            }
            for a in accounts
        ],
        provider_fields={channel: form_fields(channel) for channel in SPECS},
        teams=teams,
    )


@router.post("")
async def create_account(request: Request, uow: Uow, principal: Admin) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    try:
        channel = Channel(form.get("channel", ""))
        spec = SPECS.get(channel.value)
        await svc.do_create_channel_account(
            uow,
            channel,
            form.get("name", ""),
            config_from_form(form),
            optional_int(form.get("team_id")),
            spec.required_keys if spec else frozenset(),
        )
    except ValueError:
        return await error_page(request, principal, DomainError("unknown channel", field="channel"))
    except DomainError as exc:
        return await error_page(request, principal, exc)
    await uow.commit()
    container(request).accounts.invalidate()
    return RedirectResponse("/console/admin/channels", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/{account_id}")
async def update_account(account_id: int, request: Request, uow: Uow, principal: Admin) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    accounts = {a.id: a for a in await svc.list_channel_accounts(uow)}
    account = accounts.get(account_id)
    spec = SPECS.get(account.channel) if account is not None else None
    try:
        await svc.do_update_channel_account(
            uow,
            account_id,
            config_from_form(form),
            form.get("is_active") == "true",
            spec.secret_keys if spec else frozenset(),
            spec.required_keys if spec else frozenset(),
            team_id=optional_int(form.get("team_id")),
        )
    except DomainError as exc:
        return await error_page(request, principal, exc)
    await uow.commit()
    container(request).accounts.invalidate(account_id)
    return RedirectResponse("/console/admin/channels", status_code=status.HTTP_303_SEE_OTHER)
