"""The token revocations this service learns from the exchange (govhub_common.revocation).

Revision ID: 0007
Revises: 0006
"""

from alembic import op

from govhub_common.revocation import create_revocation_table, drop_revocation_table

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_revocation_table(op, "alerting")


def downgrade() -> None:
    drop_revocation_table(op, "alerting")
