"""lz4 for the large JSON columns (record data, batch events): about half the write cost
of the default pglz on 1,000-record batches. Applies to rows written from now on.

Only where the server was built with lz4: the embedded PostgreSQL of the development
default is not, and keeps pglz.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_WITH_LZ4 = """
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings
               WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)) THEN
        ALTER TABLE exchange.records ALTER COLUMN data SET COMPRESSION {method};
        ALTER TABLE exchange.outbox ALTER COLUMN payload SET COMPRESSION {method};
    END IF;
END
$$
"""


def upgrade() -> None:
    op.execute(_WITH_LZ4.format(method="lz4"))


def downgrade() -> None:
    op.execute(_WITH_LZ4.format(method="pglz"))
