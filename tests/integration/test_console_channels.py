"""Admins connect channels in the console: secrets stored, shown only masked, kept when left empty."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from helpline.bootstrap import Container
from helpline.domain.users import Role
from helpline.storage.models import ChannelAccount
from tests.integration.conftest import PASSWORD, MakeStaff

TOKEN = "5550001:AAH-console-secret-token-value"
SECRET = "webhook-secret-from-console"


async def sign_in(client: httpx.AsyncClient, email: str) -> str:
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return str(login.json()["csrf_token"])


async def stored(container: Container) -> ChannelAccount:
    async with container.uow() as uow:
        account = await uow.session.scalar(select(ChannelAccount).where(ChannelAccount.channel == "telegram"))
    assert account is not None
    return account


async def test_admin_connects_a_bot_and_secrets_never_come_back(
    client: httpx.AsyncClient, make_staff: MakeStaff, container: Container
) -> None:
    admin = await make_staff(Role.ADMIN)
    csrf = await sign_in(client, admin.email)
    page = await client.get("/console/admin/channels")
    assert page.status_code == 200
    assert 'data-new="telegram"' in page.text

    missing = await client.post(
        "/console/admin/channels",
        data={"csrf_token": csrf, "channel": "telegram", "name": "Bot", "config.bot_token": TOKEN},
    )
    assert missing.status_code == 422  # webhook_secret is required
    assert "webhook_secret" in missing.text

    created = await client.post(
        "/console/admin/channels",
        data={
            "csrf_token": csrf,
            "channel": "telegram",
            "name": "Support bot",
            "config.bot_token": TOKEN,
            "config.webhook_secret": SECRET,
        },
    )
    assert created.status_code == 303
    account = await stored(container)
    assert account.config["bot_token"] == TOKEN

    page = await client.get("/console/admin/channels")
    assert TOKEN not in page.text
    assert SECRET not in page.text
    assert TOKEN[-4:] in page.text  # masked, recognisable
    assert f"/webhooks/telegram/{account.id}" in page.text

    # Saving with the secret fields left empty keeps them; the other settings change.
    saved = await client.post(
        f"/console/admin/channels/{account.id}",
        data={
            "csrf_token": csrf,
            "config.bot_token": "",
            "config.webhook_secret": "",
            "config.api_base": "http://127.0.0.1:9",
        },
    )
    assert saved.status_code == 303
    account = await stored(container)
    assert (account.config["bot_token"], account.config["webhook_secret"]) == (TOKEN, SECRET)
    assert account.config["api_base"] == "http://127.0.0.1:9"
    assert account.is_active is False  # the box was not ticked


async def test_only_admins_reach_the_channel_settings(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    supervisor = await make_staff(Role.SUPERVISOR)
    csrf = await sign_in(client, supervisor.email)
    assert (await client.get("/console/admin/channels")).status_code == 403
    refused = await client.post(
        "/console/admin/channels", data={"csrf_token": csrf, "channel": "telegram", "name": "x"}
    )
    assert refused.status_code == 403
    page = await client.get("/console")
    assert "/console/admin/channels" not in page.text
    assert re.search(r"csrf_token", page.text)
