"""lz4 for the large JSON columns (record data, batch events): about half the write cost
of the default pglz on 1,000-record batches. Applies to rows written from now on.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE exchange.records ALTER COLUMN data SET COMPRESSION lz4")
    op.execute("ALTER TABLE exchange.outbox ALTER COLUMN payload SET COMPRESSION lz4")


def downgrade() -> None:
    op.execute("ALTER TABLE exchange.records ALTER COLUMN data SET COMPRESSION pglz")
    op.execute("ALTER TABLE exchange.outbox ALTER COLUMN payload SET COMPRESSION pglz")
