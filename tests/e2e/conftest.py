"""Browser tests: Debian's Chromium driven by Playwright against a real `helpline serve`.

`make test` installs chromium with apt-get (scripts/test-services.sh); Playwright's own
browser download is never used. Screenshots land in test-artifacts/ for a reviewer.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import Browser, Page, sync_playwright

from helpline.bootstrap import build_container
from helpline.config import Settings
from helpline.domain.contacts import Language
from helpline.domain.conversations import Channel
from helpline.domain.identities import IdentityKind
from helpline.domain.users import Role
from helpline.services.channel_accounts import do_ensure_channel_account
from helpline.services.contacts import ContactSpec, do_create_contact
from helpline.services.users import UserSpec, do_create_team, do_create_user
from helpline.storage.migrate import upgrade
from tests.integration.live_server import free_port, serving
from tests.integration.test_widget_verification import Mailbox

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "browser test password"
ADMIN_EMAIL = "admin@e2e.test"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


@dataclass(frozen=True)
class Site:
    base: str
    agent_email: str
    arabic_agent_email: str
    mailbox: Mailbox


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make test` (it installs Debian's chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


async def _seed(url: str) -> None:
    container = build_container(Settings(database_url=url))
    try:
        async with container.uow() as uow:
            await do_ensure_channel_account(uow, Channel.WEBCHAT, "Website")
            team = await do_create_team(uow, "Front line")
            await do_create_contact(
                uow,
                ContactSpec(
                    name="Мария Иванова",
                    identities=[
                        (IdentityKind.EMAIL, "maria@example.com"),
                        (IdentityKind.PHONE, "+79123456789"),
                    ],
                ),
            )
            for email, name, ui in [
                ("agent@e2e.test", "Alice Agent", Language.EN),
                ("arabic@e2e.test", "ليلى منصور", Language.AR),
            ]:
                user = await do_create_user(
                    uow, UserSpec(email=email, name=name, password=PASSWORD, role=Role.AGENT, ui_language=ui)
                )
                from helpline.storage.models import TeamMember

                uow.session.add(TeamMember(team_id=team.id, user_id=user.id))
            await do_create_user(
                uow,
                UserSpec(
                    email=ADMIN_EMAIL,
                    name="Ada Admin",
                    password=PASSWORD,
                    role=Role.ADMIN,
                    ui_language=Language.EN,
                ),
            )
            await uow.commit()
    finally:
        await container.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """A fresh Helpline on SQLite, served by a real `helpline serve` process, with secure cookies on,
    sending its e-mail to a real SMTP server on loopback."""
    mailbox = Mailbox()
    smtp_port = free_port()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    url = f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}"
    upgrade(url)
    # Playwright's sync API owns this thread's event loop; seed from another thread.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _seed(url)).result()
    env = {
        **os.environ,
        "HELPLINE_DATABASE_URL": url,
        "HELPLINE_LOG_JSON": "true",
        "HELPLINE_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
    }
    env.pop("HELPLINE_REDIS_URL", None)
    try:
        with serving(["serve"], env, tmp_path / "serve.log") as base:
            yield Site(base, "agent@e2e.test", "arabic@e2e.test", mailbox)
    finally:
        smtp.stop()


def sign_in(page: Page, site: Site, email: str) -> None:
    page.goto(f"{site.base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/console**")


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


def fresh_artifacts() -> None:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
