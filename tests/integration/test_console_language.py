"""Everyone picks the language of their own console (it could only be set by an admin, in the API)."""

from __future__ import annotations

import httpx

from helpline.domain.users import Role
from tests.integration.conftest import MakeStaff
from tests.integration.test_console_bot import sign_in


async def test_an_agent_switches_their_console_to_russian_and_back(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    agent = await make_staff(Role.AGENT)
    csrf = await sign_in(client, agent.email)
    page = (await client.get("/console")).text
    assert '<option value="ar" lang="ar" >العربية</option>' in page  # each language in its own name

    switched = await client.post("/console/language", data={"csrf_token": csrf, "ui_language": "ru"})
    assert switched.status_code == 303
    russian = (await client.get("/console")).text
    assert '<html lang="ru"' in russian
    assert "Выйти" in russian
    assert '<option value="ru" lang="ru" selected>Русский</option>' in russian

    refused = await client.post("/console/language", data={"csrf_token": csrf, "ui_language": "de"})
    assert refused.status_code == 422
    forged = await client.post("/console/language", data={"ui_language": "en"})
    assert forged.status_code == 403
    assert '<html lang="ru"' in (await client.get("/console")).text

    await client.post("/console/language", data={"csrf_token": csrf, "ui_language": "en"})
    assert '<html lang="en"' in (await client.get("/console")).text
