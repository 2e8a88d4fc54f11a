"""The relational schema. Migrations in `migrations/versions` must match it (a test checks)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from helpline.domain.conversations import Handler
from helpline.storage.types import JsonDoc, UTCDateTime

#: Deterministic constraint names so migrations can drop and alter them on both databases.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets 64-bit ids.
Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    ui_language: Mapped[str] = mapped_column(String(5), default="en")
    languages: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    capacity: Mapped[int] = mapped_column(Integer, default=5)
    presence: Mapped[str] = mapped_column(String(20), default="offline")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    skills: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TeamMember(Base):
    __tablename__ = "team_members"

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class UserSkill(Base):
    """Skills live in their own table so routing can find "who speaks ar and knows payments" by index."""

    __tablename__ = "user_skills"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    skill: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    level: Mapped[int] = mapped_column(Integer, default=1)


class AuthSession(Base):
    """A console login. Only a hash of the cookie's token is stored, so a database leak logs no one in."""

    __tablename__ = "auth_sessions"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: Case-folded name for search (see domain.contacts.search_key).
    name_key: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    language: Mapped[str | None] = mapped_column(String(5), nullable=True)
    is_vip: Mapped[bool] = mapped_column(Boolean, default=False)
    personal_manager_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    tags: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    attributes: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ContactIdentity(Base):
    __tablename__ = "contact_identities"
    __table_args__ = (UniqueConstraint("kind", "value"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(255))
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ContactMerge(Base):
    """The record of a merge: who merged what, and exactly which rows moved, for audit and undo."""

    __tablename__ = "contact_merges"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    target_contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    source_contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    merged_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    moved: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    source_snapshot: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    merged_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ChannelAccount(Base):
    """One connected channel: a Telegram bot, a WhatsApp number, the web chat of one site…"""

    __tablename__ = "channel_accounts"
    __table_args__ = (UniqueConstraint("channel", "name"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(120))
    config: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: The team whose inbox new conversations from this account land in (none: everyone's).
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"), default=None)


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_contact_account_last", "contact_id", "channel_account_id", "last_message_at"),
        Index("ix_conversations_status_last", "status", "last_message_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    channel_account_id: Mapped[int] = mapped_column(ForeignKey("channel_accounts.id"))
    channel: Mapped[str] = mapped_column(String(20))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    status: Mapped[str] = mapped_column(String(20))
    priority: Mapped[str] = mapped_column(String(20), default="normal")
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), nullable=True, index=True
    )
    language: Mapped[str | None] = mapped_column(String(5), nullable=True)
    tags: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    subject: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_message_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: Who answers the customer's next message: the self-service bot or people.
    handler: Mapped[str] = mapped_column(
        String(10), default=Handler.AGENTS.value, server_default=Handler.AGENTS.value
    )
    #: The flow version that greeted this conversation (the active one of its channel then).
    flow_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("flow_versions.id", ondelete="SET NULL"), nullable=True
    )


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        # Provider retries are recognised here: one provider id per channel account.
        UniqueConstraint("channel_account_id", "provider_message_id"),
        Index("ix_messages_conversation_created", "conversation_id", "id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    channel_account_id: Mapped[int] = mapped_column(ForeignKey("channel_accounts.id"))
    direction: Mapped[str] = mapped_column(String(10))
    author_kind: Mapped[str] = mapped_column(String(10))
    author_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    text: Mapped[str] = mapped_column(Text, default="")
    is_internal: Mapped[bool] = mapped_column(Boolean, default=False)
    provider_message_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    delivery_status: Mapped[str] = mapped_column(String(12))
    delivery_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: Choices offered with the message ([{"digit", "label"}]): buttons where the channel has them.
    options: Mapped[list[dict[str, str]] | None] = mapped_column(JsonDoc, nullable=True, default=None)


class Attachment(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(127))
    size: Mapped[int] = mapped_column(BigInteger)
    storage_key: Mapped[str] = mapped_column(String(512))


class WebchatVisitor(Base):
    """A browser that opened the chat widget. Its token is a bearer secret kept in the visitor's
    local storage; only a hash is stored, and the public id is what agents see."""

    __tablename__ = "webchat_visitors"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    channel_account_id: Mapped[int] = mapped_column(ForeignKey("channel_accounts.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IdentityVerification(Base):
    """A one-time code sent to an identity that already belongs to a known contact.

    Until the visitor proves they own it, nothing of that contact's history is shown; the code
    itself is stored only as a hash, and attempts are counted.
    """

    __tablename__ = "identity_verifications"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    visitor_id: Mapped[int] = mapped_column(ForeignKey("webchat_visitors.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(255))
    target_contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class OutboxItem(Base):
    """Work that must reach the outside world, written in the same transaction as its cause.

    The worker claims due rows, leases them (`locked_until`) so a crashed worker's rows come
    back, and records every attempt's outcome. `due_at` is indexed with the status: a scan
    costs what is due, not what exists.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), nullable=True, index=True
    )
    status: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PendingReceipt(Base):
    """A provider receipt that arrived before we recorded the provider's id for the message.

    WhatsApp can post "sent" for a message while the worker is still committing the send's
    answer; the receipt waits here and is applied when the id is recorded, so none is lost.
    Receipts for messages sent outside Helpline never match and are purged after a day.
    """

    __tablename__ = "pending_receipts"
    __table_args__ = (
        Index("ix_pending_receipts_account_provider", "channel_account_id", "provider_message_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    channel_account_id: Mapped[int] = mapped_column(ForeignKey("channel_accounts.id", ondelete="CASCADE"))
    provider_message_id: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(12))
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Flow(Base):
    """A self-service flow by name; its uploads are versions, and a version is what runs."""

    __tablename__ = "flows"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FlowVersion(Base):
    """One uploaded file of a flow, kept as written (for preview and audit) and as checked data."""

    __tablename__ = "flow_versions"
    __table_args__ = (UniqueConstraint("flow_id", "version"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    flow_id: Mapped[int] = mapped_column(ForeignKey("flows.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    uploaded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FlowActivation(Base):
    """The flow version that greets new conversations on a channel (one per channel)."""

    __tablename__ = "flow_activations"

    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    flow_version_id: Mapped[int] = mapped_column(ForeignKey("flow_versions.id", ondelete="CASCADE"))
    activated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    activated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class KnowledgeChanges(Base):
    """One row: how many times the knowledge base was changed, bumped in the edit's own
    transaction. A process compares it with the count its trained bot was built at, one row
    read per bot turn instead of the whole base."""

    __tablename__ = "kb_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)


class KnowledgeArticle(Base):
    """A FAQ article: its questions and answer per language. The bot's classifier is trained on the
    questions of all articles; `out_of_scope` rows hold questions the bot must hand off."""

    __tablename__ = "kb_articles"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    intent: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(20), default="answer")
    title: Mapped[dict[str, str]] = mapped_column(JsonDoc, default=dict)
    answer: Mapped[dict[str, str]] = mapped_column(JsonDoc, default=dict)
    questions: Mapped[dict[str, list[str]]] = mapped_column(JsonDoc, default=dict)
    hands_off: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )


class BotSession(Base):
    """One stretch of a conversation with the bot, and how it ended (for containment reports)."""

    __tablename__ = "bot_sessions"
    __table_args__ = (
        Index("ix_bot_sessions_status_activity", "status", "last_activity_at"),
        # The containment report counts sessions by when they started.
        Index("ix_bot_sessions_started_at", "started_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    flow_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("flow_versions.id", ondelete="SET NULL"), nullable=True
    )
    channel: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10))
    state: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)
    handoff_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    answered: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class BotTraining(Base):
    """One training of the bot on one revision of the knowledge base: started, then learnt or
    failed. Read by the console to tell admins when customers get an edit's answers."""

    __tablename__ = "bot_trainings"
    __table_args__ = (Index("ix_bot_trainings_revision", "revision"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    revision: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(10))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    examples: Mapped[int | None] = mapped_column(Integer, nullable=True)
    accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)
    oos_recall: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class Ticket(Base):
    """A request someone else must work on, opened by the bot (or, later, from e-mail and paper)."""

    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL"), nullable=True, index=True
    )
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"), nullable=True)
    subject: Mapped[str] = mapped_column(String(200))
    fields: Mapped[dict[str, str]] = mapped_column(JsonDoc, default=dict)
    source: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


#: Tables whose rows belong to a contact and move to the target when two contacts merge.
#: A new table that references contacts (tickets, CSAT answers…) adds itself here.
CONTACT_OWNED: tuple[type[Base], ...] = (ContactIdentity, Conversation, WebchatVisitor, Ticket)
