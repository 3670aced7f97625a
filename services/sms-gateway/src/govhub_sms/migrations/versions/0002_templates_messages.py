"""Templates, messages with their status history, opt-outs and delivery reports.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


STATEMENTS = [
    """
    CREATE TABLE sms.templates (
        code text PRIMARY KEY,
        title text NOT NULL DEFAULT '',
        signature text NOT NULL,
        body text NOT NULL,
        category text NOT NULL CHECK (category IN ('notification', 'marketing')),
        params text[] NOT NULL,
        opt_out_allowed boolean NOT NULL,
        version integer NOT NULL DEFAULT 1,
        active boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE sms.messages (
        seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
        id uuid PRIMARY KEY,
        agency text NOT NULL,
        idempotency_key text NOT NULL,
        request_hash text NOT NULL,
        recipient text NOT NULL,
        template_code text NOT NULL,
        template_version integer NOT NULL,
        category text NOT NULL,
        opt_out_applies boolean NOT NULL,
        params jsonb NOT NULL,
        text text NOT NULL,
        encoding text NOT NULL,
        segments integer NOT NULL,
        -- queued, deferred, sending (claimed by a sender), sent, delivered, failed, expired
        status text NOT NULL,
        reason text,
        not_before timestamptz,
        next_attempt_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        provider_index integer NOT NULL DEFAULT 0,
        provider text,
        provider_message_id text,
        parts integer,
        sent_on date,
        sent_at timestamptz,
        submitted_wall_at timestamptz,
        claimed_at timestamptz,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        UNIQUE (agency, idempotency_key)
    )
    """,
    """
    CREATE INDEX messages_due ON sms.messages (next_attempt_at)
        WHERE status IN ('queued', 'deferred')
    """,
    """
    CREATE INDEX messages_recipient_day ON sms.messages (recipient, sent_on)
        WHERE sent_on IS NOT NULL
    """,
    """
    CREATE INDEX messages_provider_id ON sms.messages (provider, provider_message_id)
        WHERE provider_message_id IS NOT NULL
    """,
    """
    CREATE INDEX messages_agency_seq ON sms.messages (agency, seq)
    """,
    """
    CREATE INDEX messages_status_seq ON sms.messages (status, seq)
    """,
    """
    CREATE TABLE sms.message_history (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        message_id uuid NOT NULL REFERENCES sms.messages (id) ON DELETE CASCADE,
        status text NOT NULL,
        reason text,
        provider text,
        changed_at timestamptz NOT NULL
    )
    """,
    """
    CREATE INDEX message_history_message ON sms.message_history (message_id, id)
    """,
    """
    CREATE TABLE sms.opt_outs (
        recipient text PRIMARY KEY,
        source text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE sms.delivery_reports (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        provider text NOT NULL,
        provider_message_id text NOT NULL,
        message_id uuid,
        status text NOT NULL,
        error_code text,
        done_at timestamptz,
        received_at timestamptz NOT NULL DEFAULT now(),
        applied_at timestamptz,
        outcome text
    )
    """,
    """
    CREATE INDEX delivery_reports_pending ON sms.delivery_reports (id)
        WHERE applied_at IS NULL
    """,
]


def upgrade() -> None:
    # One statement per execute: asyncpg prepares each.
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute(
        "DROP TABLE IF EXISTS sms.delivery_reports, sms.opt_outs, sms.message_history, "
        "sms.messages, sms.templates"
    )
