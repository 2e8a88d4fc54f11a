"""bot_trainings: each training of the bot on a revision of the knowledge base, for the console

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "bot_trainings",
        sa.Column("id", ID, nullable=False),
        sa.Column("revision", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("examples", sa.Integer(), nullable=True),
        sa.Column("accuracy", sa.Float(), nullable=True),
        sa.Column("oos_recall", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bot_trainings")),
    )
    with op.batch_alter_table("bot_trainings", schema=None) as batch_op:
        batch_op.create_index("ix_bot_trainings_revision", ["revision"], unique=False)


def downgrade() -> None:
    op.drop_table("bot_trainings")
