"""Staff-only notes in the timeline: the one a bot hand-off leaves is stored in English and read
in each agent's language; the one a transfer carries is the transferring agent's."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy import select, update

from helpline.bootstrap import Container
from helpline.domain.conversations import Channel
from helpline.domain.flows.runtime import HandoffReason
from helpline.domain.identities import IdentityKind
from helpline.domain.inbound import InboundMessage
from helpline.domain.users import Role
from helpline.services.bot_sessions import handoff_note
from helpline.services.channel_accounts import do_ensure_channel_account
from helpline.services.inbound import ingest_inbound
from helpline.services.users import do_create_team
from helpline.storage.models import Conversation, Message, User
from tests.integration.conftest import MakeStaff
from tests.integration.test_console_channels import sign_in


async def webchat_conversation(container: Container, visitor: str) -> int:
    async with container.uow() as uow:
        web = await do_ensure_channel_account(uow, Channel.WEBCHAT, "Site")
        await uow.commit()
    stored = await ingest_inbound(
        container.uow,
        InboundMessage(
            channel=Channel.WEBCHAT,
            channel_account_id=web.id,
            identity_kind=IdentityKind.WEBCHAT,
            identity_value=visitor,
            text="какая погода на Марсе",
            provider_message_id=f"{visitor}-1",
            sent_at=datetime.now(UTC),
        ),
    )
    return stored.conversation_id


async def test_a_hand_off_note_reads_in_the_agents_language(
    client: httpx.AsyncClient, make_staff: MakeStaff, container: Container
) -> None:
    conversation_id = await webchat_conversation(container, "v-note-1")
    supervisor = await make_staff(Role.SUPERVISOR)
    async with container.uow() as uow:
        conv = await uow.session.get(Conversation, conversation_id)
        assert conv is not None
        for reason in (HandoffReason.NOT_SURE.value, "asked for an operator about prizes"):
            uow.session.add(handoff_note(conv, reason, datetime.now(UTC)))
        await uow.session.execute(update(User).where(User.id == supervisor.id).values(ui_language="ru"))
        await uow.commit()

    await sign_in(client, supervisor.email)
    page = (await client.get(f"/console/conversations/{conversation_id}")).text

    assert "Передано ботом: бот не уверен в ответе" in page
    assert (
        "Передано ботом: asked for an operator about prizes" in page
    )  # a flow's reason, as its admin wrote it
    assert "Handed over by the bot" not in page
    # The customer card names languages as the inbox filter does, not by their codes.
    assert '<option value="ar" >Арабский</option>' in page


async def test_a_transfer_note_is_the_transferring_agents_internal_note(
    client: httpx.AsyncClient, make_staff: MakeStaff, container: Container
) -> None:
    conversation_id = await webchat_conversation(container, "v-note-2")
    supervisor = await make_staff(Role.SUPERVISOR)
    async with container.uow() as uow:
        team = await do_create_team(uow, "Payments")
        await uow.commit()
    csrf = await sign_in(client, supervisor.email)
    moved = await client.post(
        f"/console/conversations/{conversation_id}/assign",
        data={"csrf_token": csrf, "team_id": str(team.id), "note": "Needs the payments team"},
    )
    assert moved.status_code == 303
    async with container.uow() as uow:
        note = await uow.session.scalar(select(Message).where(Message.text == "Needs the payments team"))
    assert note is not None
    assert (note.author_kind, note.author_user_id) == ("agent", supervisor.id)
    assert (note.is_internal, note.delivery_status, note.conversation_id) == (True, "sent", conversation_id)
