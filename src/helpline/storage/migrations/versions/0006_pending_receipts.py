"""pending receipts: provider status callbacks that beat the send's own answer

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "pending_receipts",
        sa.Column("id", ID, nullable=False),
        sa.Column("channel_account_id", ID, nullable=False),
        sa.Column("provider_message_id", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_account_id"],
            ["channel_accounts.id"],
            name=op.f("fk_pending_receipts_channel_account_id_channel_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_receipts")),
    )
    with op.batch_alter_table("pending_receipts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_pending_receipts_account_provider",
            ["channel_account_id", "provider_message_id"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_pending_receipts_received_at"), ["received_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pending_receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pending_receipts_received_at"))
        batch_op.drop_index("ix_pending_receipts_account_provider")
    op.drop_table("pending_receipts")
