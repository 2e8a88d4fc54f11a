"""A visitor on a site with the widget and an agent in the console, live, in Chromium."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import Site, screenshot, sign_in


def open_widget(page: Page, site: Site, lang: str = "en") -> None:
    page.goto(f"{site.base}/widget/demo?lang={lang}")
    page.locator("#helpline-widget").wait_for(state="attached")
    expect(page.locator("#helpline-widget")).to_have_attribute("data-visitor", re.compile(r"^v-"))
    page.locator(".launcher").click()


def visitor_says(page: Page, text: str) -> None:
    box = page.locator("#helpline-widget textarea")
    box.fill(text)
    box.press("Enter")


def test_visitor_and_agent_talk_live(browser: Browser, site: Site) -> None:
    visitor_ctx, agent_ctx = browser.new_context(), browser.new_context()
    visitor, agent = visitor_ctx.new_page(), agent_ctx.new_page()
    sign_in(agent, site, site.agent_email)
    agent.goto(f"{site.base}/console?view=unassigned")
    expect(agent.locator(".conversations .empty")).to_be_visible()

    open_widget(visitor, site)
    visitor_says(visitor, "Hello, when is the next draw?")
    expect(visitor.locator("#helpline-widget .msg.customer")).to_have_text("Hello, when is the next draw?")
    # The new conversation appears in the agent's inbox without a reload, and the tab counts it.
    row = agent.locator(".conversations li[data-conversation]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Hello, when is the next draw?")
    expect(agent).to_have_title(re.compile(r"^\(1\) Helpline"))
    row.locator("a").click()
    expect(agent.locator("#timeline .msg.customer .text")).to_have_text("Hello, when is the next draw?")

    # The visitor typing shows in the console; the agent's Enter sends, Shift+Enter is a new line.
    visitor.locator("#helpline-widget textarea").press_sequentially("And the")
    expect(agent.locator("#typing")).to_have_text("Customer is typing…")
    reply = agent.locator("form.reply textarea")
    reply.fill("Tonight at 21:00.")
    reply.press("Shift+Enter")
    reply.press_sequentially("Good luck!")
    reply.press("Enter")
    expect(agent.locator("#timeline .msg.agent .text")).to_have_text("Tonight at 21:00.\nGood luck!")
    expect(visitor.locator("#helpline-widget .msg.agent")).to_have_text("Tonight at 21:00.\nGood luck!")
    expect(reply).to_have_value("")

    # The agent's typing ends when the reply arrives (it stayed for 4 s after it).
    expect(visitor.locator("#helpline-widget .status")).to_have_text("")
    # Internal notes never reach the visitor, nor does their typing.
    agent.locator("form.reply input[name=internal]").check()
    reply.press_sequentially("customer seems new")
    reply.press("Enter")
    expect(agent.locator("#timeline .msg.note .text")).to_have_text("customer seems new")
    expect(visitor.locator("#helpline-widget .status")).to_have_text("")
    visitor.locator("#helpline-widget textarea").fill("")
    visitor_says(visitor, "Thanks!")
    expect(agent.locator("#timeline .msg.customer .text").last).to_have_text("Thanks!")
    expect(visitor.locator("#helpline-widget .msg")).to_have_count(3)
    expect(visitor.locator("#helpline-widget")).not_to_contain_text("customer seems new")
    screenshot(agent, "console-conversation")
    screenshot(visitor, "widget-conversation")
    visitor_ctx.close()
    agent_ctx.close()


def test_widget_resumes_after_a_network_drop_without_loss_or_doubles(browser: Browser, site: Site) -> None:
    visitor_ctx, agent_ctx = browser.new_context(), browser.new_context()
    visitor, agent = visitor_ctx.new_page(), agent_ctx.new_page()
    open_widget(visitor, site)
    visitor_says(visitor, "first")
    expect(visitor.locator("#helpline-widget .msg.customer:not(.pending)")).to_have_count(1)
    sign_in(agent, site, site.agent_email)
    agent.goto(f"{site.base}/console?view=unassigned")
    agent.locator(".conversations li[data-conversation] a").click()

    visitor_ctx.set_offline(True)
    visitor_says(visitor, "sent while offline")
    expect(visitor.locator("#helpline-widget .msg.pending")).to_have_count(1)
    reply = agent.locator("form.reply textarea")
    reply.fill("answer during the outage")
    reply.press("Enter")
    expect(agent.locator("#timeline .msg.agent .text")).to_have_text("answer during the outage")

    visitor_ctx.set_offline(False)
    expect(visitor.locator("#helpline-widget .msg.agent")).to_have_text(
        "answer during the outage", timeout=20000
    )
    expect(visitor.locator("#helpline-widget .msg.pending")).to_have_count(0, timeout=20000)
    texts = visitor.locator("#helpline-widget .msg").all_text_contents()
    assert texts == ["first", "sent while offline", "answer during the outage"]
    expect(agent.locator("#timeline .msg.customer .text")).to_have_text(["first", "sent while offline"])
    # A reload restores the history from the server, in the order the server received it:
    # the message written offline arrived after the agent's answer. Nothing lost, nothing doubled.
    visitor.reload()
    visitor.locator(".launcher").click()
    expect(visitor.locator("#helpline-widget .msg")).to_have_text(
        ["first", "answer during the outage", "sent while offline"]
    )
    visitor_ctx.close()
    agent_ctx.close()


def test_visitor_links_to_the_known_customer_only_after_the_code(browser: Browser, site: Site) -> None:
    ctx = browser.new_context()
    visitor = ctx.new_page()
    open_widget(visitor, site, lang="ru")
    visitor_says(visitor, "Здравствуйте, это Мария")
    expect(visitor.locator("#helpline-widget .msg.customer:not(.pending)")).to_have_count(1)
    widget = visitor.locator("#helpline-widget")
    widget.locator("details.profile summary").click()
    widget.locator("input[name=phone]").fill("8 912 345-67-89")
    widget.locator(".profile-form button").click()
    expect(widget.locator(".code-note")).to_have_text("Мы отправили код на m***@example.com")
    assert len(site.mailbox.messages) == 1
    code = re.search(r"\b(\d{6})\b", site.mailbox.messages[0].get_payload())
    assert code is not None
    widget.locator("input[name=code]").fill("000000" if code.group(1) != "000000" else "111111")
    widget.locator(".code-form button").click()
    expect(widget.locator(".profile-status")).to_have_text("неверный код")  # the page's language
    widget.locator("input[name=code]").fill(code.group(1))
    widget.locator(".code-form button").click()
    expect(widget.locator(".profile-status")).to_have_text("Спасибо!")
    expect(widget.locator(".msg")).to_have_text(["Здравствуйте, это Мария"])
    ctx.close()


def test_visitor_sends_an_image_the_agent_sees_it(browser: Browser, site: Site) -> None:
    from tests.integration.test_widget_attachments import png

    visitor_ctx, agent_ctx = browser.new_context(), browser.new_context()
    visitor, agent = visitor_ctx.new_page(), agent_ctx.new_page()
    open_widget(visitor, site)
    visitor_says(visitor, "here is my ticket")
    with visitor.expect_file_chooser() as chooser:
        visitor.locator("#helpline-widget button.attach").click()
    chooser.value.set_files({"name": "ticket.png", "mimeType": "image/png", "buffer": png(40, 30)})
    widget_image = visitor.locator("#helpline-widget .msg.customer img")
    expect(widget_image).to_have_attribute("alt", "ticket.png")
    assert widget_image.evaluate("img => img.decode().then(() => img.naturalWidth)") == 40
    sign_in(agent, site, site.agent_email)
    agent.goto(f"{site.base}/console?view=unassigned")
    agent.locator(".conversations li[data-conversation] a").click()
    image = agent.locator("#timeline .attachment img")
    expect(image).to_have_attribute("alt", "ticket.png")
    assert image.evaluate("img => img.decode().then(() => img.naturalWidth)") == 40
    visitor_ctx.close()
    agent_ctx.close()


def test_a_reply_the_server_refuses_is_said_to_the_agent(browser: Browser, site: Site) -> None:
    """htmx drops answers that are not 2xx: a reply of spaces, or one whose session ended, used to
    vanish without a word while the agent believed it was sent."""
    visitor_ctx, agent_ctx = browser.new_context(), browser.new_context()
    visitor, agent = visitor_ctx.new_page(), agent_ctx.new_page()
    open_widget(visitor, site)
    visitor_says(visitor, "Is anyone there?")
    sign_in(agent, site, site.agent_email)
    agent.goto(f"{site.base}/console?view=unassigned")
    agent.locator(".conversations li[data-conversation] a").first.click()

    reply = agent.locator("form.reply textarea")
    reply.fill("   ")
    agent.locator("form.reply button[type=submit]").click()
    refusal = agent.locator("p.refusal[role=alert]")
    expect(refusal).to_have_text("message is empty")
    screenshot(agent, "console-reply-refused")

    reply.fill("Yes, I'm here.")
    reply.press("Enter")
    expect(agent.locator("#timeline .msg.agent .text")).to_have_text("Yes, I'm here.")
    expect(refusal).to_have_count(0)  # gone once a reply went through

    # The session ends in another tab: the next reply leads to sign-in instead of vanishing.
    other = agent_ctx.new_page()
    other.goto(f"{site.base}/console")
    other.locator("form[action='/logout'] button").click()
    reply.fill("Still here?")
    reply.press("Enter")
    expect(agent).to_have_url(re.compile(r"/login"))
    visitor_ctx.close()
    agent_ctx.close()


def test_a_message_written_while_new_chats_are_refused_is_kept_and_sent_later(
    browser: Browser, site: Site
) -> None:
    """While the server refused new chats (429), what the customer typed went out without a token,
    got 401 and was dropped for good."""
    ctx = browser.new_context()
    visitor = ctx.new_page()
    busy = {"status": 429, "headers": {"Retry-After": "600"}, "body": '{"detail": "too many new chats"}'}
    visitor.route("**/widget/v1/session", lambda route: route.fulfill(**busy))
    visitor.goto(f"{site.base}/widget/demo?lang=ru")
    visitor.locator(".launcher").click()
    widget = visitor.locator("#helpline-widget")
    expect(widget.locator(".status")).to_contain_text("слишком много чатов")
    visitor_says(visitor, "Мне нужна помощь")
    pending = widget.locator(".msg.customer")
    expect(pending).to_have_class(re.compile(r"\bpending\b"))
    expect(widget.locator(".msg.failed")).to_have_count(0)

    visitor.unroute("**/widget/v1/session")
    visitor.reload()  # later: the chat opens, and the kept message goes out
    visitor.locator(".launcher").click()
    expect(widget.locator(".msg.customer:not(.pending)")).to_have_text(["Мне нужна помощь"])
    ctx.close()


def test_a_saved_token_is_not_used_before_the_server_takes_it(browser: Browser, site: Site) -> None:
    """A token saved by an earlier visit whose chat is gone was sent with every keystroke and every
    kept message while new chats were refused: a 401 every two seconds until the limit lifted."""
    ctx = browser.new_context()
    visitor = ctx.new_page()
    visitor.add_init_script(  # runs on every load: only the first one finds nothing saved
        "var key = 'helpline.widget.' + location.origin + '.Website';"
        "if (!localStorage.getItem(key)) {"
        " localStorage.setItem(key, JSON.stringify({token: 'a-token-whose-chat-is-gone', pending: []})); }"
    )
    busy = {"status": 429, "headers": {"Retry-After": "600"}, "body": '{"detail": "too many new chats"}'}
    visitor.route("**/widget/v1/session", lambda route: route.fulfill(**busy))
    refused: list[str] = []
    visitor.on("response", lambda r: refused.append(r.url) if r.status == 401 else None)
    visitor.goto(f"{site.base}/widget/demo?lang=en")
    visitor.locator(".launcher").click()
    widget = visitor.locator("#helpline-widget")
    expect(widget.locator(".status")).to_contain_text("Too many new chats")
    visitor_says(visitor, "Is anyone there?")
    expect(widget.locator(".msg.customer.pending")).to_have_count(1)
    visitor.wait_for_timeout(4500)  # two rounds of the resend timer
    assert refused == []

    visitor.unroute("**/widget/v1/session")
    visitor.reload()  # the server opens a new chat for the stale token, and the message goes out
    visitor.locator(".launcher").click()
    expect(widget.locator(".msg.customer:not(.pending)")).to_have_text(["Is anyone there?"])
    stored = visitor.evaluate(
        "JSON.parse(localStorage.getItem('helpline.widget.' + location.origin + '.Website'))"
    )
    assert stored["token"] != "a-token-whose-chat-is-gone"
    ctx.close()
