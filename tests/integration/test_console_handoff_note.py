"""Staff-only notes in the timeline: the one a bot hand-off leaves is stored in English and read
in each agent's language; the one a transfer carries is the transferring agent's."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select, update

from helpline.bootstrap import Container
from helpline.demo_data import seed_self_service
from helpline.domain.conversations import Channel
from helpline.domain.flows.runtime import HandoffReason
from helpline.domain.identities import IdentityKind
from helpline.domain.inbound import InboundMessage
from helpline.domain.users import Role
from helpline.services.bot_sessions import handoff_note
from helpline.services.channel_accounts import do_ensure_channel_account
from helpline.services.inbound import ingest_inbound
from helpline.services.users import do_create_team
from helpline.storage.models import BotSession, Conversation, FlowVersion, Message, User
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


@pytest.mark.parametrize(
    ("language", "written"),
    [("ru", "попросил оператора по выигрышам"), ("ar", "طلب موظفًا بخصوص الجوائز"), ("en", None)],
)
async def test_a_flows_reason_written_per_language_reads_in_the_agents_language(
    client: httpx.AsyncClient, make_staff: MakeStaff, container: Container, language: str, written: str | None
) -> None:
    """The demo flow words its hand-off reasons in ru, en and ar: the note in the transcript and
    the bot report show the reader's, although the session stores the English one."""
    english = "asked for an operator about prizes"
    conversation_id = await webchat_conversation(container, f"v-note-{language}")
    supervisor = await make_staff(Role.SUPERVISOR)
    now = datetime.now(UTC)
    async with container.uow() as uow:
        await seed_self_service(uow)  # the demo's articles and its flow
        version_id = await uow.session.scalar(select(func.max(FlowVersion.id)))
        conv = await uow.session.get(Conversation, conversation_id)
        assert conv is not None
        uow.session.add(handoff_note(conv, english, now))
        uow.session.add(
            BotSession(
                conversation_id=conversation_id,
                flow_version_id=version_id,
                channel="webchat",
                status="ended",
                state={},
                outcome="handed_off",
                handoff_reason=english,
                answered=[],
                started_at=now,
                last_activity_at=now,
                ended_at=now,
            )
        )
        await uow.session.execute(update(User).where(User.id == supervisor.id).values(ui_language=language))
        await uow.commit()

    await sign_in(client, supervisor.email)
    page = (await client.get(f"/console/conversations/{conversation_id}")).text
    report = (await client.get("/console/reports/bot")).text

    shown = written or english
    for text in (page, report):
        assert shown in text
        assert (english in text) == (written is None)
    if language == "ru":
        assert f"Передано ботом: {written}" in page


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
