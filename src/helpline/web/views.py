"""Turning stored rows into API objects, batching the look-ups a list needs."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from helpline.services.contacts import contact_identities
from helpline.services.users import team_member_ids, user_skills, user_team_ids
from helpline.storage.models import Attachment, Contact, Message, Team, User
from helpline.storage.uow import UnitOfWork
from helpline.web import schemas


async def contacts_out(uow: UnitOfWork, contacts: Sequence[Contact]) -> list[schemas.ContactOut]:
    identities = await contact_identities(uow, [c.id for c in contacts])
    return [
        schemas.ContactOut.model_validate(
            {
                **{k: getattr(c, k) for k in schemas.ContactOut.model_fields if k != "identities"},
                "identities": [schemas.IdentityOut.model_validate(i) for i in identities[c.id]],
            }
        )
        for c in contacts
    ]


async def contact_out(uow: UnitOfWork, contact: Contact) -> schemas.ContactOut:
    return (await contacts_out(uow, [contact]))[0]


async def messages_out(uow: UnitOfWork, messages: Sequence[Message]) -> list[schemas.MessageOut]:
    by_message: dict[int, list[schemas.AttachmentOut]] = {m.id: [] for m in messages}
    if messages:
        rows = await uow.session.scalars(
            select(Attachment).where(Attachment.message_id.in_(list(by_message)))
        )
        for row in rows:
            by_message[row.message_id].append(schemas.AttachmentOut.model_validate(row))
    return [
        schemas.MessageOut.model_validate(
            {
                **{k: getattr(m, k) for k in schemas.MessageOut.model_fields if k != "attachments"},
                "attachments": by_message[m.id],
            }
        )
        for m in messages
    ]


async def user_out(uow: UnitOfWork, user: User) -> schemas.UserOut:
    return schemas.UserOut.model_validate(
        {
            **{k: getattr(user, k) for k in schemas.UserOut.model_fields if k not in {"skills", "team_ids"}},
            "skills": await user_skills(uow, user.id),
            "team_ids": sorted(await user_team_ids(uow, user.id)),
        }
    )


async def team_out(uow: UnitOfWork, team: Team) -> schemas.TeamOut:
    return schemas.TeamOut(
        id=team.id,
        name=team.name,
        description=team.description,
        skills=list(team.skills),
        member_ids=await team_member_ids(uow, team.id),
    )
