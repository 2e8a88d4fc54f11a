"""Contacts: one customer, many identities, and how two records of the same person merge."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from helpline.domain.errors import DomainError


class Language(StrEnum):
    RU = "ru"
    EN = "en"
    AR = "ar"


#: Languages written right to left; the console and widget flip direction for them.
RTL_LANGUAGES = frozenset({Language.AR})

MAX_TAGS = 50
MAX_TAG_LENGTH = 64


def search_key(text: str | None) -> str | None:
    """Case-folded text for case-insensitive search in any script.

    SQLite's LIKE and lower() only fold ASCII, so "Иванова" would not find "иванова";
    storing the folded form makes search behave the same on both databases.
    """
    return text.casefold() if text else None


def normalise_tags(tags: Sequence[str]) -> list[str]:
    """Trim, lower-case and de-duplicate tags, keeping first-seen order for stable display."""
    seen: dict[str, None] = {}
    for raw in tags:
        tag = raw.strip().lower()
        if not tag:
            continue
        if len(tag) > MAX_TAG_LENGTH:
            raise DomainError("tag longer than {limit} characters", field="tags", limit=MAX_TAG_LENGTH)
        seen.setdefault(tag, None)
    if len(seen) > MAX_TAGS:
        raise DomainError("more than {limit} tags", field="tags", limit=MAX_TAGS)
    return list(seen)


@dataclass(frozen=True, slots=True)
class ContactFields:
    """The mergeable, editable facts about a customer (identities are kept separately)."""

    name: str | None = None
    language: Language | None = None
    is_vip: bool = False
    personal_manager_id: int | None = None
    tags: tuple[str, ...] = ()
    attributes: Mapping[str, Any] = field(default_factory=dict)


def merge_contact_fields(target: ContactFields, source: ContactFields) -> ContactFields:
    """Combine two records of one customer without losing anything the agents recorded.

    The target (the record the agent keeps) wins where both have a value; the source fills
    the gaps. VIP status is kept if either record had it, since downgrading a VIP by merging
    would silently change how they are routed. Tags are united; attributes only present in
    the source are carried over.
    """
    attributes = dict(source.attributes)
    attributes.update(target.attributes)
    return ContactFields(
        name=target.name or source.name,
        language=target.language or source.language,
        is_vip=target.is_vip or source.is_vip,
        personal_manager_id=target.personal_manager_id or source.personal_manager_id,
        tags=tuple(normalise_tags([*target.tags, *source.tags])),
        attributes=attributes,
    )


def check_merge(
    target_id: int, source_id: int, source_merged_into: int | None, target_merged_into: int | None
) -> None:
    """Refuse merges that would lose data or create cycles."""
    if target_id == source_id:
        raise DomainError("a contact cannot be merged into itself", field="source_contact_id")
    if source_merged_into is not None:
        raise DomainError("the source contact was already merged", field="source_contact_id")
    if target_merged_into is not None:
        raise DomainError("the target contact was merged into another contact", field="contact_id")
