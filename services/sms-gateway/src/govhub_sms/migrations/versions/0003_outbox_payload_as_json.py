"""Outbox payloads as json instead of jsonb: written once, read back as text by the relay.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

from govhub_common.outbox import outbox_payload_type

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    outbox_payload_type(op, "sms", "json")


def downgrade() -> None:
    outbox_payload_type(op, "sms", "jsonb")
