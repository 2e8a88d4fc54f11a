"""Contacts: create, edit, recognise by identity, and merge duplicates without losing anything."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, or_, select, update

from helpline.domain.contacts import (
    ContactFields,
    Language,
    check_merge,
    merge_contact_fields,
    normalise_tags,
    search_key,
)
from helpline.domain.errors import Conflict, DomainError, NotFound
from helpline.domain.events import Event
from helpline.domain.identities import Identity, IdentityKind, normalise_identity, phones_in_text
from helpline.storage.models import CONTACT_OWNED, Contact, ContactIdentity, ContactMerge, User
from helpline.storage.uow import UnitOfWork

MAX_ATTRIBUTES = 100


@dataclass(frozen=True, slots=True)
class ContactSpec:
    name: str | None = None
    language: Language | None = None
    is_vip: bool = False
    personal_manager_id: int | None = None
    tags: Sequence[str] = ()
    attributes: Mapping[str, Any] = field(default_factory=dict)
    identities: Sequence[tuple[IdentityKind | str, str]] = ()


def _check_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    if len(attributes) > MAX_ATTRIBUTES:
        raise DomainError("more than {limit} custom attributes", field="attributes", limit=MAX_ATTRIBUTES)
    for key in attributes:
        if not key.strip() or len(key) > 64:
            raise DomainError("attribute names must be 1 to 64 characters", field="attributes")
    return dict(attributes)


async def _check_manager(uow: UnitOfWork, manager_id: int | None) -> None:
    if manager_id is not None and await uow.session.get(User, manager_id) is None:
        raise NotFound("no such user to be the personal manager", field="personal_manager_id")


async def identity_owner(uow: UnitOfWork, identity: Identity) -> int | None:
    return await uow.session.scalar(
        select(ContactIdentity.contact_id).where(
            ContactIdentity.kind == identity.kind.value, ContactIdentity.value == identity.value
        )
    )


@dataclass(frozen=True, slots=True)
class PhoneClue:
    """A number the customer wrote or shared that is not one of their identities.

    ``owner_id``/``owner_name``: the other contact that has it (the agent may merge them), or
    None when nobody has it (the agent may add it to this contact).
    """

    phone: str
    owner_id: int | None
    owner_name: str | None


async def phone_clues(
    uow: UnitOfWork, contact_id: int, texts: Sequence[str], default_region: str, limit: int = 5
) -> list[PhoneClue]:
    """Numbers in the customer's own messages (``texts``, newest first), as suggestions.

    A typed number or a shared contact card proves nothing (anyone can type anyone's number):
    this is why they are never linked automatically, and why the console shows who else has
    the number before an agent merges.
    """
    known = {
        row.value
        for row in await uow.session.scalars(
            select(ContactIdentity).where(
                ContactIdentity.contact_id == contact_id, ContactIdentity.kind == IdentityKind.PHONE.value
            )
        )
    }
    phones: list[str] = []
    for text in texts:
        for phone in phones_in_text(text, default_region):
            if phone not in known and phone not in phones:
                phones.append(phone)
        if len(phones) >= limit:
            break
    phones = phones[:limit]
    if not phones:
        return []
    rows = await uow.session.execute(
        select(ContactIdentity.value, Contact.id, Contact.name)
        .join(Contact, Contact.id == ContactIdentity.contact_id)
        .where(ContactIdentity.kind == IdentityKind.PHONE.value, ContactIdentity.value.in_(phones))
    )
    owners: dict[str, tuple[int, str | None]] = {value: (owner, name) for value, owner, name in rows.all()}
    clues = []
    for phone in phones:
        owner_id, owner_name = owners.get(phone, (None, None))
        clues.append(PhoneClue(phone, owner_id, owner_name))
    return clues


async def find_contact_by_identity(
    uow: UnitOfWork, kind: IdentityKind | str, raw: str, default_region: str = "RU"
) -> Contact | None:
    identity = normalise_identity(kind, raw, default_region)
    owner = await identity_owner(uow, identity)
    return None if owner is None else await uow.session.get(Contact, owner)


async def do_create_contact(uow: UnitOfWork, spec: ContactSpec, default_region: str = "RU") -> Contact:
    identities = [normalise_identity(k, v, default_region) for k, v in spec.identities]
    if len(set(identities)) != len(identities):
        raise DomainError("the same identity is listed twice", field="identities")
    for identity in identities:
        if await identity_owner(uow, identity) is not None:
            raise Conflict(
                "{kind} {value} already belongs to another contact",
                field="identities",
                kind=identity.kind.value,
                value=identity.value,
            )
    await _check_manager(uow, spec.personal_manager_id)
    now = uow.now()
    name = (spec.name or "").strip() or None
    contact = Contact(
        name=name,
        name_key=search_key(name),
        language=None if spec.language is None else Language(spec.language).value,
        is_vip=spec.is_vip,
        personal_manager_id=spec.personal_manager_id,
        tags=normalise_tags(spec.tags),
        attributes=_check_attributes(spec.attributes),
        created_at=now,
        updated_at=now,
    )
    uow.session.add(contact)
    await uow.session.flush()
    uow.session.add_all(
        ContactIdentity(
            contact_id=contact.id, kind=i.kind.value, value=i.value, verified=False, created_at=now
        )
        for i in identities
    )
    await uow.session.flush()
    uow.emit(Event(type="contact.created", payload={"contact_id": contact.id}))
    return contact


async def access_contact(uow: UnitOfWork, contact_id: int) -> Contact:
    contact = await uow.session.get(Contact, contact_id)
    if contact is None:
        raise NotFound("no such contact", field="contact_id")
    return contact


async def contact_identities(uow: UnitOfWork, contact_ids: Sequence[int]) -> dict[int, list[ContactIdentity]]:
    result: dict[int, list[ContactIdentity]] = {cid: [] for cid in contact_ids}
    if contact_ids:
        rows = await uow.session.scalars(
            select(ContactIdentity)
            .where(ContactIdentity.contact_id.in_(contact_ids))
            .order_by(ContactIdentity.id)
        )
        for row in rows:
            result[row.contact_id].append(row)
    return result


_UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class ContactChanges:
    """Fields to change; a field left at UNSET is kept (None is a real value for nullable fields)."""

    name: str | None = _UNSET
    language: Language | None = _UNSET
    is_vip: bool = _UNSET
    personal_manager_id: int | None = _UNSET
    tags: Sequence[str] = _UNSET
    attributes: Mapping[str, Any] = _UNSET

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ContactChanges:
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})


async def do_update_contact(uow: UnitOfWork, contact_id: int, changes: ContactChanges) -> Contact:
    contact = await access_contact(uow, contact_id)
    if contact.merged_into_id is not None:
        raise DomainError("this contact was merged; edit the contact it was merged into", field="contact_id")
    if changes.name is not _UNSET:
        contact.name = (changes.name or "").strip() or None
        contact.name_key = search_key(contact.name)
    if changes.language is not _UNSET:
        contact.language = None if changes.language is None else Language(changes.language).value
    if changes.is_vip is not _UNSET:
        contact.is_vip = bool(changes.is_vip)
    if changes.personal_manager_id is not _UNSET:
        await _check_manager(uow, changes.personal_manager_id)
        contact.personal_manager_id = changes.personal_manager_id
    if changes.tags is not _UNSET:
        contact.tags = normalise_tags(changes.tags)
    if changes.attributes is not _UNSET:
        contact.attributes = _check_attributes(changes.attributes)
    contact.updated_at = uow.now()
    await uow.session.flush()
    uow.emit(Event(type="contact.updated", payload={"contact_id": contact.id}))
    return contact


async def do_add_identity(
    uow: UnitOfWork,
    contact_id: int,
    kind: IdentityKind | str,
    raw: str,
    verified: bool = False,
    default_region: str = "RU",
) -> ContactIdentity:
    contact = await access_contact(uow, contact_id)
    if contact.merged_into_id is not None:
        raise DomainError("this contact was merged; edit the contact it was merged into", field="contact_id")
    identity = normalise_identity(kind, raw, default_region)
    owner = await identity_owner(uow, identity)
    if owner is not None:
        raise Conflict(
            "{kind} {value} already belongs to contact {owner}",
            field="value",
            kind=identity.kind.value,
            value=identity.value,
            owner=owner,
        )
    row = ContactIdentity(
        contact_id=contact.id,
        kind=identity.kind.value,
        value=identity.value,
        verified=verified,
        created_at=uow.now(),
    )
    uow.session.add(row)
    contact.updated_at = uow.now()
    await uow.session.flush()
    uow.emit(Event(type="contact.updated", payload={"contact_id": contact.id}))
    return row


def _fields(contact: Contact) -> ContactFields:
    return ContactFields(
        name=contact.name,
        language=None if contact.language is None else Language(contact.language),
        is_vip=contact.is_vip,
        personal_manager_id=contact.personal_manager_id,
        tags=tuple(contact.tags),
        attributes=dict(contact.attributes),
    )


def _snapshot(contact: Contact) -> dict[str, Any]:
    return {
        "name": contact.name,
        "language": contact.language,
        "is_vip": contact.is_vip,
        "personal_manager_id": contact.personal_manager_id,
        "tags": list(contact.tags),
        "attributes": dict(contact.attributes),
    }


async def do_merge_contacts(
    uow: UnitOfWork, target_id: int, source_id: int, merged_by_id: int | None
) -> ContactMerge:
    """Fold `source` into `target`: every row owned by the source moves, and the merge is recorded.

    The source row stays (marked merged) so links and reports that name it still resolve,
    and the record lists every moved row id so the merge can be audited or undone.
    """
    target = await access_contact(uow, target_id)
    source = await access_contact(uow, source_id)
    check_merge(target.id, source.id, source.merged_into_id, target.merged_into_id)
    moved: dict[str, list[int]] = {}
    for model in CONTACT_OWNED:
        table = model.__table__
        assert isinstance(table, Table)
        ids = list(await uow.session.scalars(select(table.c.id).where(table.c.contact_id == source.id)))
        if ids:
            # An ORM-enabled UPDATE also moves rows already loaded in this session.
            await uow.session.execute(
                update(model)
                .where(table.c.id.in_(ids))
                .values(contact_id=target.id)
                .execution_options(synchronize_session="fetch")
            )
        moved[str(table.name)] = ids
    merged = merge_contact_fields(_fields(target), _fields(source))
    snapshot = _snapshot(source)
    target.name, target.is_vip = merged.name, merged.is_vip
    target.name_key = search_key(merged.name)
    target.language = None if merged.language is None else merged.language.value
    target.personal_manager_id = merged.personal_manager_id
    target.tags, target.attributes = list(merged.tags), dict(merged.attributes)
    now = uow.now()
    target.updated_at = source.updated_at = now
    source.merged_into_id = target.id
    record = ContactMerge(
        target_contact_id=target.id,
        source_contact_id=source.id,
        merged_by_id=merged_by_id,
        moved=moved,
        source_snapshot=snapshot,
        merged_at=now,
    )
    uow.session.add(record)
    await uow.session.flush()
    uow.emit(Event(type="contact.merged", payload={"contact_id": target_id, "source_contact_id": source_id}))
    return record


async def search_contacts(
    uow: UnitOfWork,
    *,
    query: str | None = None,
    identity_kind: str | None = None,
    identity_value: str | None = None,
    limit: int = 50,
    offset: int = 0,
    default_region: str = "RU",
) -> list[Contact]:
    """Exact lookup by one identity, or a substring search over names and identity values."""
    stmt = select(Contact).where(Contact.merged_into_id.is_(None))
    if identity_value is not None:
        kinds = [IdentityKind(identity_kind)] if identity_kind else list(IdentityKind)
        matches = []
        for kind in kinds:
            try:
                matches.append(normalise_identity(kind, identity_value, default_region))
            except DomainError:
                if identity_kind:
                    raise
        if not matches:
            return []
        stmt = stmt.join(ContactIdentity, ContactIdentity.contact_id == Contact.id).where(
            or_(
                *[
                    (ContactIdentity.kind == m.kind.value) & (ContactIdentity.value == m.value)
                    for m in matches
                ]
            )
        )
    if query:
        folded = search_key(query.strip()) or ""
        escaped = folded.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        # Identity values are stored lower-case (e-mail) or case-less (phones, ids).
        in_identities = select(ContactIdentity.contact_id).where(
            ContactIdentity.value.like(pattern, escape="\\")
        )
        stmt = stmt.where(or_(Contact.name_key.like(pattern, escape="\\"), Contact.id.in_(in_identities)))
    stmt = stmt.order_by(Contact.updated_at.desc(), Contact.id.desc()).limit(limit).offset(offset)
    return list((await uow.session.scalars(stmt)).unique())


async def link_revealed_phone(uow: UnitOfWork, contact_id: int, raw_phone: str, default_region: str) -> int:
    """A provider vouched for this customer's own phone number (WhatsApp's sender, a Telegram
    contact whose user_id is the sender; Viber's contacts carry no owner and never come here,
    see channels/viber/parse.py): attach it, or, when another contact already has it, fold
    this contact into that one so the customer's history is one. Returns the surviving contact.

    Only for numbers the provider itself verified; numbers a customer merely types go through
    a one-time code instead (helpline.services.verification).
    """
    try:
        identity = normalise_identity(IdentityKind.PHONE, raw_phone, default_region)
    except DomainError:
        return contact_id  # not a number we can read: keep the message, skip the link
    contact = await access_contact(uow, contact_id)
    while contact.merged_into_id is not None:
        contact = await access_contact(uow, contact.merged_into_id)
    owner = await identity_owner(uow, identity)
    if owner == contact.id:
        return contact.id
    if owner is None:
        await do_add_identity(uow, contact.id, identity.kind, identity.value, verified=True)
        return contact.id
    await do_merge_contacts(uow, owner, contact.id, merged_by_id=None)
    return owner
