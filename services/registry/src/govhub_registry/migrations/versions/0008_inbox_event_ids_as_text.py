"""Inbox event ids as text: CloudEvents allows any string as an id, not only a UUID.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

from govhub_common.outbox import inbox_event_id_type

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    inbox_event_id_type(op, "registry", "text")


def downgrade() -> None:
    inbox_event_id_type(op, "registry", "uuid")
