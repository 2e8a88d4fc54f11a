"""Pumping bus events into one websocket until either side goes away."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import anyio
from starlette.websockets import WebSocket, WebSocketDisconnect

from helpline.domain.events import Event

#: What sending to a socket the client already left raises (Starlette, uvicorn, the OS).
GONE = (WebSocketDisconnect, RuntimeError, OSError)


async def relay(
    websocket: WebSocket, queue: asyncio.Queue[Event], send: Callable[[Event], Awaitable[None]]
) -> None:
    """Send each queued event with `send` until the client disconnects.

    The socket is read at the same time, so a client that leaves is noticed at once and its
    subscription released, not only when the next event for it fails to send. An anyio task
    group (not bare asyncio tasks) keeps the server's own cancellation working on shutdown.
    """
    async with anyio.create_task_group() as group:

        async def pump() -> None:
            try:
                while True:
                    await send(await queue.get())
            except GONE:
                pass
            group.cancel_scope.cancel()

        async def until_disconnect() -> None:
            try:
                while (await websocket.receive())["type"] != "websocket.disconnect":
                    pass  # clients have nothing to say on this socket; ignore what they send
            except GONE:
                pass
            group.cancel_scope.cancel()

        group.start_soon(pump)
        group.start_soon(until_disconnect)
