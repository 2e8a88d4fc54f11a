"""A number the customer writes or shares (a Viber contact card, a typed phone) is offered to the
agent in the customer card: merge with the contact that has it, or add it. Never linked by itself."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from helpline.bootstrap import Container
from helpline.domain.conversations import Channel
from helpline.domain.identities import IdentityKind
from helpline.domain.inbound import InboundMessage
from helpline.domain.users import Role
from helpline.services.channel_accounts import do_ensure_channel_account
from helpline.services.contacts import ContactSpec, contact_identities, do_create_contact
from helpline.services.inbound import ingest_inbound
from tests.integration.conftest import MakeStaff
from tests.integration.test_console_channels import sign_in


async def test_a_shared_number_is_offered_for_merge_and_a_new_one_for_adding(
    client: httpx.AsyncClient, make_staff: MakeStaff, container: Container
) -> None:
    async with container.uow() as uow:
        known = await do_create_contact(
            uow,
            ContactSpec(name="Мария <b>Иванова</b>", identities=[(IdentityKind.PHONE, "+7 912 345-67-89")]),
        )
        viber = await do_ensure_channel_account(uow, Channel.VIBER, "Viber")
        await uow.commit()
    texts = ["Contact: Мария +79123456789", "и второй мой номер 8 999 000-11-22, заказ 123456789"]
    for n, text in enumerate(texts):
        stored = await ingest_inbound(
            container.uow,
            InboundMessage(
                channel=Channel.VIBER,
                channel_account_id=viber.id,
                identity_kind=IdentityKind.VIBER,
                identity_value="01234567890A=",
                text=text,
                provider_message_id=f"viber-{n}",
                sent_at=datetime.now(UTC),
            ),
        )
    assert stored.contact_id != known.id  # the card alone links nothing

    supervisor = await make_staff(Role.SUPERVISOR)
    csrf = await sign_in(client, supervisor.email)
    page = await client.get(f"/console/conversations/{stored.conversation_id}")
    assert page.status_code == 200
    clues = page.text.split('class="phone-clues"')[1].split("</ul>")[0]
    assert "+79123456789" in clues
    assert f"#{known.id}" in clues
    assert "Мария &lt;b&gt;Иванова&lt;/b&gt;" in clues  # the other contact's name, escaped
    assert f'name="source_contact_id" value="{known.id}"' in clues
    assert 'name="value" value="+79990001122"' in clues  # nobody has it: offered for adding
    assert ">123456789<" not in clues
    assert "+7123456789" not in clues

    merged = await client.post(
        f"/console/contacts/{stored.contact_id}/merge",
        data={
            "csrf_token": csrf,
            "conversation_id": str(stored.conversation_id),
            "source_contact_id": str(known.id),
        },
    )
    assert merged.status_code == 303
    async with container.uow() as uow:
        phones = {i.value for i in (await contact_identities(uow, [stored.contact_id]))[stored.contact_id]}
    assert "+79123456789" in phones
    after = await client.get(f"/console/conversations/{stored.conversation_id}")
    remaining = after.text.split('class="phone-clues"')[1].split("</ul>")[0]
    assert "+79123456789" not in remaining
    assert "+79990001122" in remaining
