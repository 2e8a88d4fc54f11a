"""API fixtures: the real app over ASGI, and users of each role with their own API tokens."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from helpline.bootstrap import Container, build_container
from helpline.domain.users import Role
from helpline.services.auth import do_create_api_token
from helpline.services.users import UserSpec, do_create_user
from helpline.web.app import create_app
from tests.conftest import make_settings, truncate_postgres

PASSWORD = "correct horse battery staple"
_counter = itertools.count(1)


@dataclass
class Staff:
    id: int
    email: str
    role: Role
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def app(container: Container) -> FastAPI:
    return create_app(container, own_container=False)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


MakeStaff = Callable[..., Awaitable[Staff]]


@pytest.fixture
def make_staff(container: Container) -> MakeStaff:
    async def make(role: Role = Role.AGENT, team_ids: tuple[int, ...] = (), name: str | None = None) -> Staff:
        n = next(_counter)
        email = f"{role.value}{n}@helpline.test"
        async with container.uow() as uow:
            user = await do_create_user(
                uow, UserSpec(email=email, name=name or f"{role.value} {n}", password=PASSWORD, role=role)
            )
            if team_ids:
                from helpline.storage.models import TeamMember

                uow.session.add_all(TeamMember(team_id=t, user_id=user.id) for t in team_ids)
            token = await do_create_api_token(uow, user.id, "tests")
            await uow.commit()
        return Staff(user.id, email, role, token.token)

    return make


class Clock:
    """A clock tests move by hand, so backoff and Retry-After are checked exactly, not by sleeping."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def channel_container(database_url: str, clock: Clock, tmp_path: Path) -> AsyncIterator[Container]:
    """A container for provider channel tests: its own file store, a hand-moved clock, and a short
    HTTP timeout so a fake provider's "timeout" costs a second, not ten."""
    settings = dataclasses.replace(make_settings(database_url), data_dir=str(tmp_path))
    c = build_container(settings, clock=clock)
    c.http = httpx.AsyncClient(timeout=httpx.Timeout(1.0))
    yield c
    await c.close()


@pytest.fixture
async def api(channel_container: Container) -> AsyncIterator[httpx.AsyncClient]:
    """The real app over ASGI around `channel_container` (webhooks and the REST API)."""
    transport = httpx.ASGITransport(app=create_app(channel_container, own_container=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def on_postgres(migrated_postgres: str) -> AsyncIterator[Container]:
    """An emptied PostgreSQL alone: only it lets two transactions write at once (SQLite has one
    writer), which is what tests of concurrent edits need."""
    truncate_postgres(migrated_postgres)
    c = build_container(make_settings(migrated_postgres))
    yield c
    await c.close()
