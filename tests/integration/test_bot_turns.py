"""The self-service bot end to end below the browser: inbound message → bot turn in the worker →
bot replies stored (and delivered with native buttons), sessions ending as answered, handed off,
ticket or abandoned. Real classifier, real SQLite and PostgreSQL, the fake Telegram Bot API.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path

import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from helpline.bootstrap import Container, build_container
from helpline.channels.telegram.parse import parse_update
from helpline.demo_data import seed_self_service
from helpline.domain.access import Viewer
from helpline.domain.contacts import Language
from helpline.domain.conversations import AuthorKind, Channel
from helpline.domain.errors import Conflict
from helpline.domain.flows.model import Flow
from helpline.domain.flows.runtime import FlowRuntime, SessionState
from helpline.domain.identities import IdentityKind
from helpline.domain.inbound import InboundMessage
from helpline.domain.users import Role
from helpline.flows.loader import load_flow
from helpline.services.bot_sessions import (
    TurnContext,
    do_apply_turn,
    do_end_idle_sessions,
    load_turn,
    someone_online_in,
)
from helpline.services.channel_accounts import do_create_channel_account
from helpline.services.conversations import do_agent_reply
from helpline.services.flows import conversations_reason_texts, do_activate, do_deactivate, do_upload_flow
from helpline.services.inbound import ingest_inbound
from helpline.services.knowledge import (
    KIND_OUT_OF_SCOPE,
    do_delete_article,
    do_save_article,
    get_article,
    list_articles,
)
from helpline.services.users import UserSpec, do_create_team, do_create_user
from helpline.services.webchat import do_start_visitor
from helpline.storage.models import BotSession, Contact, Conversation, Message, OutboxItem, TeamMember, Ticket
from helpline.web.routes.widget import widget_messages
from tests.conftest import make_settings
from tests.fakes.serving import serving_in_thread
from tests.fakes.telegram_api import FakeTelegram, running_fake_telegram
from tests.fakes.viber_api import FakeViber, running_fake_viber
from tests.integration.conftest import MakeStaff

TOKEN = "515151:bot-turns-token"
ANSWERS = {
    row["intent"]: row["answer"]
    for row in map(
        json.loads, files("helpline.bot").joinpath("data/faq_articles.jsonl").read_text("utf-8").splitlines()
    )
}
LOTTERY = Path(__file__).parents[2] / "src/helpline/flows/examples/lottery.yaml"


def lottery_flow() -> Flow:
    loaded = load_flow(LOTTERY.read_text(encoding="utf-8"))
    assert loaded.flow is not None
    return loaded.flow


TELEGRAM_USER = 70001


@pytest.fixture
async def bot_container(database_url: str, tmp_path: Path) -> AsyncIterator[Container]:
    c = build_container(dataclasses.replace(make_settings(database_url), data_dir=str(tmp_path)))
    async with c.uow() as uow:
        await seed_self_service(uow)
        await uow.commit()
    yield c
    await c.close()


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with running_fake_telegram(TOKEN) as server:
        yield server


VIBER_TOKEN = "4453b6ac12345678-e02c5f12174805f9-9b4e7f2b1c3d5a7e"


@pytest.fixture
def viber() -> Iterator[FakeViber]:
    with running_fake_viber(VIBER_TOKEN) as server:
        yield server


class Chat:
    """A customer writing on one channel account, and what the bot answered."""

    def __init__(self, c: Container, account_id: int, channel: Channel, kind: IdentityKind, who: str) -> None:
        self.c, self.account_id, self.channel, self.kind, self.who = c, account_id, channel, kind, who
        self.seq = 0
        self.conversation_id = 0

    async def say(self, text: str) -> list[Message]:
        """Send `text`, let the worker run, return the bot's new messages."""
        self.seq += 1
        result = await ingest_inbound(
            self.c.uow,
            InboundMessage(
                channel=self.channel,
                channel_account_id=self.account_id,
                identity_kind=self.kind,
                identity_value=self.who,
                text=text,
                provider_message_id=f"{self.who}-{self.seq}",
                sent_at=datetime.now(UTC),
            ),
        )
        self.conversation_id = result.conversation_id
        worker = self.c.delivery_worker()
        while await worker.run_once():
            pass
        async with self.c.uow() as uow:
            return list(
                await uow.session.scalars(
                    select(Message)
                    .where(
                        Message.conversation_id == result.conversation_id,
                        Message.id > result.message_id,
                        Message.author_kind == AuthorKind.BOT.value,
                    )
                    .order_by(Message.id)
                )
            )

    async def conversation(self) -> Conversation:
        async with self.c.uow() as uow:
            conv = await uow.session.get(Conversation, self.conversation_id)
            assert conv is not None
            return conv

    async def sessions(self) -> list[BotSession]:
        async with self.c.uow() as uow:
            return list(
                await uow.session.scalars(
                    select(BotSession)
                    .where(BotSession.conversation_id == self.conversation_id)
                    .order_by(BotSession.id)
                )
            )


