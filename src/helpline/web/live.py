"""Pumping bus events into one websocket until either side goes away."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from starlette.websockets import WebSocket, WebSocketDisconnect

from helpline.domain.events import Event


async def relay(
    websocket: WebSocket, queue: asyncio.Queue[Event], send: Callable[[Event], Awaitable[None]]
) -> None:
    """Send each queued event with `send` until the client disconnects.

    The socket is read at the same time, so a client that leaves is noticed at once and its
    subscription released, not only when the next event for it fails to send.
    """

    async def pump() -> None:
        while True:
            await send(await queue.get())

    async def until_disconnect() -> None:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass  # clients have nothing to say on this socket; ignore what they send

    tasks = {asyncio.create_task(pump()), asyncio.create_task(until_disconnect())}
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        error = task.exception()
        if error is not None and not isinstance(error, (WebSocketDisconnect, RuntimeError, OSError)):
            raise error
