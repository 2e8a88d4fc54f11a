"""webchat_replies_sent: agent replies in the web chat were left "queued" for ever

They are read by the widget straight from storage, so no worker ever marked them; from now on
they are stored as sent. This marks the ones stored before.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        UPDATE messages SET delivery_status = 'sent', sent_at = created_at
        WHERE direction = 'outbound' AND delivery_status = 'queued' AND is_internal = false
          AND channel_account_id IN (SELECT id FROM channel_accounts WHERE channel = 'webchat')
          AND NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.message_id = messages.id)
        """
    )


def downgrade() -> None:
    """Nothing to undo: "sent" is what these replies were."""