async def webchat(c: Container, visitor: str = "visitor-1") -> Chat:
    async with c.uow() as uow:
        site = await do_create_channel_account(uow, Channel.WEBCHAT, "site", {}, None)
        await uow.commit()
    return Chat(c, site.id, Channel.WEBCHAT, IdentityKind.WEBCHAT, visitor)


async def telegram_chat(c: Container, fake: FakeTelegram) -> Chat:
    async with c.uow() as uow:
        bot = await do_create_channel_account(
            uow, Channel.TELEGRAM, "bot", {"bot_token": TOKEN, "api_base": fake.base_url}, None
        )
        await uow.commit()
    return Chat(c, bot.id, Channel.TELEGRAM, IdentityKind.TELEGRAM, str(TELEGRAM_USER))


async def test_menu_answer_and_confirmation_resolve_without_a_person(bot_container: Container) -> None:
    chat = await webchat(bot_container)
    (greeting,) = await chat.say("Здравствуйте")
    assert greeting.text.startswith("Здравствуйте! Я бот")
    assert [o["digit"] for o in greeting.options or []] == ["1", "2", "3", "4", "5", "0"]
    assert greeting.delivery_status == "sent"  # the widget reads it from the store
    conv = await chat.conversation()
    assert conv.handler == "bot"
    assert conv.flow_version_id is not None

    (draws,) = await chat.say("Тиражи и результаты")  # a button press sends its label
    assert [o["label"] for o in draws.options or []][:2] == ["Когда следующий тираж", "Результаты тиражей"]
    answer, ask = await chat.say("2")
    assert answer.text == ANSWERS["draw_results"]["ru"]
    assert [o["digit"] for o in ask.options or []] == ["1", "2", "9", "0"]
    (glad,) = await chat.say("да")
    assert glad.text.startswith("Рады были помочь")

    conv = await chat.conversation()
    assert conv.status == "resolved"
    assert conv.handler == "bot"
    (session,) = await chat.sessions()
    assert session.outcome == "answered_confirmed"
    assert session.answered == ["draw_results"]


async def test_thanks_after_the_goodbye_is_answered_without_a_new_session(bot_container: Container) -> None:
    """ "спасибо!" after "glad I could help" greeted with the whole menu again, and counted as a
    new bot contact that was later abandoned."""
    chat = await webchat(bot_container)
    await chat.say("Здравствуйте")
    await chat.say("1")
    await chat.say("2")
    await chat.say("да")
    (welcome,) = await chat.say("спасибо большое!")
    assert welcome.text.startswith("Пожалуйста!")
    assert not welcome.options
    conv = await chat.conversation()
    assert conv.status == "resolved"
    assert len(await chat.sessions()) == 1
    # A question after that is a new contact with the bot, as before.
    (menu,) = await chat.say("привет")
    assert menu.text.startswith("Здравствуйте! Я бот")
    assert len(await chat.sessions()) == 2


async def test_thanks_opening_a_conversation_is_greeted_as_usual(bot_container: Container) -> None:
    chat = await webchat(bot_container)
    (greeting,) = await chat.say("спасибо")
    assert greeting.text.startswith("Здравствуйте! Я бот")
    assert len(await chat.sessions()) == 1


async def test_a_question_in_arabic_is_answered_in_arabic(bot_container: Container) -> None:
    chat = await webchat(bot_container)
    replies = await chat.say("متى موعد السحب القادم لليانصيب؟")
    assert replies[0].text == ANSWERS["next_draw_schedule"]["ar"]
    (session,) = await chat.sessions()
    assert session.answered == ["next_draw_schedule"]
    conversation = await chat.conversation()
    assert conversation.language == "ar"
    # The customer card learns it too (a language they chose themselves is never overwritten).
    async with bot_container.uow() as uow:
        contact = await uow.session.get(Contact, conversation.contact_id)
    assert contact is not None
    assert contact.language == "ar"


async def staff(c: Container, email: str, *, online: bool, team_ids: tuple[int, ...] = ()) -> None:
    async with c.uow() as uow:
        user = await do_create_user(
            uow, UserSpec(email=email, name=email, password="x" * 12, role=Role.AGENT)
        )
        user.presence = "online" if online else "offline"
        uow.session.add_all(TeamMember(team_id=t, user_id=user.id) for t in team_ids)
        await uow.commit()


