"""Inbox event ids as text: CloudEvents allows any string as an id, not only a UUID.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

from govhub_common.outbox import inbox_event_id_type

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    inbox_event_id_type(op, "sms", "text")


def downgrade() -> None:
    inbox_event_id_type(op, "sms", "uuid")
