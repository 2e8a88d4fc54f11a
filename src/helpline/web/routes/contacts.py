"""REST: contacts and their identities."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status

from helpline.domain.identities import IdentityKind
from helpline.services import contacts as svc
from helpline.storage.uow import UnitOfWork
from helpline.web import schemas
from helpline.web.deps import container, open_uow
from helpline.web.security import Principal, require_agent
from helpline.web.views import contact_out, contacts_out

router = APIRouter(prefix="/api/v1/contacts", tags=["contacts"], dependencies=[Depends(require_agent)])
Uow = Annotated[UnitOfWork, Depends(open_uow)]
Agent = Annotated[Principal, Depends(require_agent)]


def _region(request: Request) -> str:
    return container(request).settings.default_region


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_contact(body: schemas.ContactIn, uow: Uow, request: Request) -> schemas.ContactOut:
    spec = svc.ContactSpec(
        name=body.name,
        language=body.language,
        is_vip=body.is_vip,
        personal_manager_id=body.personal_manager_id,
        tags=body.tags,
        attributes=body.attributes,
        identities=[(i.kind, i.value) for i in body.identities],
    )
    contact = await svc.do_create_contact(uow, spec, _region(request))
    await uow.commit()
    return await contact_out(uow, contact)


@router.get("")
async def search_contacts(
    uow: Uow,
    request: Request,
    q: Annotated[str | None, Query(max_length=200, description="name or identity part")] = None,
    identity_kind: IdentityKind | None = None,
    identity_value: Annotated[str | None, Query(max_length=255)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[schemas.ContactOut]:
    found = await svc.search_contacts(
        uow,
        query=q,
        identity_kind=identity_kind,
        identity_value=identity_value,
        limit=limit,
        offset=offset,
        default_region=_region(request),
    )
    return await contacts_out(uow, found)


@router.get("/{contact_id}")
async def read_contact(contact_id: int, uow: Uow) -> schemas.ContactOut:
    return await contact_out(uow, await svc.access_contact(uow, contact_id))


@router.patch("/{contact_id}")
async def update_contact(contact_id: int, body: schemas.ContactPatch, uow: Uow) -> schemas.ContactOut:
    changes = svc.ContactChanges.from_mapping({k: getattr(body, k) for k in body.model_fields_set})
    contact = await svc.do_update_contact(uow, contact_id, changes)
    await uow.commit()
    return await contact_out(uow, contact)


@router.post("/{contact_id}/identities", status_code=status.HTTP_201_CREATED)
async def add_identity(
    contact_id: int, body: schemas.IdentityIn, uow: Uow, request: Request
) -> schemas.ContactOut:
    await svc.do_add_identity(uow, contact_id, body.kind, body.value, default_region=_region(request))
    await uow.commit()
    return await contact_out(uow, await svc.access_contact(uow, contact_id))


@router.post("/{contact_id}/merge")
async def merge_contact(
    contact_id: int, body: schemas.MergeIn, uow: Uow, principal: Agent
) -> schemas.MergeOut:
    """Merge `source_contact_id` into this contact; its identities and conversations move here."""
    record = await svc.do_merge_contacts(uow, contact_id, body.source_contact_id, principal.user.id)
    await uow.commit()
    return schemas.MergeOut.model_validate(record)
