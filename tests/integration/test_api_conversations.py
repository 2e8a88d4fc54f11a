"""Conversations over the REST API: inbound ingest, listing with filters, access, assign, status, reply."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from helpline.bootstrap import Container
from helpline.domain.contacts import Language
from helpline.domain.conversations import Channel
from helpline.domain.identities import IdentityKind
from helpline.domain.inbound import InboundMessage
from helpline.domain.users import Role
from helpline.services.channel_accounts import do_ensure_channel_account
from helpline.services.inbound import IngestResult, ingest_inbound
from helpline.services.users import do_create_team
from tests.integration.conftest import MakeStaff


async def account(container: Container, channel: Channel = Channel.TELEGRAM) -> int:
    async with container.uow() as uow:
        acc = await do_ensure_channel_account(uow, channel, f"{channel.value} test")
        await uow.commit()
        return acc.id


async def inbound(
    container: Container,
    account_id: int,
    who: str,
    text: str,
    pid: str | None,
    channel: Channel = Channel.TELEGRAM,
    kind: IdentityKind = IdentityKind.TELEGRAM,
    language: Language | None = None,
) -> IngestResult:
    return await ingest_inbound(
        container.uow,
        InboundMessage(
            channel=channel,
            channel_account_id=account_id,
            identity_kind=kind,
            identity_value=who,
            text=text,
            provider_message_id=pid,
            sent_at=datetime.now(UTC),
            sender_name=f"Customer {who}",
            language=language,
        ),
    )


async def team(container: Container, name: str) -> int:
    async with container.uow() as uow:
        t = await do_create_team(uow, name)
        await uow.commit()
        return t.id


async def test_ingest_is_idempotent_and_threads_messages(container: Container) -> None:
    acc = await account(container)
    first = await inbound(container, acc, "1001", "Когда следующий тираж?", "m1", language=Language.RU)
    retry = await inbound(container, acc, "1001", "Когда следующий тираж?", "m1", language=Language.RU)
    second = await inbound(container, acc, "1001", "И где смотреть результаты?", "m2")
    other = await inbound(container, acc, "2002", "hello", "m3")
    assert retry.duplicate
    assert retry.message_id == first.message_id
    assert not second.duplicate
    assert second.conversation_id == first.conversation_id
    assert second.contact_id == first.contact_id
    assert other.contact_id != first.contact_id
    assert other.conversation_id != first.conversation_id
    # The same provider id on another channel account is a different message.
    acc2 = await account(container, Channel.VIBER)
    elsewhere = await inbound(
        container, acc2, "1001", "hi", "m1", channel=Channel.VIBER, kind=IdentityKind.VIBER
    )
    assert not elsewhere.duplicate


async def test_list_filters_and_detail_with_history(
    client: httpx.AsyncClient, container: Container, make_staff: MakeStaff
) -> None:
    acc = await account(container)
    ru = await inbound(container, acc, "1", "Здравствуйте", "a", language=Language.RU)
    ar = await inbound(container, acc, "2", "مرحبا، متى السحب القادم؟", "b", language=Language.AR)
    supervisor = await make_staff(Role.SUPERVISOR)
    listed = await client.get("/api/v1/conversations", params={"language": "ar"}, headers=supervisor.headers)
    assert [c["id"] for c in listed.json()] == [ar.conversation_id]
    both = await client.get(
        "/api/v1/conversations",
        params=[("status", "open"), ("channel", "telegram")],
        headers=supervisor.headers,
    )
    assert {c["id"] for c in both.json()} == {ru.conversation_id, ar.conversation_id}
    tagged = await client.put(
        f"/api/v1/conversations/{ru.conversation_id}/tags",
        json={"tags": ["Prize", "VIP"]},
        headers=supervisor.headers,
    )
    assert tagged.json()["tags"] == ["prize", "vip"]
    by_tag = await client.get("/api/v1/conversations", params={"tag": "vip"}, headers=supervisor.headers)
    assert [c["id"] for c in by_tag.json()] == [ru.conversation_id]
    no_match = await client.get("/api/v1/conversations", params={"tag": "vi"}, headers=supervisor.headers)
    assert no_match.json() == []
    bad = await client.get("/api/v1/conversations", params={"status": "sleeping"}, headers=supervisor.headers)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "status", 0]
    detail = (
        await client.get(f"/api/v1/conversations/{ar.conversation_id}", headers=supervisor.headers)
    ).json()
    assert detail["contact"]["id"] == ar.contact_id
    assert [m["text"] for m in detail["messages"]] == ["مرحبا، متى السحب القادم؟"]
    assert detail["messages"][0]["direction"] == "inbound"


async def test_agents_see_only_their_teams_and_unrouted(
    client: httpx.AsyncClient, container: Container, make_staff: MakeStaff
) -> None:
    acc = await account(container)
    sales, support = await team(container, "Sales"), await team(container, "Support")
    agent = await make_staff(Role.AGENT, team_ids=(sales,))
    outsider = await make_staff(Role.AGENT, team_ids=(support,))
    supervisor = await make_staff(Role.SUPERVISOR)
    conv = await inbound(container, acc, "7", "help", "x1")
    routed = await client.post(
        f"/api/v1/conversations/{conv.conversation_id}/assign",
        json={"team_id": support},
        headers=supervisor.headers,
    )
    assert routed.status_code == 200, routed.text
    hidden = await client.get(f"/api/v1/conversations/{conv.conversation_id}", headers=agent.headers)
    assert hidden.status_code == 404
    assert (await client.get("/api/v1/conversations", headers=agent.headers)).json() == []
    reply = await client.post(
        f"/api/v1/conversations/{conv.conversation_id}/messages", json={"text": "hi"}, headers=agent.headers
    )
    assert reply.status_code == 404
    seen = await client.get("/api/v1/conversations", headers=outsider.headers)
    assert [c["id"] for c in seen.json()] == [conv.conversation_id]
    # An agent may not hand work to a team they are not in.
    grab = await client.post(
        f"/api/v1/conversations/{conv.conversation_id}/assign",
        json={"assignee_id": outsider.id, "team_id": sales},
        headers=outsider.headers,
    )
    assert grab.status_code == 403
    after = (
        await client.get(f"/api/v1/conversations/{conv.conversation_id}", headers=supervisor.headers)
    ).json()
    assert after["team_id"] == support
    assert after["assignee_id"] is None


async def test_reply_status_and_notes(
    client: httpx.AsyncClient, container: Container, make_staff: MakeStaff
) -> None:
    acc = await account(container)
    agent = await make_staff()
    conv = await inbound(container, acc, "9", "where is my prize?", "p1")
    cid = conv.conversation_id
    note = await client.post(
        f"/api/v1/conversations/{cid}/messages",
        json={"text": "VIP, be gentle", "internal": True},
        headers=agent.headers,
    )
    assert note.status_code == 201
    assert note.json()["is_internal"] is True
    reply = await client.post(
        f"/api/v1/conversations/{cid}/messages", json={"text": "Let me check."}, headers=agent.headers
    )
    assert reply.status_code == 201
    body = reply.json()
    assert body["direction"] == "outbound"
    assert body["author_user_id"] == agent.id
    assert body["delivery_status"] == "queued"
    detail = (await client.get(f"/api/v1/conversations/{cid}", headers=agent.headers)).json()
    assert detail["assignee_id"] == agent.id  # replying takes an unassigned conversation
    empty = await client.post(
        f"/api/v1/conversations/{cid}/messages", json={"text": ""}, headers=agent.headers
    )
    assert empty.status_code == 422
    resolved = await client.post(
        f"/api/v1/conversations/{cid}/status", json={"status": "resolved"}, headers=agent.headers
    )
    assert resolved.json()["status"] == "resolved"
    assert resolved.json()["resolved_at"]
    # The customer writing back soon after resolution reopens the same conversation.
    back = await inbound(container, acc, "9", "thanks, one more thing", "p2")
    assert back.conversation_id == cid
    reopened = (await client.get(f"/api/v1/conversations/{cid}", headers=agent.headers)).json()
    assert reopened["status"] == "open"
    assert reopened["resolved_at"] is None
    assert reopened["last_message_at"] > resolved.json()["resolved_at"]
    # Waiting on the customer (pending), their answer puts it back in the agents' queue.
    pending = await client.post(
        f"/api/v1/conversations/{cid}/status", json={"status": "pending"}, headers=agent.headers
    )
    assert pending.json()["status"] == "pending"
    assert (await inbound(container, acc, "9", "here is the number", "p-pending")).conversation_id == cid
    answered = (await client.get(f"/api/v1/conversations/{cid}", headers=agent.headers)).json()
    assert answered["status"] == "open"
    closed = await client.post(
        f"/api/v1/conversations/{cid}/status", json={"status": "closed"}, headers=agent.headers
    )
    assert closed.status_code == 200
    refused = await client.post(
        f"/api/v1/conversations/{cid}/status", json={"status": "open"}, headers=agent.headers
    )
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "status"]
    new = await inbound(container, acc, "9", "hello again", "p3")
    assert new.conversation_id != cid
    assert new.contact_id == conv.contact_id
    history = await client.get(
        "/api/v1/conversations", params={"contact_id": conv.contact_id}, headers=agent.headers
    )
    assert {c["id"] for c in history.json()} == {cid, new.conversation_id}
