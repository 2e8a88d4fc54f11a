"""A delivery worker killed with SIGKILL mid-batch loses nothing: after a restart every message
ends delivered; the only duplicates are sends that were in flight when it died (Telegram's
sendMessage has no idempotency key), and they are counted and reported.

Replies of one conversation go out one at a time (order matters to the reader), so at most one
send per conversation is in flight; the test spreads replies over several customers to have
a real batch on the wire when the worker dies.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from helpline.bootstrap import build_container
from helpline.domain.access import Viewer
from helpline.domain.conversations import Channel
from helpline.domain.identities import IdentityKind
from helpline.domain.inbound import InboundMessage
from helpline.domain.users import Role
from helpline.services.channel_accounts import do_create_channel_account
from helpline.services.conversations import do_agent_reply
from helpline.services.inbound import ingest_inbound
from helpline.services.users import UserSpec, do_create_user
from helpline.storage.models import Message, OutboxItem
from helpline.worker.delivery import DEFAULT_BATCH
from tests.conftest import make_settings, truncate_postgres
from tests.fakes.telegram_api import FakeTelegram, running_fake_telegram
from tests.integration.live_server import HELPLINE

TOKEN = "777000:crash-test-token"
CUSTOMERS = (424242, 515151, 626262, 737373)
PER_CUSTOMER = 15
MESSAGES = len(CUSTOMERS) * PER_CUSTOMER


async def queue_replies(url: str, fake: FakeTelegram) -> None:
    container = build_container(make_settings(url))
    async with container.uow() as uow:
        account = await do_create_channel_account(
            uow, Channel.TELEGRAM, "bot", {"bot_token": TOKEN, "api_base": fake.base_url}, None
        )
        admin = await do_create_user(
            uow,
            UserSpec(email="admin@crash.test", name="Admin", password="long admin password", role=Role.ADMIN),
        )
        await uow.commit()
    viewer = Viewer(admin.id, Role.ADMIN, frozenset())
    for customer in CUSTOMERS:
        result = await ingest_inbound(
            container.uow,
            InboundMessage(
                channel=Channel.TELEGRAM,
                channel_account_id=account.id,
                identity_kind=IdentityKind.TELEGRAM,
                identity_value=str(customer),
                text="Где мой заказ?",
                provider_message_id=f"{customer}:1",
                sent_at=datetime.now(UTC),
            ),
        )
        for n in range(PER_CUSTOMER):
            async with container.uow() as uow:
                await do_agent_reply(uow, viewer, result.conversation_id, f"reply {n}")
                await uow.commit()
    await container.close()


async def delivery_state(url: str) -> tuple[dict[str, int], int]:
    container = build_container(make_settings(url))
    async with container.uow() as uow:
        # Pending first: each statement reads what is committed when it starts, and an item and
        # its message are marked in one transaction, so messages read after "nothing pending"
        # are all marked. The other order races a worker committing between the two reads.
        pending = await uow.session.scalar(
            select(func.count()).select_from(OutboxItem).where(OutboxItem.status != "done")
        )
        rows = (
            await uow.session.execute(
                select(Message.delivery_status, func.count())
                .where(Message.direction == "outbound")
                .group_by(Message.delivery_status)
            )
        ).all()
    await container.close()
    return {status: n for status, n in rows}, int(pending or 0)


def start_worker(url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HELPLINE_DATABASE_URL": url, "HELPLINE_DELIVERY_LEASE_SECONDS": "2"}
    with log.open("ab") as out:
        return subprocess.Popen([HELPLINE, "worker"], env=env, stdout=out, stderr=subprocess.STDOUT)


def test_worker_killed_mid_batch_then_restarted_delivers_everything(
    migrated_postgres: str, tmp_path: Path
) -> None:
    truncate_postgres(migrated_postgres)
    with running_fake_telegram(TOKEN) as fake:
        asyncio.run(queue_replies(migrated_postgres, fake))
        # Every send takes a while, so the kill lands while a batch is on the wire.
        fake.fail_next("sendMessage", *[("delay", 0.3)] * (MESSAGES + len(CUSTOMERS)))
        log = tmp_path / "worker.log"
        worker = start_worker(migrated_postgres, log)
        deadline = time.monotonic() + 30
        while len(fake.calls("sendMessage")) < 12 and time.monotonic() < deadline:
            time.sleep(0.02)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        killed_after = len(fake.calls("sendMessage"))
        assert 0 < killed_after < MESSAGES, "the kill must land mid-run"
        states, pending = asyncio.run(delivery_state(migrated_postgres))
        assert pending > 0

        worker = start_worker(migrated_postgres, log)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                states, pending = asyncio.run(delivery_state(migrated_postgres))
                if pending == 0:
                    break
                time.sleep(0.3)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=20)

        assert pending == 0, log.read_text()[-3000:]
        assert states == {"sent": MESSAGES}
        duplicates = 0
        for customer in CUSTOMERS:
            sent = [m["text"] for m in fake.sent_messages(customer)]
            expected = [f"reply {n}" for n in range(PER_CUSTOMER)]
            # Every reply reached Telegram, first sends in the order written.
            assert list(dict.fromkeys(sent)) == expected
            duplicates += sum(n - 1 for n in Counter(sent).values())
        # Only sends in flight at the kill can repeat: one per conversation at most.
        assert duplicates <= len(CUSTOMERS)
        assert len(CUSTOMERS) <= DEFAULT_BATCH  # the batch really held every conversation at once
        print(f"\ncrash test: killed after {killed_after} sends; {duplicates} duplicate(s) re-sent")
