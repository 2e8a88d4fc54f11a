"""Values a database cannot store: a NUL (U+0000), half a surrogate pair, integers beyond 64 bits.

Customers' messages from channels keep their words without the NUL (refusing them would lose
them: the provider retries); requests get a 422 naming the field and change nothing; and storage
refuses whatever else carries one, the same way on SQLite and PostgreSQL.
"""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from helpline.bootstrap import Container
from helpline.domain.errors import DomainError
from helpline.domain.users import Role
from helpline.storage.models import Contact, KnowledgeArticle, Message
from helpline.storage.param_guard import holds_huge_integer, holds_lone_surrogate, holds_nul
from tests.integration.conftest import MakeStaff
from tests.integration.test_api_conversations import account, inbound


async def test_a_channel_message_with_a_nul_is_stored_without_it(container: Container) -> None:
    acc = await account(container)
    result = await inbound(container, acc, "42\x00", "where is\x00 my prize?", "nul-1")
    again = await inbound(container, acc, "42", "where is my prize?", "nul-1\x00")
    assert again.duplicate
    assert again.message_id == result.message_id
    async with container.uow() as uow:
        message = await uow.session.get(Message, result.message_id)
        assert message is not None
        assert message.text == "where is my prize?"


async def test_a_reply_with_a_nul_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, container: Container, make_staff: MakeStaff
) -> None:
    acc = await account(container)
    agent = await make_staff(Role.AGENT)
    conv = await inbound(container, acc, "7", "help", "nul-2")
    reply = await client.post(
        f"/api/v1/conversations/{conv.conversation_id}/messages",
        json={"text": "Let me\x00 check."},
        headers=agent.headers,
    )
    assert reply.status_code == 422
    assert "NUL" in reply.text
    assert "text" in reply.text
    async with container.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Message)) == 1


@pytest.mark.parametrize(
    "row",
    [
        Contact(name="Ivan\x00"),
        KnowledgeArticle(intent="nul_title", title={"en": "Prize\x00"}, answer={}, questions={}),
    ],
    ids=["text column", "json column"],
)
async def test_storage_refuses_a_nul_on_every_engine(container: Container, row: object) -> None:
    async with container.uow() as uow:
        uow.session.add(row)
        with pytest.raises(DomainError, match="NUL"):
            await uow.commit()


def test_the_guard_tells_an_escaped_nul_from_a_written_backslash() -> None:
    assert holds_nul('{"en": "a\\u0000b"}')  # what json.dumps makes of "a\x00b"
    assert not holds_nul('{"en": "a\\\\u0000b"}')  # the text a\u0000b, backslash and all
    assert holds_nul('{"en": "a\\\\\\u0000b"}')  # a backslash, then a NUL
    assert holds_nul({"p": ("x", ["y\x00"])})
    assert not holds_nul({"p": ("x", ["y"], 3, None)})


HUGE = "99999999999999999999"


async def test_an_id_beyond_64_bits_is_a_422_not_a_crash(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    admin = await make_staff(Role.ADMIN)
    for url in (f"/api/v1/conversations/{HUGE}", f"/api/v1/contacts/{HUGE}", f"/api/v1/users/{HUGE}"):
        answer = await client.get(url, headers=admin.headers)
        assert answer.status_code == 422, (url, answer.text)
        assert "out of range" in answer.text
    fits = await client.get("/api/v1/conversations/999999", headers=admin.headers)
    assert fits.status_code == 404


def test_the_guard_knows_the_64_bit_range() -> None:
    assert not holds_huge_integer({"a": 2**63 - 1, "b": -(2**63), "c": [True, 3]})
    assert holds_huge_integer({"a": [2**63]})
    assert holds_huge_integer((-(2**63) - 1,))


async def test_half_a_surrogate_pair_is_replaced_in_channel_messages_and_refused_in_requests(
    client: httpx.AsyncClient, container: Container, make_staff: MakeStaff
) -> None:
    acc = await account(container)
    result = await inbound(container, acc, "43", "broken emoji \ud83d here", "surrogate-1")
    async with container.uow() as uow:
        message = await uow.session.get(Message, result.message_id)
        assert message is not None
        assert message.text == "broken emoji \ufffd here"
    agent = await make_staff(Role.AGENT)
    reply = await client.post(
        f"/api/v1/conversations/{result.conversation_id}/messages",
        content='{"text": "half \\ud83d"}',
        headers={**agent.headers, "Content-Type": "application/json"},
    )
    assert reply.status_code == 422
    assert "unicode" in reply.text
    echoed = await client.post(  # a 422 names the field, never repeats the value
        f"/api/v1/conversations/{result.conversation_id}/messages",
        json={"text": ["secret-value-123"]},
        headers=agent.headers,
    )
    assert echoed.status_code == 422
    assert echoed.json()["detail"][0]["loc"] == ["body", "text"]
    assert "secret-value-123" not in echoed.text
    async with container.uow() as uow:
        uow.session.add(Contact(name="Ivan \udc00"))
        with pytest.raises(DomainError, match="surrogate"):
            await uow.commit()


def test_the_guard_finds_a_lone_surrogate_anywhere() -> None:
    assert holds_lone_surrogate({"a": ["x", "\ud83d"]})
    assert not holds_lone_surrogate({"a": ["x", "😀", 5]})
