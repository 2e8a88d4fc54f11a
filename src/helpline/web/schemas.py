"""The REST API's wire format (Pydantic v2). Unknown fields are refused, not ignored."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from helpline.domain.contacts import Language
from helpline.domain.conversations import (
    MAX_MESSAGE_LENGTH,
    AuthorKind,
    Channel,
    ConversationStatus,
    DeliveryStatus,
    Direction,
    Priority,
)
from helpline.domain.identities import IdentityKind
from helpline.domain.text import unstorable_reason
from helpline.domain.users import MAX_CAPACITY, Presence, Role


def _storable(value: Any) -> Any:
    if isinstance(value, str):
        if (reason := unstorable_reason(value)) is not None:
            raise ValueError(f"must not contain {reason}")
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable(key)
            _storable(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _storable(item)
    return value


class In(BaseModel):
    """Every request body. Text with a NUL or a lone surrogate is refused here, with its field
    named: no database stores them (storage refuses them too, see ``storage.param_guard``, but
    without the field)."""

    model_config = ConfigDict(extra="forbid", str_max_length=MAX_MESSAGE_LENGTH)

    @field_validator("*", mode="after")
    @classmethod
    def _refuse_unstorable(cls, value: Any) -> Any:
        return _storable(value)


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class IdentityIn(In):
    kind: IdentityKind
    value: str = Field(min_length=1, max_length=255)


class IdentityOut(Out):
    id: int
    kind: IdentityKind
    value: str
    verified: bool


class ContactIn(In):
    name: str | None = Field(default=None, max_length=200)
    language: Language | None = None
    is_vip: bool = False
    personal_manager_id: int | None = None
    tags: list[str] = Field(default_factory=list, max_length=50)
    attributes: dict[str, Any] = Field(default_factory=dict)
    identities: list[IdentityIn] = Field(default_factory=list, max_length=50)


class ContactPatch(In):
    name: str | None = Field(default=None, max_length=200)
    language: Language | None = None
    is_vip: bool | None = None
    personal_manager_id: int | None = None
    tags: list[str] | None = Field(default=None, max_length=50)
    attributes: dict[str, Any] | None = None


class ContactOut(Out):
    id: int
    name: str | None
    language: Language | None
    is_vip: bool
    personal_manager_id: int | None
    tags: list[str]
    attributes: dict[str, Any]
    merged_into_id: int | None
    identities: list[IdentityOut]
    created_at: datetime
    updated_at: datetime


class MergeIn(In):
    source_contact_id: int


class MergeOut(Out):
    id: int
    target_contact_id: int
    source_contact_id: int
    merged_by_id: int | None
    moved: dict[str, list[int]]
    merged_at: datetime


class AttachmentOut(Out):
    id: int
    filename: str
    content_type: str
    size: int


class MessageOut(Out):
    id: int
    conversation_id: int
    direction: Direction
    author_kind: AuthorKind
    author_user_id: int | None
    text: str
    is_internal: bool
    delivery_status: DeliveryStatus
    delivery_error: str | None
    provider_message_id: str | None
    channel_account_id: int
    created_at: datetime
    sent_at: datetime | None
    attachments: list[AttachmentOut] = Field(default_factory=list)


class ConversationOut(Out):
    id: int
    channel: Channel
    channel_account_id: int
    contact_id: int
    status: ConversationStatus
    priority: Priority
    assignee_id: int | None
    team_id: int | None
    language: Language | None
    tags: list[str]
    subject: str | None
    created_at: datetime
    updated_at: datetime
    last_message_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None


class ConversationDetail(ConversationOut):
    contact: ContactOut
    messages: list[MessageOut]


class AssignIn(In):
    assignee_id: int | None = None
    team_id: int | None = None


class StatusIn(In):
    status: ConversationStatus


class PriorityIn(In):
    priority: Priority


class TagsIn(In):
    tags: list[str] = Field(max_length=50)


class ReplyIn(In):
    text: str = Field(min_length=1, max_length=MAX_MESSAGE_LENGTH)
    internal: bool = False
    channel_account_id: int | None = Field(
        default=None,
        description="answer through this account (one of the conversation's reachable channels); "
        "default: the conversation's own",
    )


class ReachableChannelOut(Out):
    account_id: int
    channel: Channel
    account_name: str
    address: str | None


class UserIn(In):
    email: str = Field(min_length=3, max_length=255)
    name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=256)
    role: Role = Role.AGENT
    ui_language: Language = Language.EN
    languages: list[Language] = Field(default_factory=list)
    skills: list[str] = Field(default_factory=list, max_length=50)
    capacity: int = Field(default=5, ge=0, le=MAX_CAPACITY)


class UserPatch(In):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    password: str | None = Field(default=None, min_length=1, max_length=256)
    role: Role | None = None
    ui_language: Language | None = None
    languages: list[Language] | None = None
    skills: list[str] | None = Field(default=None, max_length=50)
    capacity: int | None = Field(default=None, ge=0, le=MAX_CAPACITY)
    is_active: bool | None = None


class UserOut(Out):
    id: int
    email: str
    name: str
    role: Role
    ui_language: Language
    languages: list[Language]
    skills: list[str]
    team_ids: list[int]
    capacity: int
    presence: Presence
    is_active: bool
    created_at: datetime


class PresenceIn(In):
    presence: Presence


class TeamIn(In):
    name: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=2000)
    skills: list[str] = Field(default_factory=list, max_length=50)
    member_ids: list[int] = Field(default_factory=list)


class TeamPatch(In):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=2000)
    skills: list[str] | None = Field(default=None, max_length=50)
    member_ids: list[int] | None = None


class TeamOut(Out):
    id: int
    name: str
    description: str
    skills: list[str]
    member_ids: list[int]


class LoginIn(In):
    email: str = Field(min_length=1, max_length=255)
    password: str = Field(min_length=1, max_length=256)


class LoginOut(Out):
    user_id: int
    role: Role
    csrf_token: str


class TokenIn(In):
    name: str = Field(min_length=1, max_length=120)


class TokenOut(Out):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="Shown once; only a hash is stored.")