async def test_a_low_confidence_question_is_handed_off_not_answered(bot_container: Container) -> None:
    await staff(bot_container, "online@bot.test", online=True)
    chat = await webchat(bot_container)
    await chat.say("привет")
    replies = await chat.say("какая погода будет завтра на Марсе и почём нынче картошка")
    (handoff,) = replies
    assert handoff.text.startswith("Соединяю вас с оператором")
    conv = await chat.conversation()
    assert conv.handler == "agents"
    assert conv.status == "open"
    (session,) = await chat.sessions()
    assert session.outcome == "handed_off"
    assert session.answered == []
    assert session.handoff_reason == "the bot was not sure of the answer"
    async with bot_container.uow() as uow:
        note = await uow.session.scalar(
            select(Message).where(Message.conversation_id == conv.id, Message.is_internal.is_(True))
        )
    assert note is not None
    assert "not sure" in note.text
    # From now on people answer: the customer's next message queues no bot turn.
    assert await chat.say("алло?") == []


async def test_operator_word_mid_flow_reaches_people_with_the_transcript(bot_container: Container) -> None:
    await staff(bot_container, "online@bot.test", online=True)
    chat = await webchat(bot_container)
    await chat.say("hi")
    (order_prompt,) = await chat.say("3")
    assert order_prompt.text.startswith("Please type your order number")
    (handoff,) = await chat.say("оператор")
    assert handoff.text.startswith("Соединяю") or handoff.text.startswith("I'm connecting")
    async with bot_container.uow() as uow:
        transcript = [
            (m.author_kind, m.text)
            for m in await uow.session.scalars(
                select(Message).where(Message.conversation_id == chat.conversation_id).order_by(Message.id)
            )
        ]
    assert [kind for kind, _ in transcript] == [
        "customer",
        "bot",
        "customer",
        "bot",
        "customer",
        "bot",
        "system",
    ]


async def test_a_reason_the_flow_words_per_language_is_stored_in_english_with_its_words_at_hand(
    bot_container: Container,
) -> None:
    await staff(bot_container, "online@bot.test", online=True)
    chat = await webchat(bot_container, "visitor-reason")
    await chat.say("здравствуйте")
    await chat.say("0")
    (session,) = await chat.sessions()
    english = "asked for an operator from the main menu"
    assert (session.outcome, session.handoff_reason) == ("handed_off", english)
    async with bot_container.uow() as uow:
        texts = await conversations_reason_texts(uow, {chat.conversation_id})
    assert texts[english]["ru"] == "попросил оператора в главном меню"


async def test_with_nobody_online_the_customer_is_told_so_and_still_waits_for_people(
    bot_container: Container,
) -> None:
    await staff(bot_container, "away@bot.test", online=False)
    chat = await webchat(bot_container)
    await chat.say("hello")
    (said,) = await chat.say("operator")
    assert said.text.startswith("All our operators are offline right now")
    conv = await chat.conversation()
    assert conv.handler == "agents"
    assert conv.status == "open"
    (session,) = await chat.sessions()
    assert session.outcome == "handed_off"


async def test_someone_online_counts_only_in_the_team_the_conversation_will_wait_in(
    bot_container: Container,
) -> None:
    async with bot_container.uow() as uow:
        billing = await do_create_team(uow, "Billing", "", [], [])
        sales = await do_create_team(uow, "Sales", "", [], [])
        site = await do_create_channel_account(uow, Channel.WEBCHAT, "shop", {}, billing.id)
        await uow.commit()
    await staff(bot_container, "sales@bot.test", online=True, team_ids=(sales.id,))
    await staff(bot_container, "billing@bot.test", online=False, team_ids=(billing.id,))
    await staff(bot_container, "floater@bot.test", online=True)
    chat = Chat(bot_container, site.id, Channel.WEBCHAT, IdentityKind.WEBCHAT, "visitor-teams")
    await chat.say("hello")
    conversation = await chat.conversation()
    assert conversation.team_id == billing.id  # its channel's team: where a queue-less hand-off waits
    async with bot_container.uow() as uow:
        assert not await someone_online_in(uow, billing.id)
        assert await someone_online_in(uow, sales.id)
        assert await someone_online_in(uow, None)  # no team's inbox: anyone online sees it
    (said,) = await chat.say("operator")
    assert said.text.startswith("All our operators are offline right now")


async def test_a_collected_order_number_becomes_a_ticket(bot_container: Container) -> None:
    async with bot_container.uow() as uow:
        deliveries = await do_create_team(uow, "Deliveries", "Orders and shipping", ["deliveries"], [])
        await uow.commit()
    chat = await webchat(bot_container)
    await chat.say("hello")
    await chat.say("3")
    wrong, again = await chat.say("my order")
    assert "6 to 12 digits" in wrong.text
    assert again.text.startswith("Please type your order number")
    (done,) = await chat.say("12345678")
    async with bot_container.uow() as uow:
        ticket = await uow.session.scalar(select(Ticket))
    assert ticket is not None
    assert ticket.fields == {"order_number": "12345678"}
    assert ticket.source == "bot"
    assert (
        done.text
        == f"Your request about order 12345678 is registered as #{ticket.id}. We will reply within a day."
    )
    (session,) = await chat.sessions()
    assert session.outcome == "ticket_created"
    # People take it from here: the conversation waits, open, in the ticket team's inbox, with
    # the ticket on top; the bot answers no more.
    conversation = await chat.conversation()
    assert (conversation.handler, conversation.status) == ("agents", "open")
    assert conversation.team_id == ticket.team_id == deliveries.id
    async with bot_container.uow() as uow:
        note = await uow.session.scalar(
            select(Message).where(Message.conversation_id == chat.conversation_id, Message.is_internal)
        )
    assert note is not None
    assert note.text == f"Ticket opened by the bot: #{ticket.id} Where is my order (order_number: 12345678)"
    assert await chat.say("hello?") == []


