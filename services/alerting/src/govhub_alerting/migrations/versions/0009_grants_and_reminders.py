"""What a case officer is shown of a warning: the agencies' grants (from the exchange's
subscription events) and the catalog's personal data items, for the evidence; the reminders
emitted and their delivery status (from the SMS gateway's events).

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

STATEMENTS = [
    # The data items the exchange's catalog marks personal (x-personal), per topic.
    "ALTER TABLE alerting.known_topics ADD COLUMN personal text[] NOT NULL DEFAULT '{}'",
    """
    CREATE TABLE alerting.grants (
        subscription_id bigint PRIMARY KEY,
        topic text NOT NULL,
        subscriber text NOT NULL,
        status text NOT NULL CHECK (status IN ('approved', 'refused', 'revoked')),
        items text[] NOT NULL,
        decided_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    # What an agency is granted of the topics behind a warning.
    "CREATE INDEX grants_by_subscriber ON alerting.grants (subscriber, topic) "
    "WHERE status = 'approved'",
    """
    CREATE TABLE alerting.reminders (
        idempotency_key text PRIMARY KEY,
        rule_id text NOT NULL,
        subject text NOT NULL,
        trigger_date date NOT NULL,
        template text NOT NULL,
        recipient text NOT NULL,
        due_at timestamptz NOT NULL,
        emitted_at timestamptz NOT NULL
    )
    """,
    "CREATE INDEX reminders_by_subject ON alerting.reminders (rule_id, subject, trigger_date)",
    """
    CREATE TABLE alerting.reminder_deliveries (
        idempotency_key text PRIMARY KEY,
        message_id text NOT NULL,
        status text NOT NULL,
        reason text,
        changed_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    # The reminders emitted before this table: their timers say what was sent to whom.
    """
    INSERT INTO alerting.reminders (idempotency_key, rule_id, subject, trigger_date, template,
        recipient, due_at, emitted_at)
    SELECT reminder->>'idempotency_key', rule_id, subject, trigger_date,
        reminder->>'template', reminder->>'sent_to', due_at, coalesce(fired_as_of, fired_at)
    FROM alerting.timers
    WHERE kind = 'reminder' AND outcome = 'sent' AND reminder->>'sent_to' IS NOT NULL
    ON CONFLICT (idempotency_key) DO NOTHING
    """,
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS alerting.reminder_deliveries, alerting.reminders")
    op.execute("DROP TABLE IF EXISTS alerting.grants")
    op.execute("ALTER TABLE alerting.known_topics DROP COLUMN IF EXISTS personal")
