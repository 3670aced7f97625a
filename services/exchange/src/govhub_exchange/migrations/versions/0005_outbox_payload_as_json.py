"""Outbox payloads as json instead of jsonb: written once, read back as text by the relay.
Changing the type resets the column's compression, so lz4 is set again where 0003 set it.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

from govhub_common.outbox import outbox_payload_type

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_LZ4_PAYLOADS = """
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings
               WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)) THEN
        ALTER TABLE exchange.outbox ALTER COLUMN payload SET COMPRESSION lz4;
    END IF;
END
$$
"""


def upgrade() -> None:
    outbox_payload_type(op, "exchange", "json")
    op.execute(_LZ4_PAYLOADS)


def downgrade() -> None:
    outbox_payload_type(op, "exchange", "jsonb")
    op.execute(_LZ4_PAYLOADS)