async def test_an_agent_reply_sends_the_bot_away(bot_container: Container, make_staff: MakeStaff) -> None:
    chat = await webchat(bot_container)
    await chat.say("hello")
    staff = await make_staff(Role.SUPERVISOR)
    async with bot_container.uow() as uow:
        viewer = Viewer(user_id=staff.id, role=Role.SUPERVISOR, team_ids=frozenset())
        await do_agent_reply(uow, viewer, chat.conversation_id, "I'm here, how can I help?")
        await uow.commit()
    assert (await chat.conversation()).handler == "agents"
    assert await chat.say("1") == []
    (session,) = await chat.sessions()
    assert session.outcome == "handed_off"
    assert session.handoff_reason == "an agent replied"


async def test_idle_sessions_end_as_abandoned(bot_container: Container) -> None:
    chat = await webchat(bot_container)
    await chat.say("hello")
    async with bot_container.uow() as uow:
        uow.now = lambda: datetime.now(UTC) + timedelta(hours=1)
        assert await do_end_idle_sessions(uow) == 1
        await uow.commit()
    (session,) = await chat.sessions()
    assert session.outcome == "abandoned"


async def test_a_choice_from_a_menu_left_for_half_an_hour_is_not_read_against_the_main_menu(
    bot_container: Container,
) -> None:
    """Back after the session was abandoned, "2" meant «Draw results» on the screen, and was read
    against the main menu: the prizes menu came instead."""
    chat = await webchat(bot_container, "visitor-stale")
    await chat.say("hello")
    (draws,) = await chat.say("1")
    assert draws.text == "What would you like to know?"
    async with bot_container.uow() as uow:
        uow.now = lambda: datetime.now(UTC) + timedelta(hours=1)
        assert await do_end_idle_sessions(uow) == 1
        await uow.commit()
    (again,) = await chat.say("2")
    assert again.text.startswith("Hello! I'm the support bot.")  # the menu again, not the prizes'
    (prizes,) = await chat.say("2")  # now from the main menu the customer sees
    assert prizes.text != again.text
    handoff = await chat.say("0")  # the way to a person holds at any time
    assert handoff[0].text.startswith(("I'm connecting", "All our operators"))


async def test_an_opening_question_the_bot_cannot_place_is_told_so_not_greeted_again(
    bot_container: Container,
) -> None:
    """The web chat shows the greeting on opening: repeating it word for word after a question
    read as if nothing was said. A hello is still greeted."""
    hello = await webchat(bot_container, "visitor-hello")
    (greeting,) = await hello.say("hi there")
    assert greeting.text.startswith("Hello! I'm the support bot.")
    unclear = Chat(bot_container, hello.account_id, Channel.WEBCHAT, IdentityKind.WEBCHAT, "visitor-unclear")
    (sorry,) = await unclear.say("qwzx vbnm plokij")
    assert sorry.text.startswith("Sorry, I didn't understand.")
    assert sorry.options  # with the main menu's choices
    (session,) = await unclear.sessions()
    assert session.status == "active"


async def test_telegram_menu_goes_out_as_an_inline_keyboard_and_a_button_press_is_understood(
    bot_container: Container, fake: FakeTelegram
) -> None:
    chat = await telegram_chat(bot_container, fake)
    (greeting,) = await chat.say("/start")
    (sent,) = fake.sent_messages(TELEGRAM_USER)
    keyboard = sent["reply_markup"]["inline_keyboard"]
    assert [row[0]["callback_data"] for row in keyboard] == ["1", "2", "3", "4", "5", "0"]
    assert keyboard[0][0]["text"] == "Draws and results" or keyboard[0][0]["text"] == "Тиражи и результаты"
    assert greeting.delivery_status == "sent"
    (handoff,) = await chat.say("0")  # the operator button's callback data
    assert (await chat.conversation()).handler == "agents"
    assert fake.sent_messages(TELEGRAM_USER)[-1]["text"] == handoff.text


