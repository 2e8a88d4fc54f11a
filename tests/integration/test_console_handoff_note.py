"""The note a bot hand-off leaves is stored in English and read in each agent's language."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy import update

from helpline.bootstrap import Container
from helpline.domain.conversations import Channel
from helpline.domain.flows.runtime import HandoffReason
from helpline.domain.identities import IdentityKind
from helpline.domain.inbound import InboundMessage
from helpline.domain.users import Role
from helpline.services.bot_sessions import handoff_note
from helpline.services.channel_accounts import do_ensure_channel_account
from helpline.services.inbound import ingest_inbound
from helpline.storage.models import Conversation, User
from tests.integration.conftest import MakeStaff
from tests.integration.test_console_channels import sign_in


async def test_a_hand_off_note_reads_in_the_agents_language(
    client: httpx.AsyncClient, make_staff: MakeStaff, container: Container
) -> None:
    async with container.uow() as uow:
        web = await do_ensure_channel_account(uow, Channel.WEBCHAT, "Site")
        await uow.commit()
    stored = await ingest_inbound(
        container.uow,
        InboundMessage(
            channel=Channel.WEBCHAT,
            channel_account_id=web.id,
            identity_kind=IdentityKind.WEBCHAT,
            identity_value="v-note-1",
            text="какая погода на Марсе",
            provider_message_id="note-1",
            sent_at=datetime.now(UTC),
        ),
    )
    supervisor = await make_staff(Role.SUPERVISOR)
    async with container.uow() as uow:
        conv = await uow.session.get(Conversation, stored.conversation_id)
        assert conv is not None
        for reason in (HandoffReason.NOT_SURE.value, "asked for an operator about prizes"):
            uow.session.add(handoff_note(conv, reason, datetime.now(UTC)))
        await uow.session.execute(update(User).where(User.id == supervisor.id).values(ui_language="ru"))
        await uow.commit()

    await sign_in(client, supervisor.email)
    page = (await client.get(f"/console/conversations/{stored.conversation_id}")).text

    assert "Передано ботом: бот не уверен в ответе" in page
    assert (
        "Передано ботом: asked for an operator about prizes" in page
    )  # a flow's reason, as its admin wrote it
    assert "Handed over by the bot" not in page
