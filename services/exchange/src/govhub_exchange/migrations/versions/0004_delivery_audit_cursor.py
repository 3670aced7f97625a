"""Feed deliveries are audited in the background from a cursor per subscription, so
feed reads do not queue behind the audit chain's lock.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE exchange.subscriptions ADD COLUMN audited_seq bigint NOT NULL DEFAULT 0"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE exchange.subscriptions DROP COLUMN audited_seq")
