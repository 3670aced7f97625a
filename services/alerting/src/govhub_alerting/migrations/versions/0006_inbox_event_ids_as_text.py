"""Inbox event ids as text: CloudEvents allows any string as an id, not only a UUID.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

from govhub_common.outbox import inbox_event_id_type

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    inbox_event_id_type(op, "alerting", "text")


def downgrade() -> None:
    inbox_event_id_type(op, "alerting", "uuid")
