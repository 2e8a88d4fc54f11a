"""The web chat widget's API: visitor sessions, idempotent sends, live agent replies, CORS."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from helpline.bootstrap import build_container
from helpline.config import Settings
from helpline.demo_data import seed_self_service
from helpline.domain.conversations import Channel
from helpline.domain.users import Role
from helpline.services.auth import do_create_api_token
from helpline.services.channel_accounts import do_ensure_channel_account
from helpline.services.users import UserSpec, do_create_user
from helpline.web.app import create_app

SITE = "https://shop.example"


@contextmanager
def widget_client(
    tmp_path: Path, sqlite_template: Path, new_chats_per_hour: int = 120
) -> Iterator[tuple[TestClient, str]]:
    shutil.copy(sqlite_template, tmp_path / "h.db")
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/h.db",
        cookie_secure=False,
        widget_origins=(SITE,),
        new_chats_per_hour=new_chats_per_hour,
    )
    container = build_container(settings)

    async def seed() -> str:
        async with container.uow() as uow:
            await do_ensure_channel_account(uow, Channel.WEBCHAT, "Website")
            agent = await do_create_user(
                uow, UserSpec(email="a@t.test", name="Agent", password="long enough pw", role=Role.AGENT)
            )
            token = (await do_create_api_token(uow, agent.id, "t")).token
            await uow.commit()
            return token

    with TestClient(create_app(container)) as tc:
        yield tc, tc.portal.call(seed)


def test_visitor_round_trip_live(tmp_path: Path, sqlite_template: Path) -> None:
    with widget_client(tmp_path, sqlite_template) as (tc, staff_token):
        staff = {"Authorization": f"Bearer {staff_token}"}
        assert tc.post("/widget/v1/session", json={"account": "Nope"}).status_code == 404
        session = tc.post("/widget/v1/session", json={}).json()
        token = session["token"]
        assert token.startswith("hlv_")
        visitor = {"X-Visitor-Token": token}
        first = tc.post(
            "/widget/v1/messages", json={"text": "Здравствуйте!", "client_id": "c-1"}, headers=visitor
        )
        assert first.status_code == 201
        again = tc.post(
            "/widget/v1/messages", json={"text": "Здравствуйте!", "client_id": "c-1"}, headers=visitor
        )
        assert again.json()["id"] == first.json()["id"]
        assert again.json()["client_id"] == "c-1"
        bad = tc.post("/widget/v1/messages", json={"text": "", "client_id": "c-2"}, headers=visitor)
        assert bad.status_code == 422
        conversations = tc.get("/api/v1/conversations", headers=staff).json()
        assert len(conversations) == 1
        cid = conversations[0]["id"]
        detail = tc.get(f"/api/v1/conversations/{cid}", headers=staff).json()
        assert [m["text"] for m in detail["messages"]] == ["Здравствуйте!"]
        assert detail["contact"]["identities"][0]["value"] == session["visitor_id"]

        # The widget offers its token as a subprotocol (an address is logged); the server picks ours.
        with tc.websocket_connect("/widget/v1/ws", subprotocols=["helpline.visitor", token]) as ws:
            assert ws.accepted_subprotocol == "helpline.visitor"
            assert ws.receive_json()["type"] == "hello"
            tc.post(
                f"/api/v1/conversations/{cid}/messages",
                json={"text": "note", "internal": True},
                headers=staff,
            )
            tc.post(f"/api/v1/conversations/{cid}/typing", headers=staff)
            assert ws.receive_json() == {"type": "typing"}
            reply = tc.post(
                f"/api/v1/conversations/{cid}/messages", json={"text": "Добрый день!"}, headers=staff
            )
            got = ws.receive_json()
            assert got["type"] == "message"
            assert got["message"]["id"] == reply.json()["id"]
            assert got["message"]["text"] == "Добрый день!"
        # Resuming with the token: same visitor, the history without internal notes, and `after` paging.
        resumed = tc.post("/widget/v1/session", json={"token": token}).json()
        assert resumed["token"] is None
        assert resumed["visitor_id"] == session["visitor_id"]
        assert [m["text"] for m in resumed["messages"]] == ["Здравствуйте!", "Добрый день!"]
        later = tc.get(f"/widget/v1/messages?after={first.json()['id']}", headers=visitor).json()
        assert [m["text"] for m in later] == ["Добрый день!"]
        # Another visitor sees none of it.
        stranger = {"X-Visitor-Token": tc.post("/widget/v1/session", json={}).json()["token"]}
        assert tc.get("/widget/v1/messages", headers=stranger).json() == []


def test_cors_only_for_allowed_sites_and_only_on_the_widget_api(
    tmp_path: Path, sqlite_template: Path
) -> None:
    preflight = {
        "Origin": SITE,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-visitor-token",
    }
    with widget_client(tmp_path, sqlite_template) as (tc, _):
        ok = tc.options("/widget/v1/session", headers=preflight)
        assert ok.headers.get("access-control-allow-origin") == SITE
        assert "access-control-allow-credentials" not in ok.headers
        evil = tc.options("/widget/v1/session", headers={**preflight, "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in evil.headers
        staff_api = tc.get("/api/v1/me", headers={"Origin": SITE})
        assert "access-control-allow-origin" not in staff_api.headers
        assert tc.get("/widget.js").headers["content-type"].startswith("text/javascript")
        page = tc.get("/widget/demo?lang=ar")
        assert 'dir="rtl"' in page.text


def test_a_new_visitor_is_greeted_with_the_bots_menu_in_the_pages_language(
    tmp_path: Path, sqlite_template: Path
) -> None:
    """The chat opened empty: the menu came only after the customer wrote something."""
    with widget_client(tmp_path, sqlite_template) as (tc, _staff):
        assert tc.post("/widget/v1/session", json={"language": "ru"}).json()["greeting"] is None  # no flow
        tc.portal.call(seed_demo_flow, tc.app)

        first = tc.post("/widget/v1/session", json={"language": "ru"}).json()
        assert first["greeting"]["text"].startswith("Здравствуйте! Я бот службы поддержки")
        labels = [o["label"] for o in first["greeting"]["options"]]
        assert labels[0] == "Тиражи и результаты"
        assert labels[-1] == "Оператор"
        resumed = tc.post("/widget/v1/session", json={"token": first["token"], "language": "ar"}).json()
        assert resumed["greeting"]["text"].startswith("مرحبًا! أنا بوت")

        visitor = {"X-Visitor-Token": first["token"]}
        chosen = tc.post("/widget/v1/messages", json={"text": labels[0], "client_id": "c-1"}, headers=visitor)
        assert chosen.status_code == 201
        later = tc.post("/widget/v1/session", json={"token": first["token"], "language": "ru"}).json()
        assert later["greeting"] is None  # the conversation has begun: its messages say the rest
        assert tc.post("/widget/v1/session", json={"language": "de"}).status_code == 422


async def seed_demo_flow(app: Any) -> None:
    async with app.state.container.uow() as uow:
        await seed_self_service(uow)
        await uow.commit()


def test_new_chats_from_one_address_are_limited_and_the_widget_is_told_when_to_ask_again(
    tmp_path: Path, sqlite_template: Path
) -> None:
    with widget_client(tmp_path, sqlite_template, new_chats_per_hour=5) as (tc, _staff):
        first = tc.post("/widget/v1/session", json={}).json()
        for _ in range(5 - 1):
            assert tc.post("/widget/v1/session", json={}).status_code == 200
        refused = tc.post("/widget/v1/session", json={})
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 3600
        # A visitor who already has a chat goes on with it: only new chats are limited.
        resumed = tc.post("/widget/v1/session", json={"token": first["token"]})
        assert resumed.status_code == 200
        assert resumed.json()["visitor_id"] == first["visitor_id"]


def test_a_widget_cached_before_still_connects_with_its_token_in_the_address(
    tmp_path: Path, sqlite_template: Path
) -> None:
    with widget_client(tmp_path, sqlite_template) as (tc, _staff):
        token = tc.post("/widget/v1/session", json={}).json()["token"]
        with tc.websocket_connect(f"/widget/v1/ws?token={token}") as ws:
            assert ws.receive_json()["type"] == "hello"


def test_a_long_history_opens_on_its_newest_messages_and_pages_on_from_any_point(
    tmp_path: Path, sqlite_template: Path
) -> None:
    """The widget opened on the oldest 200 messages of a long history: the agent's latest reply
    never appeared."""
    with widget_client(tmp_path, sqlite_template) as (tc, staff_token):
        token = tc.post("/widget/v1/session", json={}).json()["token"]
        visitor = {"X-Visitor-Token": token}
        for n in range(230):
            sent = tc.post(
                "/widget/v1/messages", json={"text": f"message {n}", "client_id": f"c-{n}"}, headers=visitor
            )
            assert sent.status_code == 201
        staff = {"Authorization": f"Bearer {staff_token}"}
        (conversation,) = tc.get("/api/v1/conversations", headers=staff).json()
        tc.post(
            f"/api/v1/conversations/{conversation['id']}/messages", json={"text": "the reply"}, headers=staff
        )

        opened = tc.post("/widget/v1/session", json={"token": token}).json()["messages"]
        assert len(opened) == 200
        assert opened[-1]["text"] == "the reply"
        assert opened[0]["text"] == "message 31"
        ids = [m["id"] for m in opened]
        assert ids == sorted(ids)
        first_page = tc.get("/widget/v1/messages?after=0", headers=visitor).json()
        assert [m["text"] for m in first_page[:2]] == ["message 0", "message 1"]  # catching up pages on
        assert len(first_page) == 200


def test_a_customers_refusal_reads_in_the_widgets_language(tmp_path: Path, sqlite_template: Path) -> None:
    """The widget showed the server's English refusals on Russian and Arabic pages."""
    with widget_client(tmp_path, sqlite_template) as (tc, _staff):
        visitor = {"X-Visitor-Token": tc.post("/widget/v1/session", json={}).json()["token"]}
        english = tc.post("/widget/v1/profile", json={"phone": "12"}, headers=visitor)
        assert english.status_code == 422
        assert english.json()["detail"][0]["msg"] == "not a possible phone number"
        assert "content-language" not in english.headers
        for language in ("ru", "ar"):
            said = tc.post(
                "/widget/v1/profile", json={"phone": "12"}, headers={**visitor, "Accept-Language": language}
            )
            assert said.status_code == 422
            assert said.headers["content-language"] == language
            assert said.json()["detail"][0]["msg"] != "not a possible phone number"
        staff_api = tc.post(
            "/api/v1/auth/login", json={"email": "x", "password": "y"}, headers={"Accept-Language": "ru"}
        )
        assert "content-language" not in staff_api.headers  # programs keep the English texts
