"""Facts found by their record's topic and seq: when the exchange archives a segment of a
topic's log (`exchange.log.archived`), the facts of the records before its live log are
forgotten with the records (engine/retention.py).

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX facts_by_record ON alerting.facts (topic, seq)")


def downgrade() -> None:
    op.execute("DROP INDEX alerting.facts_by_record")
