"""Admin pages longer than the window scroll with the mouse wheel, like any page."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from tests.e2e.conftest import ADMIN_EMAIL, Site, sign_in


def test_the_channels_page_scrolls_to_its_last_form(browser: Browser, site: Site) -> None:
    page = browser.new_page(viewport={"width": 1100, "height": 500})
    sign_in(page, site, ADMIN_EMAIL)
    page.goto(f"{site.base}/console/admin/channels")
    last_button = page.locator("main button[type=submit]").last
    expect(last_button).not_to_be_in_viewport()
    page.mouse.move(550, 300)
    for _ in range(20):
        page.mouse.wheel(0, 600)
    expect(last_button).to_be_in_viewport()
    page.close()
