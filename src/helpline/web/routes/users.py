"""REST: staff accounts and teams (admins), and each user's own profile, presence and API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status

from helpline.services import auth as auth_svc
from helpline.services import users as svc
from helpline.storage.uow import UnitOfWork
from helpline.web import schemas
from helpline.web.deps import open_uow
from helpline.web.security import Principal, require_admin, require_agent
from helpline.web.views import team_out, user_out

admin = APIRouter(prefix="/api/v1", tags=["administration"], dependencies=[Depends(require_admin)])
me = APIRouter(prefix="/api/v1/me", tags=["me"], dependencies=[Depends(require_agent)])
Uow = Annotated[UnitOfWork, Depends(open_uow)]
Agent = Annotated[Principal, Depends(require_agent)]


@admin.get("/users")
async def list_users(uow: Uow) -> list[schemas.UserOut]:
    return [await user_out(uow, u) for u in await svc.list_users(uow)]


@admin.post("/users", status_code=status.HTTP_201_CREATED)
async def create_user(body: schemas.UserIn, uow: Uow) -> schemas.UserOut:
    user = await svc.do_create_user(
        uow,
        svc.UserSpec(
            email=body.email,
            name=body.name,
            password=body.password,
            role=body.role,
            ui_language=body.ui_language,
            languages=body.languages,
            skills=body.skills,
            capacity=body.capacity,
        ),
    )
    await uow.commit()
    return await user_out(uow, user)


@admin.get("/users/{user_id}")
async def read_user(user_id: int, uow: Uow) -> schemas.UserOut:
    return await user_out(uow, await svc.access_user(uow, user_id))


@admin.patch("/users/{user_id}")
async def update_user(user_id: int, body: schemas.UserPatch, uow: Uow) -> schemas.UserOut:
    changes = svc.UserChanges(**{k: getattr(body, k) for k in body.model_fields_set})
    user = await svc.do_update_user(uow, user_id, changes)
    await uow.commit()
    return await user_out(uow, user)


@admin.get("/teams")
async def list_teams(uow: Uow) -> list[schemas.TeamOut]:
    return [await team_out(uow, t) for t in await svc.list_teams(uow)]


@admin.post("/teams", status_code=status.HTTP_201_CREATED)
async def create_team(body: schemas.TeamIn, uow: Uow) -> schemas.TeamOut:
    team = await svc.do_create_team(uow, body.name, body.description, body.skills, body.member_ids)
    await uow.commit()
    return await team_out(uow, team)


@admin.patch("/teams/{team_id}")
async def update_team(team_id: int, body: schemas.TeamPatch, uow: Uow) -> schemas.TeamOut:
    team = await svc.do_update_team(
        uow,
        team_id,
        name=body.name,
        description=body.description,
        skills=body.skills,
        member_ids=body.member_ids,
    )
    await uow.commit()
    return await team_out(uow, team)


@me.get("")
async def read_me(uow: Uow, principal: Agent) -> schemas.UserOut:
    return await user_out(uow, await svc.access_user(uow, principal.user.id))


@me.post("/presence")
async def set_presence(body: schemas.PresenceIn, uow: Uow, principal: Agent) -> schemas.UserOut:
    user = await svc.do_set_presence(uow, await svc.access_user(uow, principal.user.id), body.presence)
    await uow.commit()
    return await user_out(uow, user)


@me.get("/tokens")
async def list_tokens(uow: Uow, principal: Agent) -> list[schemas.TokenOut]:
    return [
        schemas.TokenOut.model_validate(t) for t in await auth_svc.list_api_tokens(uow, principal.user.id)
    ]


@me.post("/tokens", status_code=status.HTTP_201_CREATED)
async def create_token(body: schemas.TokenIn, uow: Uow, principal: Agent) -> schemas.TokenCreated:
    created = await auth_svc.do_create_api_token(uow, principal.user.id, body.name)
    await uow.commit()
    return schemas.TokenCreated.model_validate(
        {**schemas.TokenOut.model_validate(created.record).model_dump(), "token": created.token}
    )


@me.delete("/tokens/{token_id}")
async def revoke_token(token_id: int, uow: Uow, principal: Agent) -> schemas.TokenOut:
    record = await auth_svc.do_revoke_api_token(uow, principal.user.id, token_id)
    await uow.commit()
    return schemas.TokenOut.model_validate(record)
