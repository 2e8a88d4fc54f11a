"""REST: reading attachments of conversations the agent may see."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from helpline.services.attachments import access_attachment_as_agent
from helpline.storage.uow import UnitOfWork
from helpline.web.deps import container, open_uow
from helpline.web.files import attachment_response
from helpline.web.security import Principal, require_agent

router = APIRouter(
    prefix="/api/v1/attachments", tags=["conversations"], dependencies=[Depends(require_agent)]
)


@router.get("/{attachment_id}", response_class=Response)
async def read_attachment(
    attachment_id: int,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(open_uow)],
    principal: Annotated[Principal, Depends(require_agent)],
) -> Response:
    attachment = await access_attachment_as_agent(uow, principal.viewer, attachment_id)
    return await attachment_response(container(request).files, attachment)
