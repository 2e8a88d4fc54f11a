"""A console address that leads nowhere shows a page in the reader's language, not raw JSON;
programs (and htmx, which asks for anything) keep the JSON answers."""

from __future__ import annotations

import httpx

from helpline.domain.users import Role
from tests.integration.conftest import MakeStaff
from tests.integration.test_console_bot import sign_in

PAGE = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


async def test_a_missing_conversation_is_a_page_in_the_readers_language(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    admin = await make_staff(Role.ADMIN)
    await sign_in(client, admin.email)

    missing = await client.get("/console/conversations/99999", headers=PAGE)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "This page does not exist" in missing.text
    assert "no such conversation" in missing.text
    assert '<a href="/console">' in missing.text

    hand_edited = await client.get("/console/admin/flows/versions/abc", headers=PAGE)
    assert hand_edited.status_code == 422
    assert "This request is not valid" in hand_edited.text
    assert "int_parsing" not in hand_edited.text

    nowhere = await client.get("/console/no/such/page", headers=PAGE)
    assert nowhere.status_code == 404
    assert "This page does not exist" in nowhere.text

    program = await client.get("/console/conversations/99999")
    assert program.status_code == 404
    assert program.json()["detail"][0]["msg"] == "no such conversation"


async def test_a_page_above_the_readers_role_says_so(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    agent = await make_staff(Role.AGENT)
    await sign_in(client, agent.email)
    refused = await client.get("/console/admin/flows", headers=PAGE)
    assert refused.status_code == 403
    assert "Your role does not open this page" in refused.text


async def test_a_signed_in_readers_own_language_wins_over_the_browsers(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    agent = await make_staff(Role.AGENT)
    csrf = await sign_in(client, agent.email)
    await client.post("/console/language", data={"csrf_token": csrf, "ui_language": "ru"})
    # A missing conversation; an address no route serves, and a POST-only one (405), where
    # nothing had asked who reads, so the page fell back to the browser's language.
    for address in ("/console/conversations/99999", "/console/admin/flow", "/console/admin/flows/validate"):
        missing = await client.get(address, headers={**PAGE, "Accept-Language": "en"})
        assert missing.status_code == 404
        assert 'lang="ru"' in missing.text
        assert "Такой страницы нет" in missing.text


async def test_a_form_sent_with_a_stale_token_says_the_form_expired(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    agent = await make_staff(Role.AGENT)
    await sign_in(client, agent.email)
    stale = await client.post(
        "/console/presence", data={"csrf_token": "stale", "presence": "online"}, headers=PAGE
    )
    assert stale.status_code == 403
    assert "The form has expired: reload the page and try again" in stale.text
    assert "Your role does not open this page" not in stale.text


async def test_before_sign_in_the_browsers_language_is_the_pages(client: httpx.AsyncClient) -> None:
    arabic = await client.get("/console/no/such/page", headers={**PAGE, "Accept-Language": "ar-AE,ar;q=0.9"})
    assert arabic.status_code == 404
    assert 'dir="rtl"' in arabic.text
    assert "هذه الصفحة غير موجودة" in arabic.text
    russian = await client.get("/console/no/such/page", headers={**PAGE, "Accept-Language": "de,ru;q=0.8"})
    assert "Такой страницы нет" in russian.text


async def test_a_signed_out_browser_is_sent_to_sign_in(client: httpx.AsyncClient) -> None:
    page = await client.get("/console/conversations/1", headers=PAGE)
    assert page.status_code == 303
    assert page.headers["location"] == "/login"
    assert (await client.get("/console/conversations/1")).status_code == 401  # programs: as before


async def test_a_form_sent_after_the_session_ended_leads_to_sign_in(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    agent = await make_staff(Role.AGENT)
    csrf = await sign_in(client, agent.email)
    await client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
    sent = await client.post(
        "/console/conversations/1/status", data={"csrf_token": csrf, "status": "resolved"}, headers=PAGE
    )
    assert sent.status_code == 303
    assert sent.headers["location"] == "/login"
    assert (
        await client.post("/console/conversations/1/status", data={"status": "resolved"})
    ).status_code == 401


async def test_a_filter_edited_into_the_address_is_a_page_not_json(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    agent = await make_staff(Role.AGENT)
    await sign_in(client, agent.email)
    for query in ("channel=fax", "status=zzz", "language=xx"):
        page = await client.get(f"/console?{query}", headers=PAGE)
        assert page.status_code == 422
        assert page.headers["content-type"].startswith("text/html")
        assert "This request is not valid" in page.text


async def test_the_headers_forms_lead_back_to_a_page_that_can_be_shown_again(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    """After a form's result (a POST-only address), changing one's status led to «this page does
    not exist»: the nearest page above it is shown instead. Another site is never followed."""
    admin = await make_staff(Role.ADMIN)
    csrf = await sign_in(client, admin.email)
    base = str(client.base_url)

    def back(referer: str) -> str:
        return referer if referer.startswith("http") else base + referer

    cases = {
        "/console/admin/flows/validate": "/console/admin/flows",
        "/console/conversations/7/reply": "/console/conversations/7",
        "/console/admin/knowledge?q=draw": "/console/admin/knowledge?q=draw",
        "/console?view=all": "/console?view=all",
        "https://elsewhere.example/console/admin/flows": "/console/admin/flows",  # here, not there
        "https://elsewhere.example/phish": "/console",
        "/docs": "/console",
    }
    for referer, expected in cases.items():
        for form in ({"presence": "away"}, {"ui_language": "en"}):
            action = "/console/presence" if "presence" in form else "/console/language"
            moved = await client.post(
                action, data={"csrf_token": csrf, **form}, headers={**PAGE, "Referer": back(referer)}
            )
            assert moved.status_code == 303, referer
            assert moved.headers["location"] == expected, referer


async def test_the_inbox_column_can_be_filtered_on_every_page(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    """The admin pages showed the column with one status and one language to choose from."""
    admin = await make_staff(Role.ADMIN)
    await sign_in(client, admin.email)
    for address in (
        "/console",
        "/console/admin/flows",
        "/console/admin/knowledge",
        "/console/admin/channels",
    ):
        page = (await client.get(address, headers=PAGE)).text
        assert '<option value="resolved"' in page, address
        assert '<option value="ar"' in page, address
