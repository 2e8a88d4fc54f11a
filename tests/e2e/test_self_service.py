"""Self-service in the browser: the web chat's menu, an FAQ answer in Arabic, and the word
"оператор" in the middle of a flow reaching an agent who sees the whole bot transcript."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from helpline.bootstrap import build_container
from helpline.config import Settings
from helpline.demo_data import seed_self_service
from helpline.domain.contacts import Language
from helpline.domain.conversations import Channel
from helpline.domain.users import Role
from helpline.services.channel_accounts import do_ensure_channel_account
from helpline.services.users import UserSpec, do_create_user
from helpline.storage.migrate import upgrade
from tests.e2e.conftest import PASSWORD, Site, screenshot, sign_in
from tests.e2e.test_chat_round_trip import open_widget, visitor_says
from tests.integration.live_server import serving
from tests.integration.test_widget_verification import Mailbox


async def _seed(url: str) -> None:
    container = build_container(Settings(database_url=url))
    try:
        async with container.uow() as uow:
            await do_ensure_channel_account(uow, Channel.WEBCHAT, "Website")
            await do_create_user(
                uow,
                UserSpec(
                    email="agent@bot.test",
                    name="Alice Agent",
                    password=PASSWORD,
                    role=Role.AGENT,
                    ui_language=Language.EN,
                ),
            )
            await seed_self_service(uow)
            await uow.commit()
    finally:
        await container.close()


@pytest.fixture
def bot_site(tmp_path: Path) -> Iterator[Site]:
    """A real `helpline serve` on SQLite whose web chat is greeted by the demo's lottery flow."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    upgrade(url)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _seed(url)).result()
    env = {**os.environ, "HELPLINE_DATABASE_URL": url, "HELPLINE_LOG_JSON": "true"}
    env.pop("HELPLINE_REDIS_URL", None)
    with serving(["serve"], env, tmp_path / "serve.log") as base:
        yield Site(base, "agent@bot.test", "agent@bot.test", Mailbox())


def test_menu_then_arabic_answer_then_operator_mid_flow_reaches_an_agent_with_the_transcript(
    browser: Browser, bot_site: Site
) -> None:
    visitor_ctx, agent_ctx = browser.new_context(), browser.new_context()
    visitor, agent = visitor_ctx.new_page(), agent_ctx.new_page()
    open_widget(visitor, bot_site, lang="ar")
    widget = visitor.locator("#helpline-widget")
    # Before the visitor writes anything, the chat shows the bot's menu in the page's language.
    expect(widget.locator(".msg.bot.greeting")).to_contain_text("مرحبًا! أنا بوت خدمة العملاء")
    expect(widget.locator(".choices").first.locator("button").last).to_have_text("موظف")

    visitor_says(visitor, "مرحبا")
    # The bot greets in Arabic with its menu as buttons; the operator is always one of them.
    # (The first turn may wait for the classifier's training, which starts with the server.)
    greeting = widget.locator(".msg.bot").first
    expect(greeting).to_contain_text("مرحبًا! أنا بوت خدمة العملاء", timeout=120000)
    buttons = widget.locator(".choices").last.locator("button")
    expect(buttons).to_have_text(
        ["السحوبات والنتائج", "الجوائز وصرفها", "أين طلبي", "الدخول والحساب", "اتصلوا بي", "موظف"]
    )

    # A menu step, then a question in the visitor's own words: answered from the FAQ, in Arabic.
    buttons.first.click()
    expect(widget.locator(".msg.customer").last).to_have_text("السحوبات والنتائج")
    expect(widget.locator(".msg.bot").last).to_have_text("ماذا تريد أن تعرف؟", timeout=20000)
    visitor_says(visitor, "متى السحب القادم؟")
    expect(widget.locator(".msg.bot").nth(-2)).to_contain_text("6 من 45", timeout=20000)
    expect(widget.locator(".msg.bot").last).to_have_text("هل أجاب هذا عن سؤالك؟")
    screenshot(visitor, "widget-bot-answer-ar")

    # Back to the menu, into the order flow, and "оператор" while the bot waits for a number.
    widget.locator(".choices").last.locator("button", has_text="القائمة الرئيسية").click()
    widget.locator(".choices").last.locator("button", has_text="أين طلبي").click()
    expect(widget.locator(".msg.bot").last).to_contain_text("اكتب رقم الطلب", timeout=20000)
    visitor_says(visitor, "оператор")
    # Nobody is signed in yet: the customer is told so rather than promised someone who is not there.
    expect(widget.locator(".msg.bot").last).to_contain_text("Сейчас все операторы не в сети", timeout=20000)
    # Handed off: no menu above can be pressed any more (nobody would answer it).
    expect(widget.locator(".choices button")).not_to_have_count(0)
    expect(widget.locator(".choices button:enabled")).to_have_count(0)

    # The agent finds it in the unassigned inbox and reads everything the bot and customer said.
    sign_in(agent, bot_site, bot_site.agent_email)
    agent.goto(f"{bot_site.base}/console?view=unassigned")
    agent.locator(".conversations li[data-conversation] a").first.click()
    timeline = agent.locator("#timeline")
    expect(timeline.locator(".msg.customer .text")).to_have_text(
        ["مرحبا", "السحوبات والنتائج", "متى السحب القادم؟", "القائمة الرئيسية", "أين طلبي", "оператор"]
    )
    expect(timeline.locator(".msg.bot .text").first).to_contain_text("مرحبًا! أنا بوت")
    # "оператор" typed at the order-number step: the reason that node's own operator option gives.
    expect(timeline.locator(".msg.system.note .text")).to_contain_text("asked for an operator about an order")
    screenshot(agent, "console-bot-transcript")

    reply = agent.locator("form.reply textarea")
    reply.fill("Здравствуйте! Я оператор, чем помочь?")
    reply.press("Enter")
    expect(widget.locator(".msg.agent")).to_have_text("Здравствуйте! Я оператор, чем помочь?")
    visitor_ctx.close()
    agent_ctx.close()
