"""channel account inbox team

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("channel_accounts") as batch:
        batch.add_column(
            sa.Column("team_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True)
        )
        batch.create_foreign_key(
            op.f("fk_channel_accounts_team_id_teams"), "teams", ["team_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("channel_accounts") as batch:
        batch.drop_constraint(op.f("fk_channel_accounts_team_id_teams"), type_="foreignkey")
        batch.drop_column("team_id")
