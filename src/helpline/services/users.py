"""Users and teams: creating staff, their skills, languages, capacity and presence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from helpline.domain.access import Viewer
from helpline.domain.contacts import Language
from helpline.domain.errors import Conflict, DomainError, NotFound
from helpline.domain.events import Event
from helpline.domain.identities import normalise_email
from helpline.domain.users import MAX_CAPACITY, Presence, Role
from helpline.services.passwords import check_password_strength, hash_password
from helpline.storage.models import Team, TeamMember, User, UserSkill
from helpline.storage.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class UserSpec:
    email: str
    name: str
    password: str
    role: Role = Role.AGENT
    ui_language: Language = Language.EN
    languages: Sequence[Language] = ()
    skills: Sequence[str] = ()
    capacity: int = 5


def _check_capacity(capacity: int) -> None:
    if not 0 <= capacity <= MAX_CAPACITY:
        raise DomainError("capacity must be between 0 and {limit}", field="capacity", limit=MAX_CAPACITY)


def _normalise_skills(skills: Sequence[str]) -> list[str]:
    cleaned = sorted({s.strip().lower() for s in skills if s.strip()})
    if any(len(s) > 64 for s in cleaned):
        raise DomainError("skill longer than 64 characters", field="skills")
    return cleaned


async def do_create_user(uow: UnitOfWork, spec: UserSpec) -> User:
    email = normalise_email(spec.email)
    check_password_strength(spec.password)
    _check_capacity(spec.capacity)
    if not spec.name.strip():
        raise DomainError("name is empty", field="name")
    if await uow.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict("a user with this e-mail exists", field="email")
    user = User(
        email=email,
        name=spec.name.strip(),
        password_hash=hash_password(spec.password),
        role=Role(spec.role).value,
        ui_language=Language(spec.ui_language).value,
        languages=sorted({Language(x).value for x in spec.languages}),
        capacity=spec.capacity,
        presence=Presence.OFFLINE.value,
        is_active=True,
        created_at=uow.now(),
    )
    uow.session.add(user)
    try:
        await uow.session.flush()
    except IntegrityError as exc:
        raise Conflict("a user with this e-mail exists", field="email") from exc
    await set_user_skills(uow, user.id, spec.skills)
    return user


async def set_user_skills(uow: UnitOfWork, user_id: int, skills: Sequence[str]) -> list[str]:
    cleaned = _normalise_skills(skills)
    await uow.session.execute(delete(UserSkill).where(UserSkill.user_id == user_id))
    uow.session.add_all(UserSkill(user_id=user_id, skill=s, level=1) for s in cleaned)
    await uow.session.flush()
    return cleaned


async def user_skills(uow: UnitOfWork, user_id: int) -> list[str]:
    rows = await uow.session.scalars(
        select(UserSkill.skill).where(UserSkill.user_id == user_id).order_by(UserSkill.skill)
    )
    return list(rows)


async def user_team_ids(uow: UnitOfWork, user_id: int) -> frozenset[int]:
    rows = await uow.session.scalars(select(TeamMember.team_id).where(TeamMember.user_id == user_id))
    return frozenset(rows)


async def access_user(uow: UnitOfWork, user_id: int) -> User:
    user = await uow.session.get(User, user_id)
    if user is None:
        raise NotFound("no such user", field="user_id")
    return user


async def viewer_for(uow: UnitOfWork, user: User) -> Viewer:
    return Viewer(user_id=user.id, role=Role(user.role), team_ids=await user_team_ids(uow, user.id))


@dataclass(frozen=True, slots=True)
class UserChanges:
    """Fields an admin may change; None means "leave as is"."""

    name: str | None = None
    role: Role | None = None
    ui_language: Language | None = None
    languages: Sequence[Language] | None = None
    skills: Sequence[str] | None = None
    capacity: int | None = None
    is_active: bool | None = None
    password: str | None = None


async def do_update_user(uow: UnitOfWork, user_id: int, changes: UserChanges) -> User:
    user = await access_user(uow, user_id)
    if changes.name is not None:
        if not changes.name.strip():
            raise DomainError("name is empty", field="name")
        user.name = changes.name.strip()
    if changes.role is not None:
        user.role = Role(changes.role).value
    if changes.ui_language is not None:
        user.ui_language = Language(changes.ui_language).value
    if changes.languages is not None:
        user.languages = sorted({Language(x).value for x in changes.languages})
    if changes.capacity is not None:
        _check_capacity(changes.capacity)
        user.capacity = changes.capacity
    if changes.is_active is not None:
        user.is_active = changes.is_active
    if changes.password is not None:
        check_password_strength(changes.password)
        user.password_hash = hash_password(changes.password)
    if changes.skills is not None:
        await set_user_skills(uow, user.id, changes.skills)
    await uow.session.flush()
    return user


async def do_set_presence(uow: UnitOfWork, user: User, presence: Presence) -> User:
    user.presence = Presence(presence).value
    uow.emit(Event(type="presence.changed", payload={"user_id": user.id, "presence": user.presence}))
    await uow.session.flush()
    return user


async def list_users(uow: UnitOfWork) -> list[User]:
    return list(await uow.session.scalars(select(User).order_by(User.id)))


async def do_create_team(
    uow: UnitOfWork,
    name: str,
    description: str = "",
    skills: Sequence[str] = (),
    member_ids: Sequence[int] = (),
) -> Team:
    name = name.strip()
    if not name:
        raise DomainError("team name is empty", field="name")
    if await uow.session.scalar(select(Team.id).where(Team.name == name)) is not None:
        raise Conflict("a team with this name exists", field="name")
    team = Team(name=name, description=description, skills=_normalise_skills(skills), created_at=uow.now())
    uow.session.add(team)
    await uow.session.flush()
    await do_set_team_members(uow, team.id, member_ids)
    return team


async def access_team(uow: UnitOfWork, team_id: int) -> Team:
    team = await uow.session.get(Team, team_id)
    if team is None:
        raise NotFound("no such team", field="team_id")
    return team


async def do_set_team_members(uow: UnitOfWork, team_id: int, member_ids: Sequence[int]) -> list[int]:
    wanted = sorted(set(member_ids))
    if wanted:
        found = set(await uow.session.scalars(select(User.id).where(User.id.in_(wanted))))
        missing = [m for m in wanted if m not in found]
        if missing:
            raise NotFound("no such users: {ids}", field="member_ids", ids=str(missing))
    await uow.session.execute(delete(TeamMember).where(TeamMember.team_id == team_id))
    uow.session.add_all(TeamMember(team_id=team_id, user_id=m) for m in wanted)
    await uow.session.flush()
    return wanted


async def team_member_ids(uow: UnitOfWork, team_id: int) -> list[int]:
    rows = await uow.session.scalars(
        select(TeamMember.user_id).where(TeamMember.team_id == team_id).order_by(TeamMember.user_id)
    )
    return list(rows)


async def list_teams(uow: UnitOfWork) -> list[Team]:
    return list(await uow.session.scalars(select(Team).order_by(Team.id)))


async def do_update_team(
    uow: UnitOfWork,
    team_id: int,
    *,
    name: str | None = None,
    description: str | None = None,
    skills: Sequence[str] | None = None,
    member_ids: Sequence[int] | None = None,
) -> Team:
    team = await access_team(uow, team_id)
    if name is not None:
        name = name.strip()
        if not name:
            raise DomainError("team name is empty", field="name")
        if await uow.session.scalar(select(Team.id).where(Team.name == name, Team.id != team_id)) is not None:
            raise Conflict("a team with this name exists", field="name")
        team.name = name
    if description is not None:
        team.description = description
    if skills is not None:
        team.skills = _normalise_skills(skills)
    if member_ids is not None:
        await do_set_team_members(uow, team.id, member_ids)
    await uow.session.flush()
    return team
