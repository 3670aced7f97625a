"""Outbox payloads as json instead of jsonb: written once, read back as text by the relay.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

from govhub_common.outbox import outbox_payload_type

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    outbox_payload_type(op, "alerting", "json")


def downgrade() -> None:
    outbox_payload_type(op, "alerting", "jsonb")
