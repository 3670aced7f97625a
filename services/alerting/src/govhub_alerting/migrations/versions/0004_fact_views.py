"""Which views' facts have been derived from the stored records, with which fields and up to
when, so the next derivation only reads the records received since.

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
        """
        CREATE TABLE alerting.fact_views (
            view text PRIMARY KEY,
            fields text[] NOT NULL,
            -- NULL: nothing derived yet
            derived_at timestamptz
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS alerting.fact_views")
