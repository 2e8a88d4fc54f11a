"""Benchmark: live delivery from a web chat visitor's send to the agents' consoles.

K agent websockets stay connected to one `helpline serve` process (a real subprocess on
loopback); visitors send M messages per second through the widget API (open loop: a send
is started on schedule whether or not earlier ones have finished). For every delivery of
a message to an agent socket it records the time from the start of the visitor's HTTP
send (which includes storing the message) to the frame arriving, and prints p50/p99.
Target (issue "Agent console and web chat widget"): 500 agents, 100 messages/s, p99 < 100 ms.

Fan-out follows the access rule, as in production: each site's web chat lands in its
team's inbox, an agent hears about their teams' conversations, supervisors about all. So
the frames per second are (team size + supervisors) x M; the run prints that figure too.
With --teams 0 every conversation is unrouted and every agent hears every message.

    python bench/realtime.py --agents 500 --rate 100 --seconds 30
    python bench/realtime.py --database postgres   # HELPLINE_TEST_POSTGRES_URL or --postgres-url
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import make_url, text
from websockets.asyncio.client import ClientConnection, connect

from helpline.bootstrap import build_container
from helpline.config import Settings
from helpline.domain.conversations import Channel
from helpline.domain.users import Presence, Role
from helpline.services.auth import do_create_api_token
from helpline.services.channel_accounts import do_ensure_channel_account
from helpline.services.passwords import hash_password
from helpline.services.users import do_create_team
from helpline.services.webchat import do_start_visitor
from helpline.storage.db import to_sync_url
from helpline.storage.migrate import upgrade
from helpline.storage.models import TeamMember, User


@dataclass(frozen=True)
class Staff:
    token: str
    team: int | None  # index of the team; None for supervisors, or when there are no teams
    supervisor: bool


@dataclass(frozen=True)
class Visitor:
    token: str
    team: int | None


@dataclass
class Seeded:
    staff: list[Staff]
    visitors: list[Visitor]


@dataclass
class Record:
    sent_at: dict[int, float] = field(default_factory=dict)  # message id -> send start
    received: list[tuple[int, float]] = field(default_factory=list)  # (message id, arrival)
    send_errors: int = 0
    late_sends: int = 0
    expected: dict[int, int] = field(default_factory=dict)  # message id -> sockets that should get it


def fresh_postgres(url: str) -> str:
    """A dedicated, empty `helpline_bench` database on the server of `url`."""
    admin = create_sync_engine(to_sync_url(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS helpline_bench WITH (FORCE)"))
        conn.execute(text("CREATE DATABASE helpline_bench"))
    admin.dispose()
    return make_url(url).set(database="helpline_bench").render_as_string(hide_password=False)


async def seed(url: str, agents: int, supervisors: int, teams: int, visitors: int) -> Seeded:
    """Users, tokens, one web chat site per team and anonymous visitors, written directly.

    Users get one precomputed argon2 hash: hashing 500 passwords would only slow the set-up.
    """
    upgrade(url)
    container = build_container(Settings(database_url=url))
    password_hash = hash_password("bench password, not used to log in")
    staff: list[Staff] = []
    guests: list[Visitor] = []
    async with container.uow() as uow:
        team_ids = [(await do_create_team(uow, f"Team {n + 1}")).id for n in range(teams)]
        sites = [
            await do_ensure_channel_account(uow, Channel.WEBCHAT, f"site-{n + 1}", team_id=team_ids[n])
            for n in range(teams)
        ] or [await do_ensure_channel_account(uow, Channel.WEBCHAT, "site")]
        for n in range(agents):
            is_supervisor = n < supervisors
            user = User(
                email=f"agent{n}@bench.test",
                name=f"Agent {n}",
                password_hash=password_hash,
                role=(Role.SUPERVISOR if is_supervisor else Role.AGENT).value,
                ui_language="en",
                languages=["en"],
                capacity=5,
                presence=Presence.ONLINE.value,
                is_active=True,
                created_at=uow.now(),
            )
            uow.session.add(user)
            await uow.session.flush()
            team = None if is_supervisor or not teams else n % teams
            if team is not None:
                uow.session.add(TeamMember(team_id=team_ids[team], user_id=user.id))
            token = (await do_create_api_token(uow, user.id, "bench")).token
            staff.append(Staff(token, team, is_supervisor))
        for n in range(visitors):
            site = n % len(sites)
            new = await do_start_visitor(uow, sites[site])
            guests.append(Visitor(new.token, site if teams else None))
        await uow.commit()
    await container.close()
    return Seeded(staff, guests)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    url: str, port: int, log: Path, workers: int = 1, redis_url: str | None = None
) -> subprocess.Popen[bytes]:
    helpline = str(Path(sys.executable).with_name("helpline"))
    env = {**os.environ, "HELPLINE_DATABASE_URL": url, "HELPLINE_PORT": str(port)}
    env["HELPLINE_WEB_WORKERS"] = str(workers)
    env.pop("HELPLINE_REDIS_URL", None)  # one process: in-process fan-out
    if workers > 1:
        if not redis_url:
            raise SystemExit("several server processes need Redis: pass --redis-url or run `make services`")
        env["HELPLINE_REDIS_URL"] = redis_url
    with log.open("wb") as out:
        return subprocess.Popen([helpline, "serve"], env=env, stdout=out, stderr=subprocess.STDOUT)


async def wait_healthy(base: str, proc: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(150):
            if proc.poll() is not None:
                raise SystemExit("helpline serve exited during start-up")
            try:
                if (await client.get(f"{base}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit("helpline serve did not become healthy")


async def agent_socket(ws_base: str, member: Staff, record: Record, ready: asyncio.Event) -> None:
    headers = {"Authorization": f"Bearer {member.token}"}
    async with connect(f"{ws_base}/api/v1/events", additional_headers=headers, max_queue=None) as ws:
        assert json.loads(await ws.recv())["type"] == "hello"
        ready.set()
        await listen(ws, record)


async def listen(ws: ClientConnection, record: Record) -> None:
    async for frame in ws:
        arrived = time.perf_counter()
        event = json.loads(frame)
        if event["type"] == "message.created":
            record.received.append((int(event["message_id"]), arrived))


async def visitor_send(
    client: httpx.AsyncClient, visitor: Visitor, n: int, record: Record, fan_out: int
) -> None:
    started = time.perf_counter()
    try:
        response = await client.post(
            "/widget/v1/messages",
            json={"text": f"Здравствуйте, где мой заказ? #{n}", "client_id": f"bench-{n}"},
            headers={"X-Visitor-Token": visitor.token},
        )
        response.raise_for_status()
    except httpx.HTTPError:
        record.send_errors += 1
        return
    message_id = int(response.json()["id"])
    record.sent_at[message_id] = started
    record.expected[message_id] = fan_out


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(url: str, args: argparse.Namespace, label: str) -> None:
    seeded = await seed(url, args.agents, args.supervisors, args.teams, args.visitors)
    port = free_port()
    base, ws_base = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "serve.log"
        proc = start_server(url, port, log)
        try:
            await wait_healthy(base, proc)
            await measure(base, ws_base, seeded, args, label)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        errors = [line for line in log.read_text().splitlines() if "Traceback" in line or '"error"' in line]
        if errors:
            print(f"[{label}] server log has {len(errors)} error lines, first: {errors[0][:200]}")


async def measure(base: str, ws_base: str, seeded: Seeded, args: argparse.Namespace, label: str) -> None:
    record = Record()
    supervisors = sum(1 for s in seeded.staff if s.supervisor)
    team_sizes: dict[int, int] = {}
    for member in seeded.staff:
        if member.team is not None:
            team_sizes[member.team] = team_sizes.get(member.team, 0) + 1

    def fan_out(visitor: Visitor) -> int:
        if visitor.team is None:
            return len(seeded.staff)  # unrouted: everybody
        return team_sizes.get(visitor.team, 0) + supervisors

    connect_started = time.perf_counter()
    readies = [asyncio.Event() for _ in seeded.staff]
    sockets: list[asyncio.Task[None]] = []
    for member, ready in zip(seeded.staff, readies, strict=True):
        sockets.append(asyncio.create_task(agent_socket(ws_base, member, record, ready)))
        if len(sockets) % 50 == 0:
            await asyncio.gather(*(r.wait() for r in readies[: len(sockets)]))
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), timeout=120)
    connect_seconds = time.perf_counter() - connect_started

    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        rng = random.Random(7)
        interval = 1 / args.rate
        total = int(args.rate * args.seconds)
        sends: list[asyncio.Task[None]] = []
        load_started = time.perf_counter()
        for n in range(total):
            due = load_started + n * interval
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.05:
                record.late_sends += 1
            visitor = rng.choice(seeded.visitors)
            sends.append(asyncio.create_task(visitor_send(client, visitor, n, record, fan_out(visitor))))
        await asyncio.gather(*sends)
        load_seconds = time.perf_counter() - load_started
    expected = sum(record.expected.values())
    for _ in range(100):  # let the last frames arrive
        if len(record.received) >= expected:
            break
        await asyncio.sleep(0.1)
    for task in sockets:
        task.cancel()
    await asyncio.gather(*sockets, return_exceptions=True)

    latencies = sorted(
        (arrived - record.sent_at[mid]) * 1000 for mid, arrived in record.received if mid in record.sent_at
    )
    if args.timeline:
        print_timeline(record, load_started)
    delivered = len(latencies)
    print(
        f"[{label}] {len(seeded.staff)} agent sockets ({supervisors} supervisors, {args.teams} teams) "
        f"connected in {connect_seconds:.1f} s; {len(record.sent_at)} messages in {load_seconds:.1f} s "
        f"= {len(record.sent_at) / load_seconds:.0f} msg/s (target rate {args.rate}), "
        f"{record.send_errors} failed sends, {record.late_sends} sends started >50 ms late"
    )
    print(
        f"[{label}] deliveries to agent sockets: {delivered} of {expected} expected "
        f"({delivered / load_seconds:.0f} frames/s, fan-out {expected / max(1, len(record.sent_at)):.0f} "
        "per message)"
    )
    if latencies:
        p50, p99, worst = percentile(latencies, 0.5), percentile(latencies, 0.99), latencies[-1]
        at_target_load = len(seeded.staff) >= 500 and args.rate >= 100
        verdict = "met" if p99 < 100 and delivered == expected and not record.send_errors else "NOT met"
        print(
            f"[{label}] visitor send -> agent receive: p50 {p50:.1f} ms   p99 {p99:.1f} ms   "
            f"max {worst:.1f} ms   (target p99 < 100 ms at 500 agents, 100 msg/s: {verdict}"
            f"{'' if at_target_load else ', but this run is below that load'})"
        )


def print_timeline(record: Record, started: float, window: float = 2.0) -> None:
    """p99 per window of send time: shows whether delivery keeps up or drifts as the run goes on."""
    buckets: dict[int, list[float]] = {}
    for mid, arrived in record.received:
        if mid in record.sent_at:
            sent = record.sent_at[mid]
            buckets.setdefault(int((sent - started) / window), []).append((arrived - sent) * 1000)
    for key in sorted(buckets):
        values = sorted(buckets[key])
        print(
            f"  sent at {key * window:5.0f}-{(key + 1) * window:.0f} s: {len(values):6d} deliveries  "
            f"p50 {percentile(values, 0.5):8.1f} ms  p99 {percentile(values, 0.99):8.1f} ms"
        )


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=int, default=500, help="agent websockets (supervisors included)")
    parser.add_argument("--supervisors", type=int, default=10, help="how many of them are supervisors")
    parser.add_argument("--teams", type=int, default=25, help="teams and sites; 0: nothing routed")
    parser.add_argument("--visitors", type=int, default=300)
    parser.add_argument("--rate", type=float, default=100, help="visitor messages per second")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--timeline", action="store_true", help="also print p50/p99 per 2 s of sending")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres-url", default=os.environ.get("HELPLINE_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    raise_fd_limit()
    print(
        f"realtime benchmark: {args.agents} agents, {args.rate:g} msg/s for {args.seconds:g} s, "
        f"{args.database}, {os.cpu_count()} CPUs (server and load generator share them)"
    )
    if args.database == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(run(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", args, "sqlite"))
    else:
        if not args.postgres_url:
            raise SystemExit("PostgreSQL URL missing: pass --postgres-url or run `make services` first")
        asyncio.run(run(fresh_postgres(args.postgres_url), args, "postgres"))


if __name__ == "__main__":
    main()
