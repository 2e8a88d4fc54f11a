"""Console sessions and API tokens.

Both are random bearer secrets of which only a SHA-256 digest is stored: a copy of the
database does not let anyone in, and lookups stay a single indexed equality match.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update

from helpline.domain.errors import DomainError, NotFound
from helpline.domain.identities import normalise_email
from helpline.services.passwords import hash_password, needs_rehash, verify_password
from helpline.storage.models import ApiToken, AuthSession, User
from helpline.storage.uow import UnitOfWork

API_TOKEN_PREFIX = "hlp_"  # noqa: S105 (a public marker, not a secret)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def authenticate_password(uow: UnitOfWork, email: str, password: str) -> User | None:
    """The active user with these credentials, or None (same work either way, see passwords.py)."""
    try:
        email = normalise_email(email)
    except DomainError:
        email = ""
    user = await uow.session.scalar(select(User).where(User.email == email)) if email else None
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.is_active:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


@dataclass(frozen=True, slots=True)
class NewSession:
    token: str
    csrf_token: str
    user: User


async def do_start_session(uow: UnitOfWork, user: User, lifetime: timedelta) -> NewSession:
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = uow.now()
    uow.session.add(
        AuthSession(
            token_hash=digest(token),
            user_id=user.id,
            csrf_token=csrf,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    # Expired sessions are swept whenever someone logs in; no separate job is needed.
    await uow.session.execute(delete(AuthSession).where(AuthSession.expires_at < now))
    await uow.session.flush()
    return NewSession(token=token, csrf_token=csrf, user=user)


async def session_user(uow: UnitOfWork, token: str) -> tuple[User, AuthSession] | None:
    row = (
        await uow.session.execute(
            select(User, AuthSession)
            .join(AuthSession, AuthSession.user_id == User.id)
            .where(
                AuthSession.token_hash == digest(token),
                AuthSession.expires_at > uow.now(),
                User.is_active.is_(True),
            )
        )
    ).first()
    return None if row is None else (row[0], row[1])


async def do_end_session(uow: UnitOfWork, token: str) -> None:
    await uow.session.execute(delete(AuthSession).where(AuthSession.token_hash == digest(token)))


@dataclass(frozen=True, slots=True)
class NewApiToken:
    token: str
    record: ApiToken


async def do_create_api_token(uow: UnitOfWork, user_id: int, name: str) -> NewApiToken:
    name = name.strip()
    if not name:
        raise DomainError("token name is empty", field="name")
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ApiToken(
        user_id=user_id, name=name, token_hash=digest(token), prefix=token[:10], created_at=uow.now()
    )
    uow.session.add(record)
    await uow.session.flush()
    return NewApiToken(token=token, record=record)


async def token_user(uow: UnitOfWork, token: str) -> User | None:
    row = (
        await uow.session.execute(
            select(User, ApiToken.id)
            .join(ApiToken, ApiToken.user_id == User.id)
            .where(
                ApiToken.token_hash == digest(token), ApiToken.revoked_at.is_(None), User.is_active.is_(True)
            )
        )
    ).first()
    if row is None:
        return None
    await uow.session.execute(update(ApiToken).where(ApiToken.id == row[1]).values(last_used_at=uow.now()))
    return row[0]


async def list_api_tokens(uow: UnitOfWork, user_id: int) -> list[ApiToken]:
    return list(
        await uow.session.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id))
    )


async def do_revoke_api_token(uow: UnitOfWork, user_id: int, token_id: int) -> ApiToken:
    record = await uow.session.get(ApiToken, token_id)
    if record is None or record.user_id != user_id:
        raise NotFound("no such token", field="token_id")
    if record.revoked_at is None:
        record.revoked_at = uow.now()
    await uow.session.flush()
    return record
