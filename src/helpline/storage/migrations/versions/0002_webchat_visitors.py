"""webchat visitors

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "webchat_visitors",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel_account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_account_id"],
            ["channel_accounts.id"],
            name=op.f("fk_webchat_visitors_channel_account_id_channel_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_webchat_visitors_contact_id_contacts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webchat_visitors")),
        sa.UniqueConstraint("public_id", name=op.f("uq_webchat_visitors_public_id")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_webchat_visitors_token_hash")),
    )
    with op.batch_alter_table("webchat_visitors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webchat_visitors_contact_id"), ["contact_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("webchat_visitors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webchat_visitors_contact_id"))

    op.drop_table("webchat_visitors")
