"""Request-scoped access to the container and a unit of work."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import HTTPConnection

from helpline.bootstrap import Container
from helpline.storage.uow import UnitOfWork


def container(conn: HTTPConnection) -> Container:
    value: Container = conn.app.state.container
    return value


async def open_uow(conn: HTTPConnection) -> AsyncIterator[UnitOfWork]:
    """A transaction per request; routes call `commit()` when their change is complete.

    An exception anywhere leaves the `async with` uncommitted, so a rejected request
    changes nothing.
    """
    async with container(conn).uow() as uow:
        yield uow
