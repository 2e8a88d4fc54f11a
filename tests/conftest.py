"""Shared fixtures: a real SQLite file and a real PostgreSQL server for every storage/API test.

`make test` starts PostgreSQL and Redis on loopback (scripts/test-services.sh) and exports
their URLs; without them the PostgreSQL half of the suite fails loudly rather than skipping.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, text

from helpline.bootstrap import Container, build_container
from helpline.config import Settings
from helpline.storage.db import to_sync_url
from helpline.storage.migrate import upgrade
from helpline.storage.models import Base

# Properties are checked by their examples, not by how fast each runs: on a loaded two-core
# machine one example can stall past Hypothesis's 200 ms deadline and fail a correct test.
hypothesis_settings.register_profile("helpline", deadline=None)
hypothesis_settings.load_profile("helpline")

BACKENDS = ["sqlite", "postgres"]


def postgres_url() -> str:
    url = os.environ.get("HELPLINE_TEST_POSTGRES_URL")
    if not url:
        pytest.fail(
            "HELPLINE_TEST_POSTGRES_URL is not set: run the suite with `make test`, which starts "
            "PostgreSQL on loopback (scripts/test-services.sh start)"
        )
    return url


def redis_url() -> str:
    url = os.environ.get("HELPLINE_TEST_REDIS_URL")
    if not url:
        pytest.fail(
            "HELPLINE_TEST_REDIS_URL is not set: run the suite with `make test`, which starts "
            "Redis on loopback (scripts/test-services.sh start)"
        )
    return url


def limit_keys() -> list[bytes]:
    """The login/visitor limiter's keys in the test Redis."""
    import redis

    client = redis.Redis.from_url(redis_url())
    try:
        return list(client.scan_iter("helpline:limit:*"))
    finally:
        client.close()


def flush_limits() -> None:
    """Forget every limiter count in the test Redis (tests share the server)."""
    import redis

    client = redis.Redis.from_url(redis_url())
    try:
        for key in client.scan_iter("helpline:limit:*"):
            client.delete(key)
    finally:
        client.close()


def reset_postgres_schema(url: str) -> None:
    engine = create_engine(to_sync_url(url))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def truncate_postgres(url: str) -> None:
    engine = create_engine(to_sync_url(url))
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for each test (faster than migrating every time)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def migrated_postgres() -> str:
    url = postgres_url()
    reset_postgres_schema(url)
    upgrade(url)
    return url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "helpline.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
    else:
        url = request.getfixturevalue("migrated_postgres")
        truncate_postgres(url)
        yield url


def make_settings(database_url: str) -> Settings:
    # Tests talk plain HTTP to the ASGI app, where a Secure cookie would not be sent back.
    return Settings(database_url=database_url, cookie_secure=False, log_json=True)


@pytest.fixture
async def container(database_url: str) -> AsyncIterator[Container]:
    c = build_container(make_settings(database_url))
    yield c
    await c.close()
