"""Publish batches: one row per publish request (counts and the sequence range it took),
written in the publish transaction. The audit entry of each batch is appended from here
in the background, in batch order, instead of by a consumer of the exchange's own batch
events: parsing each 1,000-record event back cost the exchange more than a tenth of its
core.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE exchange.publish_batches (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            batch_id uuid NOT NULL UNIQUE,
            topic_code text NOT NULL REFERENCES exchange.topics (code),
            publisher text NOT NULL,
            accepted integer NOT NULL,
            duplicates integer NOT NULL,
            rejected integer NOT NULL,
            first_seq bigint,
            last_seq bigint,
            received_at timestamptz NOT NULL DEFAULT now(),
            audited boolean NOT NULL DEFAULT false
        )
        """
    )
    op.execute(
        "CREATE INDEX publish_batches_unaudited ON exchange.publish_batches (id) WHERE NOT audited"
    )


def downgrade() -> None:
    op.execute("DROP TABLE exchange.publish_batches")
