"""A visitor who claims a known customer's e-mail sees nothing of that customer until the e-mailed code."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from starlette.testclient import TestClient

from helpline.bootstrap import build_container
from helpline.config import Settings
from helpline.domain.conversations import Channel
from helpline.domain.identities import IdentityKind
from helpline.services.channel_accounts import do_ensure_channel_account
from helpline.services.contacts import ContactSpec, do_create_contact
from helpline.web.app import create_app
from tests.integration.live_server import free_port


@dataclass
class Mailbox:
    """A real SMTP server on loopback that keeps what it receives."""

    messages: list[Any] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


def test_code_links_the_visitor_to_the_known_contact(
    tmp_path: Path, sqlite_template: Path, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    shutil.copy(sqlite_template, tmp_path / "h.db")
    container = build_container(
        Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path}/h.db",
            cookie_secure=False,
            smtp_url=f"smtp://127.0.0.1:{port}",
            mail_from="desk@lottery.example",
        )
    )
    with TestClient(create_app(container)) as tc:

        async def seed() -> int:
            async with container.uow() as uow:
                await do_ensure_channel_account(uow, Channel.WEBCHAT, "Website")
                known = await do_create_contact(
                    uow,
                    ContactSpec(
                        name="Мария Иванова",
                        identities=[
                            (IdentityKind.EMAIL, "maria@example.com"),
                            (IdentityKind.PHONE, "+79123456789"),
                        ],
                    ),
                )
                await uow.commit()
                return known.id

        known_id = tc.portal.call(seed)
        # Maria wrote on the web chat before (as a known customer), so her record has web chat history.
        tc.portal.call(_earlier_chat, container)
        new_token = tc.post("/widget/v1/session", json={}).json()["token"]
        visitor = {"X-Visitor-Token": new_token}
        tc.post("/widget/v1/messages", json={"text": "hello again", "client_id": "n1"}, headers=visitor)
        answer = tc.post(
            "/widget/v1/profile", json={"name": "Maria", "phone": "+7 912 345 67 89"}, headers=visitor
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["verification_sent_to"] == "m***@example.com"
        assert len(box.messages) == 1
        mail = box.messages[0]
        assert mail["To"] == "maria@example.com"
        code = re.search(r"\b(\d{6})\b", mail.get_payload()).group(1)  # type: ignore[union-attr]
        # Before the code: only the visitor's own message.
        assert [m["text"] for m in tc.get("/widget/v1/messages", headers=visitor).json()] == ["hello again"]
        wrong = tc.post(
            "/widget/v1/verify", json={"code": "000000" if code != "000000" else "111111"}, headers=visitor
        )
        assert wrong.status_code == 422
        assert [m["text"] for m in tc.get("/widget/v1/messages", headers=visitor).json()] == ["hello again"]
        ok = tc.post("/widget/v1/verify", json={"code": code}, headers=visitor)
        assert ok.status_code == 200, ok.text
        assert [m["text"] for m in ok.json()] == ["my old question", "hello again"]
        staff_view = tc.portal.call(_contact_of_visitor, container, new_token)
        assert staff_view == known_id
        reused = tc.post("/widget/v1/verify", json={"code": code}, headers=visitor)
        assert reused.status_code == 422


async def _earlier_chat(container: Any) -> None:
    from datetime import UTC, datetime

    from helpline.domain.inbound import InboundMessage
    from helpline.services.inbound import ingest_inbound
    from helpline.storage.models import ChannelAccount

    async with container.uow() as uow:
        account = (
            await uow.session.execute(select(ChannelAccount.id).where(ChannelAccount.name == "Website"))
        ).scalar_one()
    await ingest_inbound(
        container.uow,
        InboundMessage(
            channel=Channel.WEBCHAT,
            channel_account_id=account,
            identity_kind=IdentityKind.EMAIL,
            identity_value="maria@example.com",
            text="my old question",
            provider_message_id="old-1",
            sent_at=datetime.now(UTC),
        ),
    )


async def _contact_of_visitor(container: Any, token: str) -> int:
    from helpline.services.webchat import visitor_by_token

    async with container.uow() as uow:
        visitor = await visitor_by_token(uow, token)
        assert visitor is not None
        return visitor.contact_id


def test_guessing_is_bounded(tmp_path: Path, sqlite_template: Path, mailbox: tuple[Mailbox, int]) -> None:
    box, port = mailbox
    shutil.copy(sqlite_template, tmp_path / "h.db")
    container = build_container(
        Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path}/h.db",
            cookie_secure=False,
            smtp_url=f"smtp://127.0.0.1:{port}",
        )
    )
    with TestClient(create_app(container)) as tc:

        async def seed() -> None:
            async with container.uow() as uow:
                await do_ensure_channel_account(uow, Channel.WEBCHAT, "Website")
                await do_create_contact(
                    uow, ContactSpec(identities=[(IdentityKind.EMAIL, "vip@example.com")])
                )
                await uow.commit()

        tc.portal.call(seed)
        visitor = {"X-Visitor-Token": tc.post("/widget/v1/session", json={}).json()["token"]}
        assert (
            tc.post("/widget/v1/profile", json={"email": "VIP@example.com"}, headers=visitor).status_code
            == 200
        )
        code = re.search(r"\b(\d{6})\b", box.messages[0].get_payload()).group(1)  # type: ignore[union-attr]
        wrong = "000000" if code != "000000" else "111111"
        for _ in range(5):
            assert tc.post("/widget/v1/verify", json={"code": wrong}, headers=visitor).status_code == 422
        locked = tc.post("/widget/v1/verify", json={"code": code}, headers=visitor)
        assert locked.status_code == 422
        assert "too many" in locked.text
        again = tc.post("/widget/v1/profile", json={"email": "vip@example.com"}, headers=visitor)
        assert again.status_code == 422  # a new code only after a pause
