"""The sms schema with its outbox and inbox.

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
    op.execute('CREATE SCHEMA IF NOT EXISTS "sms"')
    create_outbox_tables(op, "sms")


def downgrade() -> None:
    op.execute('DROP TABLE IF EXISTS "sms".inbox, "sms".outbox')
