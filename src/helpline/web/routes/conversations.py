"""REST: conversations, their messages, and the actions agents take on them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from helpline.channels.registry import address_kinds
from helpline.domain.contacts import Language
from helpline.domain.conversations import Channel, ConversationStatus
from helpline.services import conversations as svc
from helpline.services.contacts import access_contact
from helpline.storage.models import Conversation
from helpline.storage.uow import UnitOfWork
from helpline.web import schemas
from helpline.web.deps import container, open_uow
from helpline.web.security import Principal, require_agent
from helpline.web.views import contact_out, messages_out

router = APIRouter(
    prefix="/api/v1/conversations", tags=["conversations"], dependencies=[Depends(require_agent)]
)
Uow = Annotated[UnitOfWork, Depends(open_uow)]
Agent = Annotated[Principal, Depends(require_agent)]


@router.get("")
async def list_conversations(
    uow: Uow,
    principal: Agent,
    status_: Annotated[list[ConversationStatus], Query(alias="status")] = [],  # noqa: B006 (FastAPI copies it)
    channel: Annotated[list[Channel], Query()] = [],  # noqa: B006
    language: Language | None = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    assignee_id: int | None = None,
    unassigned: bool = False,
    team_id: int | None = None,
    contact_id: int | None = None,
    before_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[schemas.ConversationOut]:
    flt = svc.ConversationFilter(
        status=status_,
        channel=channel,
        language=language,
        tag=tag,
        assignee_id=assignee_id,
        unassigned=unassigned,
        team_id=team_id,
        contact_id=contact_id,
        before_id=before_id,
        limit=limit,
    )
    rows = await svc.list_conversations(uow, principal.viewer, flt)
    return [schemas.ConversationOut.model_validate(c) for c in rows]


async def _detail(uow: UnitOfWork, conv: Conversation) -> schemas.ConversationDetail:
    messages = await svc.conversation_messages(uow, conv.id)
    return schemas.ConversationDetail.model_validate(
        {
            **schemas.ConversationOut.model_validate(conv).model_dump(),
            "contact": await contact_out(uow, await access_contact(uow, conv.contact_id)),
            "messages": await messages_out(uow, messages),
        }
    )


@router.get("/{conversation_id}")
async def read_conversation(conversation_id: int, uow: Uow, principal: Agent) -> schemas.ConversationDetail:
    return await _detail(uow, await svc.access_conversation(uow, principal.viewer, conversation_id))


@router.post("/{conversation_id}/assign")
async def assign_conversation(
    conversation_id: int, body: schemas.AssignIn, uow: Uow, principal: Agent
) -> schemas.ConversationOut:
    conv = await svc.do_assign(uow, principal.viewer, conversation_id, body.assignee_id, body.team_id)
    await uow.commit()
    return schemas.ConversationOut.model_validate(conv)


@router.post("/{conversation_id}/status")
async def change_status(
    conversation_id: int, body: schemas.StatusIn, uow: Uow, principal: Agent
) -> schemas.ConversationOut:
    conv = await svc.do_change_status(uow, principal.viewer, conversation_id, body.status)
    await uow.commit()
    return schemas.ConversationOut.model_validate(conv)


@router.post("/{conversation_id}/priority")
async def change_priority(
    conversation_id: int, body: schemas.PriorityIn, uow: Uow, principal: Agent
) -> schemas.ConversationOut:
    conv = await svc.do_set_priority(uow, principal.viewer, conversation_id, body.priority)
    await uow.commit()
    return schemas.ConversationOut.model_validate(conv)


@router.put("/{conversation_id}/tags")
async def set_tags(
    conversation_id: int, body: schemas.TagsIn, uow: Uow, principal: Agent
) -> schemas.ConversationOut:
    conv = await svc.do_set_tags(uow, principal.viewer, conversation_id, body.tags)
    await uow.commit()
    return schemas.ConversationOut.model_validate(conv)


@router.post("/{conversation_id}/typing", status_code=status.HTTP_204_NO_CONTENT)
async def agent_typing(conversation_id: int, uow: Uow, principal: Agent, request: Request) -> Response:
    """Tell the customer (web chat) and colleagues that an agent is writing."""
    conv = await svc.access_conversation(uow, principal.viewer, conversation_id)
    await container(request).bus.publish(
        [svc.conversation_event("typing", conv, who="agent", user_id=principal.user.id)]
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{conversation_id}/reachable-channels")
async def reachable(conversation_id: int, uow: Uow, principal: Agent) -> list[schemas.ReachableChannelOut]:
    """Where the agent can answer this customer: the conversation's own account first."""
    conv = await svc.access_conversation(uow, principal.viewer, conversation_id)
    return [
        schemas.ReachableChannelOut.model_validate(r)
        for r in await svc.reachable_channels(uow, conv, address_kinds())
    ]


@router.post("/{conversation_id}/messages", status_code=status.HTTP_201_CREATED)
async def reply(
    conversation_id: int, body: schemas.ReplyIn, uow: Uow, principal: Agent
) -> schemas.MessageOut:
    """An agent's reply to the customer (queued for delivery), or an internal note with `internal: true`."""
    message = await svc.do_agent_reply(
        uow,
        principal.viewer,
        conversation_id,
        body.text,
        body.internal,
        via_account_id=body.channel_account_id,
        address_kinds=address_kinds(),
    )
    await uow.commit()
    return (await messages_out(uow, [message]))[0]
