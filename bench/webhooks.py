"""Benchmark: Telegram-format webhooks into a real `helpline serve` on PostgreSQL.

What a bot with many customers does to Helpline: Telegram POSTs one `Update` per request
(up to 40 connections at once by default), each checked against the secret token, parsed,
and committed (contact by identity, conversation, message, idempotent on the update) before
the 200. Every 10th request is a provider retry of the previous update: it must answer 200
and store nothing new.

Two phases against the same server, then the physical reference on the same database:
1. open loop at --rate webhooks/s for --seconds, after 2 s at the same rate that are not
   measured (the connections a steady stream keeps open get opened there): latency is measured
   from when each request was due, not when it left, so a stalled server cannot hide its queue
   (no coordinated omission);
2. closed loop with --connections senders as fast as the server answers: the sustained maximum;
3. raw reference: single-row INSERT transactions from --connections connections through the same
   driver (psycopg), for the same time: what the database alone does on this machine.
Prints webhooks/s, p50/p99 answer time, the ratio max webhooks/s : raw rows/s, and the server's
CPU time per webhook in each loop (from /proc; steadier than answer times on a shared machine:
about 0.9-1.1 ms in the open loop at 500/s and 0.35-0.45 ms in the closed loop here, where
requests share event-loop wake-ups and transactions; 1.4-1.6 and 0.8-1.0 ms before a
message became one or two SQL statements). Of the open loop's measured 6,000 requests about
1,200 are first messages of new customers (2,000 customers, 1,000 requests of warm-up).
Target (issue "Messenger channels"): >= 500 webhooks/s with p99 < 50 ms.

    python bench/webhooks.py                  # HELPLINE_TEST_POSTGRES_URL or --postgres-url

The load generator is a lean keep-alive HTTP/1.1 client on asyncio streams (an HTTP library
would cost more CPU than the server it measures); it shares the machine's cores with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from helpline.bootstrap import build_container
from helpline.config import Settings
from helpline.domain.conversations import Channel
from helpline.services.channel_accounts import do_create_channel_account
from helpline.storage.migrate import upgrade

sys.path.insert(0, str(Path(__file__).resolve().parent))
from realtime import free_port, fresh_postgres, start_server, wait_healthy

SECRET = "bench-webhook-secret"  # noqa: S105 (a benchmark fixture)
CUSTOMERS = 2000
RETRY_EVERY = 10
WARM_UP_SECONDS = 2.0


@dataclass
class Load:
    """The stream of updates: customers take turns, every RETRY_EVERY-th request repeats one."""

    sent: int = 0
    update_id: int = 100_000

    def next_body(self) -> bytes:
        self.sent += 1
        if self.sent % RETRY_EVERY != 0:
            self.update_id += 1
        uid = self.update_id
        customer = 500_000_000 + uid % CUSTOMERS
        update = {
            "update_id": uid,
            "message": {
                "message_id": uid,
                "from": {"id": customer, "is_bot": False, "first_name": "Клиент", "language_code": "ru"},
                "chat": {"id": customer, "first_name": "Клиент", "type": "private"},
                "date": int(time.time()),
                "text": f"Когда следующий тираж? Вопрос {uid}",
            },
        }
        return json.dumps(update, ensure_ascii=False).encode()

    @property
    def distinct(self) -> int:
        return self.update_id - 100_000


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    #: what went wrong, e.g. {"HTTP 503": 3, "ConnectionResetError": 1}
    kinds: Counter[str] = field(default_factory=Counter)
    #: Each answered request of the open loop: (seconds into the run it was due, its answer time,
    #: how late the load generator sent it). A stall with requests sent on time is the server's.
    timeline: list[tuple[float, float, float]] = field(default_factory=list)

    def failed(self, kind: str) -> None:
        self.errors += 1
        self.kinds[kind] += 1

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


#: uvicorn closes a keep-alive connection idle for 5 s; like any HTTP client, do not reuse one
#: that may be closing (a POST written into a closing socket gets no answer).
MAX_IDLE_SECONDS = 4.0


class Connection:
    """One keep-alive HTTP/1.1 connection that POSTs a body and reads the status line."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self.host, self.port, self.path = host, port, path
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.last_used = 0.0

    async def post(self, body: bytes) -> int:
        if self.writer is not None and time.perf_counter() - self.last_used > MAX_IDLE_SECONDS:
            self.writer.close()
            self.writer = None
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"X-Telegram-Bot-Api-Secret-Token: {SECRET}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        if length:
            await self.reader.readexactly(length)
        self.last_used = time.perf_counter()
        return int(status_line.split()[1])


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by process `pid` and its children (the workers of
    `helpline serve --workers N`), from /proc; 0.0 where /proc is not there."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    pids.extend(int(c) for c in children)
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime (fields 14 and 15)
    return total


