"""Outbox payloads as json instead of jsonb: written once, read back as text by the relay.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

from govhub_common.outbox import outbox_payload_type

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    outbox_payload_type(op, "registry", "json")


def downgrade() -> None:
    outbox_payload_type(op, "registry", "jsonb")
