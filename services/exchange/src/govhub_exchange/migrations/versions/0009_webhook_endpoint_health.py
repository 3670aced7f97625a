"""Webhook endpoints with a health of their own: leases that say which deliveries are in
flight (for a per-subscription concurrency limit), consecutive failures with a backoff per
endpoint, a paused state, and the position below which every webhook is delivered (the
subscription's lag counts it).

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

UPGRADE = (
    """
    ALTER TABLE exchange.subscriptions
        ADD COLUMN webhook_status text NOT NULL DEFAULT 'active'
            CHECK (webhook_status IN ('active', 'paused')),
        ADD COLUMN webhook_paused_reason text,
        ADD COLUMN webhook_paused_since timestamptz,
        ADD COLUMN webhook_failures integer NOT NULL DEFAULT 0,
        ADD COLUMN webhook_failing_since timestamptz,
        ADD COLUMN webhook_last_error text,
        ADD COLUMN webhook_retry_at timestamptz,
        ADD COLUMN webhook_delivered_seq bigint NOT NULL DEFAULT 0
    """,
    # Set while a replica posts the delivery, cleared when the outcome is recorded.
    "ALTER TABLE exchange.webhook_deliveries ADD COLUMN leased_until timestamptz",
    # The claim walks each subscription's pending deliveries in seq order; the lowest
    # undelivered seq gives the delivered position.
    "CREATE INDEX webhook_deliveries_undelivered ON exchange.webhook_deliveries "
    "(subscription_id, seq) WHERE status IN ('pending', 'dead')",
    "CREATE INDEX webhook_deliveries_leased ON exchange.webhook_deliveries (subscription_id) "
    "WHERE leased_until IS NOT NULL",
    "DROP INDEX exchange.webhook_deliveries_due",
    """
    UPDATE exchange.subscriptions s SET webhook_delivered_seq = coalesce(
        (SELECT min(w.seq) - 1 FROM exchange.webhook_deliveries w
         WHERE w.subscription_id = s.id AND w.status IN ('pending', 'dead')),
        (SELECT max(w.seq) FROM exchange.webhook_deliveries w WHERE w.subscription_id = s.id),
        0)
    """,
)

DOWNGRADE = (
    "CREATE INDEX webhook_deliveries_due ON exchange.webhook_deliveries (next_attempt_at) "
    "WHERE status = 'pending'",
    "DROP INDEX exchange.webhook_deliveries_leased",
    "DROP INDEX exchange.webhook_deliveries_undelivered",
    "ALTER TABLE exchange.webhook_deliveries DROP COLUMN leased_until",
    """
    ALTER TABLE exchange.subscriptions
        DROP COLUMN webhook_status,
        DROP COLUMN webhook_paused_reason,
        DROP COLUMN webhook_paused_since,
        DROP COLUMN webhook_failures,
        DROP COLUMN webhook_failing_since,
        DROP COLUMN webhook_last_error,
        DROP COLUMN webhook_retry_at,
        DROP COLUMN webhook_delivered_seq
    """,
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