async def open_loop(
    host: str, port: int, path: str, load: Load, rate: float, seconds: float, idle: list[Connection]
) -> Stats:
    """Send ``rate`` webhooks/s for ``seconds``; ``idle`` holds (and keeps) reusable connections."""
    stats = Stats()
    total = int(rate * seconds)
    start = time.perf_counter() + 0.1
    pending: set[asyncio.Task[None]] = set()

    async def one(due: float, body: bytes) -> None:
        conn = idle.pop() if idle else Connection(host, port, path)
        late = time.perf_counter() - due
        try:
            code = await conn.post(body)
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            stats.failed(type(exc).__name__)
            return
        stats.latencies.append(time.perf_counter() - due)
        stats.timeline.append((due - start, time.perf_counter() - due, late))
        if code != 200:
            stats.failed(f"HTTP {code}")
        idle.append(conn)

    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(due, load.next_body()))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    return stats


async def closed_loop(
    connections: int, seconds: float, step: Callable[[int], asyncio.Future[None] | object]
) -> tuple[int, Stats]:
    stats = Stats()
    deadline = time.perf_counter() + seconds
    done = 0

    async def worker(n: int) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                await step(n)  # type: ignore[misc]
            except Exception:  # counted, the run goes on
                stats.errors += 1
                continue
            stats.latencies.append(time.perf_counter() - t0)
            done += 1

    await asyncio.gather(*(worker(n) for n in range(connections)))
    return done, stats