async def test_a_button_pressed_on_an_earlier_telegram_menu_does_what_its_label_says(
    bot_container: Container, fake: FakeTelegram
) -> None:
    """Inline buttons stay pressable on old menus, and their data is a digit: "Check a ticket"
    (3) pressed on the draws menu, once the prizes menu was shown, answered prizes' option 3."""
    chat = await telegram_chat(bot_container, fake)
    await chat.say("/start")
    await chat.say("1")
    draws_menu = fake.sent_messages(TELEGRAM_USER)[-1]
    await chat.say("9")
    await chat.say("2")  # the prizes menu: its option 3 is "Withdraw to a card"
    press = parse_update(
        {
            "update_id": 1,
            "callback_query": {
                "id": "4382",
                "from": {"id": TELEGRAM_USER, "is_bot": False, "first_name": "Mary", "language_code": "en"},
                "message": draws_menu,
                "chat_instance": "-1",
                "data": "3",
            },
        }
    )
    assert press is not None
    assert press.text == "Check a ticket"
    answer, _ = await chat.say(press.text)
    assert answer.text == ANSWERS["check_ticket"]["en"]


async def test_telegram_asks_for_the_number_with_a_request_contact_button_and_takes_the_shared_contact(
    bot_container: Container, fake: FakeTelegram
) -> None:
    chat = await telegram_chat(bot_container, fake)
    await chat.say("hello")
    (prompt,) = await chat.say("5")
    assert prompt.options == [
        {"digit": "", "label": "Share my number", "shares_phone": True},
        {"digit": "9", "label": "Main menu"},
        {"digit": "0", "label": "Operator"},
    ]
    # request_contact exists on reply keyboards only; the other options become text buttons.
    assert fake.calls("sendMessage")[-1]["reply_markup"] == {
        "keyboard": [
            [{"text": "Share my number", "request_contact": True}],
            [{"text": "Main menu"}],
            [{"text": "Operator"}],
        ],
        "one_time_keyboard": True,
        "resize_keyboard": True,
    }
    assert prompt.delivery_status == "sent"
    # What the Telegram adapter stores for the customer's own contact (tests/unit/test_telegram_parse.py).
    (done,) = await chat.say("Contact: Mary Smith +447911123456")
    async with bot_container.uow() as uow:
        ticket = await uow.session.scalar(select(Ticket))
    assert ticket is not None
    assert ticket.fields == {"phone": "+447911123456"}
    assert done.text == f"Request #{ticket.id} is registered: we will call you at +447911123456."
    # The number is in: the "Share my number" keyboard goes, or it stays a tap away for good.
    assert fake.calls("sendMessage")[-1]["reply_markup"] == {"remove_keyboard": True}
    (session,) = await chat.sessions()
    assert session.outcome == "ticket_created"


async def test_the_main_menu_text_button_under_the_contact_keyboard_is_understood(
    bot_container: Container, fake: FakeTelegram
) -> None:
    chat = await telegram_chat(bot_container, fake)
    await chat.say("hello")
    await chat.say("5")
    (menu,) = await chat.say("Main menu")  # a text button sends its label
    assert menu.text.startswith("Hello!")
    assert "inline_keyboard" in fake.calls("sendMessage")[-1]["reply_markup"]


async def test_viber_asks_for_the_number_with_share_phone_at_api_level_3(
    bot_container: Container, viber: FakeViber
) -> None:
    async with bot_container.uow() as uow:
        account = await do_create_channel_account(
            uow, Channel.VIBER, "viber", {"auth_token": VIBER_TOKEN, "api_base": viber.base_url}, None
        )
        await uow.commit()
    chat = Chat(bot_container, account.id, Channel.VIBER, IdentityKind.VIBER, "01234567890A=")
    await chat.say("hello")
    (prompt,) = await chat.say("5")
    assert prompt.delivery_status == "sent", prompt.delivery_error
    sent = viber.sent_messages("01234567890A=")[-1]
    assert sent["min_api_version"] == 3
    buttons = sent["keyboard"]["Buttons"]
    assert [(b["ActionType"], b["Text"]) for b in buttons] == [
        ("share-phone", "Share my number"),
        ("reply", "Main menu"),
        ("reply", "Operator"),
    ]
    # Plain menus keep asking for nothing newer than API level 1.
    await chat.say("9")
    assert viber.sent_messages("01234567890A=")[-1]["min_api_version"] == 1


async def test_web_chat_asks_the_visitor_to_type_the_number(bot_container: Container) -> None:
    chat = await webchat(bot_container)
    await chat.say("hello")
    (prompt,) = await chat.say("5")
    async with bot_container.uow() as uow:
        (shown,) = await widget_messages(uow, [prompt])
    assert [(o.digit, o.label) for o in shown.options] == [("9", "Main menu"), ("0", "Operator")]
    sorry, _again = await chat.say("tomorrow please")
    assert sorry.text.startswith("I couldn't read that as a phone number")
    (done,) = await chat.say("+44 20 7946 0958")
    assert done.text.endswith("we will call you at +442079460958.")


