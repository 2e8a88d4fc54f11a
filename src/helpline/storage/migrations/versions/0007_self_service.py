"""self-service: flows, knowledge base, bot sessions, tickets, message options

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 11:57:16.410849
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "flows",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flows")),
        sa.UniqueConstraint("name", name=op.f("uq_flows_name")),
    )
    op.create_table(
        "flow_versions",
        sa.Column("id", ID, nullable=False),
        sa.Column("flow_id", ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("uploaded_by_id", ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["flow_id"], ["flows.id"], name=op.f("fk_flow_versions_flow_id_flows"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"],
            ["users.id"],
            name=op.f("fk_flow_versions_uploaded_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_versions")),
        sa.UniqueConstraint("flow_id", "version", name=op.f("uq_flow_versions_flow_id_version")),
    )
    op.create_table(
        "kb_articles",
        sa.Column("id", ID, nullable=False),
        sa.Column("intent", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("title", JSON, nullable=False),
        sa.Column("answer", JSON, nullable=False),
        sa.Column("questions", JSON, nullable=False),
        sa.Column("hands_off", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["users.id"],
            name=op.f("fk_kb_articles_updated_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_articles")),
        sa.UniqueConstraint("intent", name=op.f("uq_kb_articles_intent")),
    )
    op.create_table(
        "flow_activations",
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("flow_version_id", ID, nullable=False),
        sa.Column("activated_by_id", ID, nullable=True),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["activated_by_id"],
            ["users.id"],
            name=op.f("fk_flow_activations_activated_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["flow_version_id"],
            ["flow_versions.id"],
            name=op.f("fk_flow_activations_flow_version_id_flow_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("channel", name=op.f("pk_flow_activations")),
    )
    op.create_table(
        "bot_sessions",
        sa.Column("id", ID, nullable=False),
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("flow_version_id", ID, nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("state", JSON, nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("handoff_reason", sa.String(length=200), nullable=True),
        sa.Column("answered", JSON, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_bot_sessions_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["flow_version_id"],
            ["flow_versions.id"],
            name=op.f("fk_bot_sessions_flow_version_id_flow_versions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bot_sessions")),
    )
    with op.batch_alter_table("bot_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bot_sessions_conversation_id"), ["conversation_id"], unique=False
        )
        batch_op.create_index("ix_bot_sessions_status_activity", ["status", "last_activity_at"], unique=False)
        batch_op.create_index("ix_bot_sessions_started_at", ["started_at"], unique=False)

    op.create_table(
        "tickets",
        sa.Column("id", ID, nullable=False),
        sa.Column("conversation_id", ID, nullable=True),
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("team_id", ID, nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("fields", JSON, nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name=op.f("fk_tickets_contact_id_contacts")),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_tickets_conversation_id_conversations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_tickets_team_id_teams"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
    )
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tickets_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tickets_conversation_id"), ["conversation_id"], unique=False)

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("handler", sa.String(length=10), server_default="agents", nullable=False)
        )
        batch_op.add_column(sa.Column("flow_version_id", ID, nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_conversations_flow_version_id_flow_versions"),
            "flow_versions",
            ["flow_version_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("options", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("options")

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_conversations_flow_version_id_flow_versions"), type_="foreignkey"
        )
        batch_op.drop_column("flow_version_id")
        batch_op.drop_column("handler")

    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tickets_conversation_id"))
        batch_op.drop_index(batch_op.f("ix_tickets_contact_id"))

    op.drop_table("tickets")
    with op.batch_alter_table("bot_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_bot_sessions_started_at")
        batch_op.drop_index("ix_bot_sessions_status_activity")
        batch_op.drop_index(batch_op.f("ix_bot_sessions_conversation_id"))

    op.drop_table("bot_sessions")
    op.drop_table("flow_activations")
    op.drop_table("kb_articles")
    op.drop_table("flow_versions")
    op.drop_table("flows")
