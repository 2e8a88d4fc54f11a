"""Benchmark: inbound message ingest vs the database's raw insert rate.

Stores N inbound messages through `ingest_inbound` — the path every channel webhook uses
(find-or-create the contact by identity, find-or-open the conversation, insert the message,
idempotent on the provider id) — and, in the same run and on the same engine, N raw
single-row INSERTs each in its own transaction: the physical reference. Prints messages/s,
p50/p99 per message, this process's CPU per message (the webhook server's share of the cost)
and the ratio ingest/raw. Target (issue "Foundation"): ratio >= 0.3 on
SQLite and on PostgreSQL.

    python bench/ingest.py --backend both -n 3000
PostgreSQL comes from --postgres-url or HELPLINE_TEST_POSTGRES_URL (`make services` starts one);
the benchmark works in its own database `helpline_bench`, created and emptied here.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import make_url, text

from helpline.bootstrap import build_container
from helpline.config import Settings
from helpline.domain.conversations import Channel
from helpline.domain.identities import IdentityKind
from helpline.domain.inbound import InboundMessage
from helpline.services.channel_accounts import do_ensure_channel_account
from helpline.services.inbound import ingest_inbound
from helpline.storage.db import to_sync_url
from helpline.storage.migrate import upgrade

MESSAGES_PER_CUSTOMER = 5
DUPLICATE_EVERY = 10  # every 10th delivery is a provider retry of the previous message


@dataclass(frozen=True)
class Timing:
    count: int
    seconds: float
    latencies: list[float]
    #: This process's CPU time (the database server's is not in it).
    cpu_seconds: float

    @property
    def cpu_us(self) -> float:
        return self.cpu_seconds / self.count * 1e6

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def timed(n: int, step: Callable[[int], Awaitable[None]]) -> Timing:
    latencies = []
    started, cpu_started = time.perf_counter(), time.process_time()
    for i in range(n):
        t0 = time.perf_counter()
        await step(i)
        latencies.append(time.perf_counter() - t0)
    return Timing(n, time.perf_counter() - started, latencies, time.process_time() - cpu_started)


def fresh_postgres(url: str) -> str:
    """A dedicated, empty `helpline_bench` database on the server of `url`."""
    admin = create_sync_engine(to_sync_url(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS helpline_bench WITH (FORCE)"))
        conn.execute(text("CREATE DATABASE helpline_bench"))
    admin.dispose()
    return make_url(url).set(database="helpline_bench").render_as_string(hide_password=False)


async def run(url: str, n: int, label: str) -> None:
    upgrade(url)
    container = build_container(Settings(database_url=url))
    async with container.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE bench_raw (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"))
    async with container.uow() as uow:
        account = await do_ensure_channel_account(uow, Channel.TELEGRAM, "bench")
        await uow.commit()

    async def raw_insert(i: int) -> None:
        async with container.engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO bench_raw (id, body) VALUES (:id, :body)"),
                {"id": i + 1, "body": f"raw message {i}"},
            )

    duplicates = 0

    async def ingest(i: int) -> None:
        nonlocal duplicates
        seq = i - i // DUPLICATE_EVERY  # the retry reuses the previous provider id
        customer = seq // MESSAGES_PER_CUSTOMER
        result = await ingest_inbound(
            container.uow,
            InboundMessage(
                channel=Channel.TELEGRAM,
                channel_account_id=account.id,
                identity_kind=IdentityKind.TELEGRAM,
                identity_value=str(100_000 + customer),
                text=f"Здравствуйте, вопрос номер {seq}",
                provider_message_id=f"tg-{seq}",
                sent_at=datetime.now(UTC),
                sender_name=f"Customer {customer}",
            ),
        )
        duplicates += result.duplicate

    # Warm both paths (connection, statement caches), then measure each in turn.
    await timed(50, lambda i: raw_insert(10_000_000 + i))
    raw = await timed(n, raw_insert)
    path = await timed(n, ingest)
    async with container.engine.connect() as conn:
        stored = (await conn.execute(text("SELECT count(*) FROM messages"))).scalar_one()
    await container.close()
    ratio = path.rate / raw.rate
    print(
        f"[{label}] raw insert (1 row/txn): {raw.rate:8.0f} rows/s   p50 {raw.pct(0.5):6.2f} ms  "
        f"p99 {raw.pct(0.99):6.2f} ms  CPU {raw.cpu_us:5.0f} µs a row"
    )
    print(
        f"[{label}] ingest path          : {path.rate:8.0f} msg/s    p50 {path.pct(0.5):6.2f} ms  "
        f"p99 {path.pct(0.99):6.2f} ms  CPU {path.cpu_us:5.0f} µs a message   "
        f"({n} deliveries, {duplicates} provider retries, {stored} stored)"
    )
    print(
        f"[{label}] ratio ingest/raw     : {ratio:.2f}   "
        f"(target >= 0.30: {'met' if ratio >= 0.3 else 'NOT met'})"
    )
    assert stored == n - duplicates, "every distinct provider message stored exactly once"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("-n", type=int, default=3000, help="messages (and raw rows) per backend")
    parser.add_argument("--postgres-url", default=os.environ.get("HELPLINE_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    print(f"ingest benchmark: n={args.n}, {os.cpu_count()} CPUs")
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(run(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", args.n, "sqlite"))
    if args.backend in ("postgres", "both"):
        if not args.postgres_url:
            raise SystemExit("PostgreSQL URL missing: pass --postgres-url or run `make services` first")
        asyncio.run(run(fresh_postgres(args.postgres_url), args.n, "postgres"))


if __name__ == "__main__":
    main()