async def run(args: argparse.Namespace) -> None:
    url = fresh_postgres(args.postgres_url)
    upgrade(url)
    container = build_container(Settings(database_url=url))
    async with container.uow() as uow:
        account = await do_create_channel_account(
            uow,
            Channel.TELEGRAM,
            "bench bot",
            {"bot_token": "1:bench", "webhook_secret": SECRET, "api_base": "http://127.0.0.1:9"},
            None,
        )
        await uow.commit()
    port = free_port()
    log = Path(tempfile.mkdtemp()) / "serve.log"
    server = start_server(url, port, log, workers=args.workers, redis_url=args.redis_url)
    path = f"/webhooks/telegram/{account.id}"
    load = Load()
    try:
        await wait_healthy(f"http://127.0.0.1:{port}", server)
        # Warm-up, not measured: the same rate for WARM_UP_SECONDS, so the measured phase starts
        # with the connections a steady stream keeps open (client and server alike).
        idle: list[Connection] = []
        await open_loop("127.0.0.1", port, path, load, args.rate, WARM_UP_SECONDS, idle)

        # The load generator's own collector must not stall it: a full collection over the
        # modules it imported (SQLAlchemy, helpline) would show up as server latency.
        gc.collect()
        gc.freeze()
        # The wall-clock start, to line the slowest answers up with PostgreSQL's and the server's logs.
        print(f"measured phase starts {datetime.now(UTC):%H:%M:%S.%f} UTC", flush=True)
        cpu_before = cpu_seconds(server.pid)
        opened = await open_loop("127.0.0.1", port, path, load, args.rate, args.seconds, idle)
        server_cpu = cpu_seconds(server.pid) - cpu_before
        achieved = len(opened.latencies) / args.seconds
        print(
            f"open loop  {args.rate:5.0f}/s for {args.seconds:g} s: {achieved:6.0f} webhooks/s answered, "
            f"p50 {opened.pct(0.5):6.2f} ms  p99 {opened.pct(0.99):6.2f} ms  max {opened.pct(1.0):7.2f} ms  "
            f"errors {opened.errors}" + (f" {dict(opened.kinds)}" if opened.kinds else "")
        )

        if opened.latencies and server_cpu:
            # Less sensitive to what else the machine is doing than the answer times are.
            print(
                f"server CPU in the open loop: {server_cpu / len(opened.latencies) * 1e6:5.0f} µs a webhook "
                f"({server_cpu / args.seconds:.0%} of one core)"
            )
        if args.slowest:
            # When in the run the slowest answers came (a stall shows as a run of them).
            slow = sorted(opened.timeline, key=lambda t: -t[1])[: args.slowest]
            print(
                "slowest (s into the run: ms):",
                " ".join(f"{t:.2f}:{lat * 1e3:.0f}(sent +{sent * 1e3:.0f})" for t, lat, sent in sorted(slow)),
            )
        senders = [Connection("127.0.0.1", port, path) for _ in range(args.connections)]

        async def send(n: int) -> None:
            if await senders[n].post(load.next_body()) != 200:
                raise RuntimeError("non-200")

        cpu_before = cpu_seconds(server.pid)
        done, closed = await closed_loop(args.connections, args.seconds, send)
        closed_cpu = cpu_seconds(server.pid) - cpu_before
        webhook_rate = done / args.seconds
        print(
            f"closed loop {args.connections} connections: {webhook_rate:6.0f} webhooks/s max, "
            f"p50 {closed.pct(0.5):6.2f} ms  p99 {closed.pct(0.99):6.2f} ms  errors {closed.errors}"
        )
        if done and closed_cpu:
            print(
                f"server CPU in the closed loop: {closed_cpu / done * 1e6:5.0f} µs a webhook "
                f"({closed_cpu / args.seconds:.0%} of one core)"
            )
    finally:
        server.terminate()
        server.wait(timeout=30)

    async with container.engine.connect() as db:
        stored = (await db.execute(text("SELECT count(*) FROM messages"))).scalar_one()
    print(f"stored {stored} messages for {load.sent} requests ({load.distinct} distinct updates)")
    assert stored == load.distinct, "every distinct update stored exactly once"

    async with container.engine.begin() as db:
        await db.execute(text("CREATE TABLE bench_raw (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL)"))
    raw_engine = container.engine

    async def raw_insert(_n: int) -> None:
        async with raw_engine.begin() as db:
            await db.execute(text("INSERT INTO bench_raw (body) VALUES (:body)"), {"body": "raw message"})

    raw_done, raw = await closed_loop(min(args.connections, 20), args.seconds, raw_insert)
    raw_rate = raw_done / args.seconds
    await container.close()
    print(
        f"raw insert (1 row/txn, {min(args.connections, 20)} connections): {raw_rate:6.0f} rows/s  "
        f"p50 {raw.pct(0.5):6.2f} ms  p99 {raw.pct(0.99):6.2f} ms"
    )
    met = achieved >= 500 and opened.pct(0.99) < 50 and opened.errors == 0
    print(
        f"ratio webhooks/raw: {webhook_rate / raw_rate:.2f}   target >= 500 webhooks/s with p99 < 50 ms "
        f"at {args.rate:g}/s: {'met' if met else 'NOT met'}"
    )
    print(f"(server log: {log}; started {datetime.now(UTC):%H:%M:%S} UTC)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=500, help="open-loop webhooks per second")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--slowest", type=int, default=0, help="print when the N slowest answers came")
    parser.add_argument(
        "--connections", type=int, default=40, help="closed-loop senders (Telegram's default)"
    )
    parser.add_argument("--postgres-url", default=os.environ.get("HELPLINE_TEST_POSTGRES_URL"))
    parser.add_argument("--workers", type=int, default=1, help="helpline serve processes (2+: needs Redis)")
    parser.add_argument("--redis-url", default=os.environ.get("HELPLINE_TEST_REDIS_URL"))
    args = parser.parse_args()
    if not args.postgres_url:
        raise SystemExit("PostgreSQL URL missing: pass --postgres-url or run `make services` first")
    print(
        f"webhook benchmark: Telegram updates into helpline serve ({args.workers} process(es)), PostgreSQL, "
        f"{os.cpu_count()} CPUs shared with the load generator and PostgreSQL"
    )
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