async def test_a_lookup_asks_the_company_system_and_answers_with_its_fields(
    bot_container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELPLINE_LOOKUP_TOKEN_TEST_CRM", "crm-token-1")
    seen: list[str] = []

    async def order(request: Request) -> JSONResponse:
        seen.append(request.headers.get("authorization", ""))
        number = request.path_params["number"]
        if number == "404404":
            return JSONResponse({"detail": "not found"}, status_code=404)
        return JSONResponse({"status": "shipped", "eta": "2 days"})

    crm = Starlette(routes=[Route("/orders/{number}", order)])
    closing = threading.Event()
    with serving_in_thread(crm, "fake-crm", closing) as url:
        source = f"""\
name: Orders
start: main
lookups:
  order_status: {{url: "{url}/orders/{{order_number}}", token_env: HELPLINE_LOOKUP_TOKEN_TEST_CRM}}
nodes:
  main:
    prompt: {{ru: "Номер заказа?", en: "Order number?", ar: "رقم الطلب؟"}}
    collect:
      field: order_number
      pattern: "[0-9]{{6}}"
      lookup:
        name: order_status
        found:
          ru: "Заказ {{order_number}}: {{status}}, {{eta}}"
          en: "Order {{order_number}}: {{status}}, {{eta}}"
          ar: "الطلب {{order_number}}: {{status}}"
        missing: {{ru: "Не нашли заказ {{order_number}}", en: "No order {{order_number}}", ar: "لا يوجد طلب"}}
        next: main
    options:
      - digit: 0
        label: {{ru: "Оператор", en: "Operator", ar: "موظف"}}
        handoff: {{reason: asked}}
"""
        async with bot_container.uow() as uow:
            version = await do_upload_flow(uow, source, None)
            await do_activate(uow, version.id, ["webchat"], None)
            await uow.commit()
        chat = await webchat(bot_container, "visitor-crm")
        await chat.say("hello")
        found = await chat.say("123456")
        assert found[0].text == "Order 123456: shipped, 2 days"
        assert found[1].text == "Order number?"  # and back to the node
        missing = await chat.say("404404")
        assert missing[0].text == "No order 404404"
    assert seen == ["Bearer crm-token-1"] * 2


async def test_an_article_an_active_flow_answers_with_cannot_be_deleted(bot_container: Container) -> None:
    async with bot_container.uow() as uow:
        with pytest.raises(Conflict, match="answers with this article"):
            await do_delete_article(uow, "draw_results")
        await do_delete_article(uow, "delete_account")  # asked about, but not on any menu
        await uow.commit()


async def test_an_article_an_active_flow_answers_with_cannot_become_out_of_scope(
    bot_container: Container,
) -> None:
    async with bot_container.uow() as uow:
        article = await get_article(uow, "draw_results")
        questions = dict(article.questions)
        with pytest.raises(Conflict, match="answers with this article"):
            await do_save_article(
                uow, "draw_results", title={}, answer={}, questions=questions, kind=KIND_OUT_OF_SCOPE
            )
    async with bot_container.uow() as uow:
        assert (await get_article(uow, "draw_results")).kind == "answer"


async def test_a_turn_computed_before_an_agent_stepped_in_is_not_sent(
    bot_container: Container, make_staff: MakeStaff
) -> None:
    chat = await webchat(bot_container)
    await chat.say("hello")
    staff = await make_staff(Role.SUPERVISOR)
    ctx = await read_turn(bot_container, chat, "1", "late-turn")
    assert ctx.handler == "bot"
    async with bot_container.uow() as uow:  # the agent answers meanwhile
        viewer = Viewer(user_id=staff.id, role=Role.SUPERVISOR, team_ids=frozenset())
        await do_agent_reply(uow, viewer, chat.conversation_id, "Let me help you myself.")
        await uow.commit()
    runtime = FlowRuntime(lottery_flow(), {})
    turn = runtime.handle(runtime.start("en").state, "1")
    async with bot_container.uow() as uow:
        await do_apply_turn(uow, ctx, [turn], "en")
        await uow.commit()
    async with bot_container.uow() as uow:
        bot_after = await uow.session.scalar(
            select(func.count(Message.id)).where(
                Message.conversation_id == chat.conversation_id,
                Message.author_kind == AuthorKind.BOT.value,
                Message.id > ctx.message_id,
            )
        )
        item = await uow.session.get(OutboxItem, ctx.item_id)
    assert bot_after == 0
    assert item is not None
    assert item.status == "done"


async def read_turn(container: Container, chat: Chat, text: str, pid: str) -> TurnContext:
    """The customer writes; the worker reads the turn's context (and has not applied it yet)."""
    result = await ingest_inbound(
        container.uow,
        InboundMessage(
            channel=chat.channel,
            channel_account_id=chat.account_id,
            identity_kind=chat.kind,
            identity_value=chat.who,
            text=text,
            provider_message_id=pid,
            sent_at=datetime.now(UTC),
        ),
    )
    async with container.uow() as uow:
        item_id = await uow.session.scalar(
            select(OutboxItem.id).where(OutboxItem.message_id == result.message_id)
        )
        ctx = await load_turn(uow, item_id or 0)
    assert ctx is not None
    return ctx


@pytest.mark.parametrize("text", ["operator", "1"])
async def test_a_conversation_closed_while_the_bot_thought_stays_closed(
    bot_container: Container, text: str
) -> None:
    chat = await webchat(bot_container)
    await chat.say("hello")
    ctx = await read_turn(bot_container, chat, text, f"closing-{text}")
    async with bot_container.uow() as uow:  # an agent closes it meanwhile
        conv = await uow.session.get(Conversation, chat.conversation_id)
        assert conv is not None
        conv.status, conv.closed_at = "closed", datetime.now(UTC)
        await uow.commit()
    runtime = FlowRuntime(lottery_flow(), {})
    turn = runtime.handle(runtime.start("en").state, text)
    async with bot_container.uow() as uow:
        await do_apply_turn(uow, ctx, [turn], "en")
        await uow.commit()
    async with bot_container.uow() as uow:
        conv = await uow.session.get(Conversation, chat.conversation_id)
        item = await uow.session.get(OutboxItem, ctx.item_id)
        said = await uow.session.scalar(
            select(func.count(Message.id)).where(
                Message.conversation_id == chat.conversation_id, Message.id > ctx.message_id
            )
        )
    assert conv is not None
    assert (conv.status, conv.handler) == ("closed", "bot")
    assert said == 0
    assert item is not None
    assert item.status == "done"


async def test_an_idle_sweep_during_a_turn_does_not_split_the_session(bot_container: Container) -> None:
    chat = await webchat(bot_container)
    await chat.say("hello")
    ctx = await read_turn(bot_container, chat, "1", "swept-turn")
    assert ctx.session_id is not None
    async with bot_container.uow() as uow:  # the sweeper runs between the read and the write
        assert await do_end_idle_sessions(uow, idle=timedelta(seconds=-60)) == 1
        await uow.commit()
    runtime = FlowRuntime(lottery_flow(), {})
    state = SessionState.from_json(ctx.session_state or {})
    async with bot_container.uow() as uow:
        await do_apply_turn(uow, ctx, [runtime.handle(state, "1")], "en")
        await uow.commit()
    async with bot_container.uow() as uow:
        sessions = list(
            await uow.session.scalars(
                select(BotSession).where(BotSession.conversation_id == chat.conversation_id)
            )
        )
    assert [(s.id, s.status, s.outcome) for s in sessions] == [(ctx.session_id, "active", None)]


async def test_the_demo_articles_are_named_for_the_buttons_that_show_them(bot_container: Container) -> None:
    """A clarifying question's buttons are article titles: written ones, not a first question
    in lower case ("won 500k how do i claim it")."""
    async with bot_container.uow() as uow:
        articles = {a.intent: a.title for a in await list_articles(uow)}
    assert articles["claim_large_prize"] == {
        "ru": "Получить крупный выигрыш",
        "en": "Claim a large prize",
        "ar": "استلام جائزة كبيرة",
    }
    answered = {intent for intent, title in articles.items() if intent != "out_of_scope"}
    assert all(set(articles[intent]) == {"ru", "en", "ar"} for intent in answered)


async def test_a_message_without_words_teaches_the_card_no_language(bot_container: Container) -> None:
    chat = await webchat(bot_container)
    await chat.say("1")  # a menu key: the bot answers in its default language, and guesses nothing
    conversation = await chat.conversation()
    async with bot_container.uow() as uow:
        contact = await uow.session.get(Contact, conversation.contact_id)
    assert contact is not None
    assert contact.language is None


async def test_a_visitor_on_a_russian_page_is_answered_in_russian_from_the_first_digit(
    bot_container: Container,
) -> None:
    """The chat ignored the page's language: "1" or "ok" (no language in them) got English."""
    async with bot_container.uow() as uow:
        site = await do_create_channel_account(uow, Channel.WEBCHAT, "site", {}, None)
        visitor = await do_start_visitor(uow, site, Language.RU)
        await uow.commit()
    chat = Chat(bot_container, site.id, Channel.WEBCHAT, IdentityKind.WEBCHAT, visitor.visitor.public_id)
    (greeting,) = await chat.say("1")
    assert greeting.text == "Что вас интересует?"  # option 1 of the menu, in the page's language
    conversation = await chat.conversation()
    assert conversation.language == "ru"


async def visitor_chat(c: Container, language: Language, name: str) -> Chat:
    async with c.uow() as uow:
        site = await do_create_channel_account(uow, Channel.WEBCHAT, name, {}, None)
        visitor = await do_start_visitor(uow, site, language)
        await uow.commit()
    return Chat(c, site.id, Channel.WEBCHAT, IdentityKind.WEBCHAT, visitor.visitor.public_id)


async def test_a_few_latin_letters_do_not_turn_a_russian_or_arabic_conversation_english(
    bot_container: Container,
) -> None:
    """ "ok" after an answer, or a wrong order code "ABC-12", turned the rest of the session English."""
    await staff(bot_container, "online@bot.test", online=True)
    russian = await visitor_chat(bot_container, Language.RU, "site-ru")
    await russian.say("когда следующий тираж")
    (glad,) = await russian.say("ok")
    assert glad.text == "Рады были помочь! Пишите, если появятся вопросы."

    arabic = await visitor_chat(bot_container, Language.AR, "site-ar")
    await arabic.say("3")  # where is my order: the order number is asked for
    invalid = await arabic.say("ABC-12")
    assert all(not m.text.isascii() for m in invalid), [m.text for m in invalid]
    ticket = await arabic.say("١٢٣٤٥٦٧")
    assert not ticket[0].text.startswith("Your request")

    # A sentence in English is English: the customer chose it.
    english = await visitor_chat(bot_container, Language.RU, "site-en")
    await english.say("когда следующий тираж")
    (handed,) = await english.say("no, I need to talk about my winnings")
    assert handed.text.isascii()


async def test_a_channels_note_is_not_read_as_the_customers_words(bot_container: Container) -> None:
    """A sticker arrives as "[unsupported message type: sticker]": the bot read it as an English
    question, turned a Russian conversation English and offered articles for it."""
    chat = await webchat(bot_container, "sticker-fan")
    await chat.say("когда следующий тираж")
    replies = await chat.say("[unsupported message type: sticker]")
    assert replies, "the bot says something"
    assert all(not m.text.isascii() for m in replies), [m.text for m in replies]
    assert not any(m.text.startswith(("Which of these", "Какой из")) for m in replies)
    (session,) = await chat.sessions()
    assert session.state["language"] == "ru"

    # The sticker's emoji, written before the note, is what the customer said: 👍 — it helped.
    chat = Chat(bot_container, chat.account_id, Channel.WEBCHAT, IdentityKind.WEBCHAT, "thumbs-up")
    await chat.say("когда следующий тираж")
    (glad,) = await chat.say("👍\n[unsupported message type: sticker]")
    assert glad.text.startswith("Рады были помочь")
    # So is a WhatsApp reaction's, and "[срочно]" before a question is the customer's own word.
    chat = Chat(bot_container, chat.account_id, Channel.WEBCHAT, IdentityKind.WEBCHAT, "reacts")
    await chat.say("когда следующий тираж")
    (glad,) = await chat.say("👍\n[reaction]")
    assert glad.text.startswith("Рады были помочь")
    chat = Chat(bot_container, chat.account_id, Channel.WEBCHAT, IdentityKind.WEBCHAT, "urgent")
    answer, _ = await chat.say("[срочно] когда следующий тираж")
    assert answer.text == ANSWERS["next_draw_schedule"]["ru"]


async def test_a_new_session_runs_the_flow_the_channel_has_now(bot_container: Container) -> None:
    """A conversation the bot handles stays open, and every session ran the version the
    conversation first met: a flow replaced, rolled back or turned off never reached the
    customers who had written before."""
    chat = await webchat(bot_container, "returning")
    await chat.say("когда следующий тираж")
    (glad,) = await chat.say("да")
    assert glad.text.startswith("Рады были помочь")

    source = LOTTERY.read_text(encoding="utf-8").replace("Здравствуйте! Я бот", "Добрый день! Я новый бот", 1)
    async with bot_container.uow() as uow:
        version = await do_upload_flow(uow, source, None)
        await do_activate(uow, version.id, ["webchat"], None)
        await uow.commit()
    (greeting,) = await chat.say("меню")
    assert greeting.text.startswith("Добрый день! Я новый бот")
    assert (await chat.conversation()).flow_version_id == version.id
    (session, new) = await chat.sessions()
    assert (session.flow_version_id, new.flow_version_id) != (version.id, version.id)
    assert new.flow_version_id == version.id

    # A session under way finishes on its version; the next one starts on the channel's.
    async with bot_container.uow() as uow:
        await do_deactivate(uow, "webchat")
        await uow.commit()
    (draws,) = await chat.say("1")
    assert draws.text == "Что вас интересует?"

    # Turned off: the next message goes to people, and the bot says nothing.
    other = Chat(bot_container, chat.account_id, Channel.WEBCHAT, IdentityKind.WEBCHAT, "later")
    async with bot_container.uow() as uow:
        await do_activate(uow, version.id, ["webchat"], None)
        await uow.commit()
    await other.say("когда следующий тираж")
    await other.say("да")
    async with bot_container.uow() as uow:
        await do_deactivate(uow, "webchat")
        await uow.commit()
    assert await other.say("а налог?") == []
    conv = await other.conversation()
    assert conv.handler == "agents"
