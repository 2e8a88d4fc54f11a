"""Hostile customer text stays text; Arabic reads right to left, in the widget and the console."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import Site, screenshot, sign_in
from tests.e2e.test_chat_round_trip import open_widget, visitor_says

PAYLOADS = [
    "<script>window.__pwned = 'script'</script>",
    "<img src=x onerror=\"window.__pwned = 'img'\">",
    "<a href=\"javascript:window.__pwned='link'\">click me</a>",
    "javascript:window.__pwned='bare'",
    "x" * 10_000,
]


def pwned(page: Page) -> object:
    return page.evaluate("window.__pwned")


def test_hostile_text_never_executes_and_pages_stay_usable(browser: Browser, site: Site) -> None:
    visitor_ctx, agent_ctx = browser.new_context(), browser.new_context()
    visitor, agent = visitor_ctx.new_page(), agent_ctx.new_page()
    dialogs: list[str] = []
    for page in (visitor, agent):
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    open_widget(visitor, site)
    for text in PAYLOADS:
        visitor_says(visitor, text)
    expect(visitor.locator("#helpline-widget .msg.customer:not(.pending)")).to_have_count(len(PAYLOADS))
    sign_in(agent, site, site.agent_email)
    agent.goto(f"{site.base}/console?view=unassigned")
    agent.locator(".conversations li[data-conversation] a").click()
    messages = agent.locator("#timeline .msg.customer .text")
    expect(messages).to_have_count(len(PAYLOADS))
    # Shown literally, as text…
    assert messages.all_text_contents() == PAYLOADS
    assert visitor.locator("#helpline-widget .msg.customer").all_text_contents() == PAYLOADS
    # …and no element was created from it.
    assert agent.locator("#timeline img, #timeline script, #timeline a[href^='javascript']").count() == 0
    assert visitor.locator("#helpline-widget img").count() == 0
    agent.reload()  # render once more from the server; an onerror would have fired by now
    expect(messages).to_have_count(len(PAYLOADS))
    assert pwned(agent) is None
    assert pwned(visitor) is None
    assert dialogs == []
    # The 10,000-character line wraps inside the timeline instead of pushing the reply box away.
    width = agent.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert width is True
    reply = agent.locator("form.reply textarea")
    expect(reply).to_be_visible()
    expect(reply).to_be_in_viewport()
    reply.fill("all good")
    reply.press("Enter")
    expect(visitor.locator("#helpline-widget .msg.agent")).to_have_text("all good")
    screenshot(agent, "console-xss-payloads")
    visitor_ctx.close()
    agent_ctx.close()


def test_arabic_is_right_to_left_in_widget_and_console(browser: Browser, site: Site) -> None:
    visitor_ctx, agent_ctx, arabic_ctx = browser.new_context(), browser.new_context(), browser.new_context()
    visitor, agent, arabic_agent = visitor_ctx.new_page(), agent_ctx.new_page(), arabic_ctx.new_page()
    open_widget(visitor, site, lang="ar")
    panel = visitor.locator("#helpline-widget .panel")
    expect(panel).to_have_attribute("dir", "rtl")
    expect(visitor.locator("#helpline-widget .head")).to_have_text("تحدث معنا")
    visitor_says(visitor, "مرحبا، متى السحب القادم؟")
    expect(visitor.locator("#helpline-widget .msg.customer:not(.pending)")).to_have_count(1)
    screenshot(visitor, "widget-arabic")

    # An English console still shows the Arabic message right to left.
    sign_in(agent, site, site.agent_email)
    agent.goto(f"{site.base}/console?view=unassigned")
    expect(agent.locator("html")).to_have_attribute("dir", "ltr")
    agent.locator(".conversations li[data-conversation] a").click()
    text = agent.locator("#timeline .msg.customer .text")
    expect(text).to_have_text("مرحبا، متى السحب القادم؟")
    assert text.evaluate("e => getComputedStyle(e).direction") == "rtl"

    # An agent who chose Arabic gets the whole console right to left, in Arabic.
    sign_in(arabic_agent, site, site.arabic_agent_email)
    arabic_agent.goto(f"{site.base}/console?view=unassigned")
    expect(arabic_agent.locator("html")).to_have_attribute("dir", "rtl")
    expect(arabic_agent.locator("html")).to_have_attribute("lang", "ar")
    expect(arabic_agent.locator(".topbar")).to_contain_text("تسجيل الخروج")
    arabic_agent.locator(".conversations li[data-conversation] a").click()
    expect(arabic_agent.locator("form.reply button[type=submit]")).to_have_text("إرسال")
    screenshot(arabic_agent, "console-arabic")
    for ctx in (visitor_ctx, agent_ctx, arabic_ctx):
        ctx.close()
