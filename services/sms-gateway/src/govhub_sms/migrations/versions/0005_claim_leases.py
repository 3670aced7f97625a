"""Claim leases and the submit journal: who claimed a message and until when, when its
submit was handed to the provider and when the carrier acknowledged it; the handset
number a delivery receipt names.

A sender killed between claim and record leaves rows in `sending`; these columns let the
next round tell "never handed over" (safe to queue again) from "acknowledged" (sent) and
from the truly ambiguous "handed over, no acknowledgement recorded".

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

STATEMENTS = [
    "ALTER TABLE sms.messages ADD COLUMN claimed_by text, ADD COLUMN lease_until timestamptz, "
    "ADD COLUMN handed_at timestamptz, ADD COLUMN acked_at timestamptz",
    # Recovery looks for expired leases among the few rows in `sending`.
    "CREATE INDEX messages_claim_lease ON sms.messages (lease_until) WHERE status = 'sending'",
    # A receipt that names no known message id is matched to an ambiguous message by
    # provider and handset.
    "CREATE INDEX messages_ambiguous ON sms.messages (provider, recipient) "
    "WHERE status = 'ambiguous'",
    "ALTER TABLE sms.delivery_reports ADD COLUMN recipient text",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    # The old code knows no `ambiguous`: such a message fails with its reason kept.
    op.execute("UPDATE sms.messages SET status = 'failed' WHERE status = 'ambiguous'")
    op.execute("ALTER TABLE sms.delivery_reports DROP COLUMN IF EXISTS recipient")
    op.execute("DROP INDEX IF EXISTS sms.messages_ambiguous")
    op.execute("DROP INDEX IF EXISTS sms.messages_claim_lease")
    op.execute(
        "ALTER TABLE sms.messages DROP COLUMN IF EXISTS claimed_by, "
        "DROP COLUMN IF EXISTS lease_until, DROP COLUMN IF EXISTS handed_at, "
        "DROP COLUMN IF EXISTS acked_at"
    )
