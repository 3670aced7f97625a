"""The registry schema with its outbox and inbox.

Revision ID: 0001
Revises:
"""

from alembic import op

from govhub_common.outbox import create_outbox_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute('CREATE SCHEMA IF NOT EXISTS "registry"')
    create_outbox_tables(op, "registry")


def downgrade() -> None:
    op.execute('DROP TABLE IF EXISTS "registry".inbox, "registry".outbox')
