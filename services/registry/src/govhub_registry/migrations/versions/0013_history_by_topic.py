"""What the registry derived from a topic's records, found by the records' seqs: when the
exchange archives a segment of a topic's log (`exchange.log.archived`), the assertions of
the records before its live log are forgotten (ingest/retention.py).

Revision ID: 0013
Revises: 0012
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX assertion_by_record ON registry.assertion (source_topic, seq)")


def downgrade() -> None:
    op.execute("DROP INDEX registry.assertion_by_record")
