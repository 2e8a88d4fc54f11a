"""Linking a web chat visitor to a contact we already know, only after a one-time code.

A visitor who types an e-mail or phone number that belongs to someone else's contact card
gets nothing of that card until they enter the code we send to that contact's e-mail
address; then the visitor's anonymous contact is merged into the known one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from helpline.domain.errors import DomainError, NotFound
from helpline.domain.identities import IdentityKind, normalise_identity
from helpline.domain.verification import (
    CODE_TTL,
    RESEND_AFTER,
    check_attempt,
    codes_match,
    new_code,
)
from helpline.services.auth import digest
from helpline.services.contacts import (
    ContactChanges,
    access_contact,
    contact_identities,
    do_add_identity,
    do_merge_contacts,
    do_update_contact,
    identity_owner,
)
from helpline.storage.models import IdentityVerification, WebchatVisitor
from helpline.storage.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class CodeToSend:
    """A code to e-mail once the transaction commits (never logged, never shown to the visitor)."""

    to: str
    code: str


@dataclass(frozen=True, slots=True)
class ProfileOutcome:
    saved: list[str]
    verification: CodeToSend | None


async def _email_of(uow: UnitOfWork, contact_id: int) -> str | None:
    identities = (await contact_identities(uow, [contact_id]))[contact_id]
    return next((i.value for i in identities if i.kind == IdentityKind.EMAIL), None)


async def do_visitor_profile(
    uow: UnitOfWork,
    visitor: WebchatVisitor,
    *,
    name: str | None,
    email: str | None,
    phone: str | None,
    default_region: str = "RU",
) -> ProfileOutcome:
    """Save what the visitor told us; an identity owned by another contact starts a verification."""
    saved: list[str] = []
    to_verify = None
    if name and name.strip():
        contact = await access_contact(uow, visitor.contact_id)
        if not contact.name:
            await do_update_contact(uow, contact.id, ContactChanges(name=name.strip()[:200]))
            saved.append("name")
    for kind, raw in ((IdentityKind.EMAIL, email), (IdentityKind.PHONE, phone)):
        if not raw or not raw.strip():
            continue
        identity = normalise_identity(kind, raw, default_region)
        owner = await identity_owner(uow, identity)
        if owner is None:
            await do_add_identity(
                uow, visitor.contact_id, kind, identity.value, default_region=default_region
            )
            saved.append(kind.value)
        elif owner != visitor.contact_id and to_verify is None:
            to_verify = (identity, owner)
    if to_verify is None:
        return ProfileOutcome(saved, None)
    identity, owner = to_verify
    address = await _email_of(uow, owner)
    if address is None:
        raise DomainError(
            "we cannot confirm this number online; an agent will help you", field=identity.kind.value
        )
    now = uow.now()
    recent = await uow.session.scalar(
        select(IdentityVerification.id).where(
            IdentityVerification.visitor_id == visitor.id,
            IdentityVerification.created_at > now - RESEND_AFTER,
        )
    )
    if recent is not None:
        raise DomainError(
            "a code was sent a moment ago; please wait before asking again", field=identity.kind.value
        )
    code = new_code()
    uow.session.add(
        IdentityVerification(
            visitor_id=visitor.id,
            kind=identity.kind.value,
            value=identity.value,
            target_contact_id=owner,
            code_hash=digest(code),
            attempts=0,
            created_at=now,
            expires_at=now + CODE_TTL,
        )
    )
    await uow.session.flush()
    return ProfileOutcome(saved, CodeToSend(address, code))


async def do_verify_code(uow: UnitOfWork, visitor: WebchatVisitor, code: str) -> int:
    """Check the code; on success fold the visitor's contact into the known one and return its id.

    A wrong attempt is counted in its own commit by the caller even though this raises.
    """
    pending = await uow.session.scalar(
        select(IdentityVerification)
        .where(IdentityVerification.visitor_id == visitor.id)
        .order_by(IdentityVerification.id.desc())
        .limit(1)
    )
    if pending is None:
        raise NotFound("no code was requested", field="code")
    now = uow.now()
    check_attempt(pending.attempts, pending.expires_at, pending.verified_at, now)
    pending.attempts += 1
    if not codes_match(pending.code_hash, digest(code.strip())):
        await uow.session.flush()
        raise WrongCode("wrong code", field="code")
    pending.verified_at = now
    if visitor.contact_id != pending.target_contact_id:
        await do_merge_contacts(uow, pending.target_contact_id, visitor.contact_id, merged_by_id=None)
    await uow.session.flush()
    return pending.target_contact_id


class WrongCode(DomainError):
    """The code did not match; the attempt still counts."""
