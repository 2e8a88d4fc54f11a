"""The agents' live event stream (websocket).

The connection is authenticated like any route (session cookie or bearer token, agent
role at least), and each event is filtered through the same access rule as the REST API.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, WebSocket, WebSocketDisconnect

from helpline.domain.access import can_view_conversation
from helpline.domain.events import Event
from helpline.web.deps import container
from helpline.web.live import relay
from helpline.web.security import Principal, require_agent

router = APIRouter(tags=["realtime"])


def visible(principal: Principal, event: Event) -> bool:
    if event.conversation_id is None:
        return True
    return can_view_conversation(principal.viewer, event.assignee_id, event.team_id)


@router.websocket("/api/v1/events")
async def events(websocket: WebSocket, principal: Annotated[Principal, Depends(require_agent)]) -> None:
    await websocket.accept()

    async def send(event: Event) -> None:
        await websocket.send_text(event.client_text())

    async with container(websocket).bus.subscribe(lambda event: visible(principal, event)) as queue:
        try:
            await websocket.send_json({"type": "hello", "user_id": principal.user.id})
        except WebSocketDisconnect:
            return
        await relay(websocket, queue, send)
