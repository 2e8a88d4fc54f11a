"""The agents' websocket: authenticated, and each agent only hears about conversations they may see."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from starlette.testclient import TestClient

from helpline.bootstrap import build_container
from helpline.domain.conversations import Channel
from helpline.domain.identities import IdentityKind
from helpline.domain.inbound import InboundMessage
from helpline.domain.users import Role
from helpline.services.auth import do_create_api_token
from helpline.services.channel_accounts import do_ensure_channel_account
from helpline.services.inbound import ingest_inbound
from helpline.services.users import UserSpec, do_create_team, do_create_user
from helpline.storage.models import TeamMember
from helpline.web.app import create_app
from tests.conftest import make_settings


def test_events_follow_the_access_rule(tmp_path: Path, sqlite_template: Path) -> None:
    shutil.copy(sqlite_template, tmp_path / "h.db")
    container = build_container(make_settings(f"sqlite+aiosqlite:///{tmp_path}/h.db"))
    with TestClient(create_app(container)) as tc:

        async def seed() -> dict[str, object]:
            async with container.uow() as uow:
                sales = await do_create_team(uow, "Sales")
                support = await do_create_team(uow, "Support")
                tokens: dict[str, object] = {"sales": sales.id, "support": support.id}
                for key, role, team in [
                    ("in_sales", Role.AGENT, sales.id),
                    ("in_support", Role.AGENT, support.id),
                    ("boss", Role.SUPERVISOR, None),
                ]:
                    user = await do_create_user(
                        uow,
                        UserSpec(email=f"{key}@t.test", name=key, password="long enough password", role=role),
                    )
                    if team is not None:
                        uow.session.add(TeamMember(team_id=team, user_id=user.id))
                    tokens[key] = (await do_create_api_token(uow, user.id, "ws")).token
                account = await do_ensure_channel_account(uow, Channel.WEBCHAT, "site")
                tokens["account"] = account.id
                sales_site = await do_ensure_channel_account(uow, Channel.WEBCHAT, "shop", team_id=sales.id)
                tokens["sales_account"] = sales_site.id
                await uow.commit()
            return tokens

        seeded = tc.portal.call(seed)

        def headers(key: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {seeded[key]}"}

        async def customer_writes(pid: str, account: str = "account", visitor: str = "visitor-1") -> int:
            result = await ingest_inbound(
                container.uow,
                InboundMessage(
                    channel=Channel.WEBCHAT,
                    channel_account_id=int(str(seeded[account])),
                    identity_kind=IdentityKind.WEBCHAT,
                    identity_value=visitor,
                    text=f"message {pid}",
                    provider_message_id=pid,
                    sent_at=datetime.now(UTC),
                ),
            )
            return result.conversation_id

        with (
            tc.websocket_connect("/api/v1/events", headers=headers("in_sales")) as sales_ws,
            tc.websocket_connect("/api/v1/events", headers=headers("in_support")) as support_ws,
            tc.websocket_connect("/api/v1/events", headers=headers("boss")) as boss_ws,
        ):
            for ws in (sales_ws, support_ws, boss_ws):
                assert ws.receive_json()["type"] == "hello"
            conv = tc.portal.call(customer_writes, "m1")
            # Not yet routed to a team: everyone may pick it up.
            for ws in (sales_ws, support_ws, boss_ws):
                assert ws.receive_json() == {
                    "type": "conversation.created",
                    "conversation_id": conv,
                    "contact_id": 1,
                }
                assert ws.receive_json()["type"] == "message.created"
            routed = tc.post(
                f"/api/v1/conversations/{conv}/assign",
                json={"team_id": seeded["support"]},
                headers=headers("boss"),
            )
            assert routed.status_code == 200
            assert support_ws.receive_json()["type"] == "conversation.assigned"
            assert boss_ws.receive_json()["type"] == "conversation.assigned"
            tc.portal.call(customer_writes, "m2")
            assert support_ws.receive_json()["type"] == "message.created"
            assert boss_ws.receive_json()["type"] == "message.created"
            # The sales agent heard nothing after routing: the next thing it gets is a later, visible event.
            tc.post(
                f"/api/v1/conversations/{conv}/assign",
                json={"team_id": seeded["sales"]},
                headers=headers("boss"),
            )
            assert sales_ws.receive_json()["type"] == "conversation.assigned"
            assert boss_ws.receive_json()["type"] == "conversation.assigned"
            # An account with an inbox team: its new conversations reach that team (and supervisors) only.
            shop_conv = tc.portal.call(customer_writes, "s1", "sales_account", "visitor-2")
            for ws in (sales_ws, boss_ws):
                created = ws.receive_json()
                assert created["type"] == "conversation.created"
                assert created["conversation_id"] == shop_conv
                assert ws.receive_json()["type"] == "message.created"
            tc.portal.call(customer_writes, "m3")  # visitor-1's conversation, now with sales
            assert sales_ws.receive_json()["type"] == "message.created"
            tc.post(
                f"/api/v1/conversations/{conv}/assign",
                json={"team_id": seeded["support"]},
                headers=headers("boss"),
            )
            got = support_ws.receive_json()
            assert got["type"] == "conversation.assigned"  # and not the shop's conversation
            assert got["conversation_id"] == conv
