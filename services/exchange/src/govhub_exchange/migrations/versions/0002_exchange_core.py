"""Agencies, clients, catalog, subscriptions, the exchange log, deliveries and the audit log.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

STATEMENTS = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    """
    CREATE TABLE exchange.agencies (
        code text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9-]*$'),
        name text NOT NULL,
        contact jsonb NOT NULL DEFAULT '{}'::jsonb,
        disabled boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE exchange.clients (
        client_id text PRIMARY KEY,
        agency_code text NOT NULL REFERENCES exchange.agencies(code),
        secret_hash text NOT NULL,
        scopes text[] NOT NULL,
        disabled boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now(),
        rotated_at timestamptz
    )
    """,
    """
    CREATE TABLE exchange.topics (
        code text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]*$'),
        owner text NOT NULL REFERENCES exchange.agencies(code),
        title text NOT NULL,
        description text NOT NULL DEFAULT '',
        sharing_type text NOT NULL CHECK (sharing_type IN ('unconditional', 'conditional', 'not_shared')),
        legal_basis text,
        current_version integer NOT NULL DEFAULT 1,
        head_seq bigint NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX topics_title_trgm ON exchange.topics USING gin ((code || ' ' || title || ' ' || description) gin_trgm_ops)",
    "CREATE INDEX topics_owner ON exchange.topics (owner, code)",
    """
    CREATE TABLE exchange.topic_versions (
        topic_code text NOT NULL REFERENCES exchange.topics(code),
        version integer NOT NULL,
        schema jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (topic_code, version)
    )
    """,
    """
    CREATE TABLE exchange.data_items (
        topic_code text NOT NULL REFERENCES exchange.topics(code),
        name text NOT NULL,
        title text NOT NULL,
        type text,
        format text,
        sensitivity text NOT NULL,
        personal boolean NOT NULL,
        required boolean NOT NULL,
        since_version integer NOT NULL,
        PRIMARY KEY (topic_code, name)
    )
    """,
    "CREATE INDEX data_items_search_trgm ON exchange.data_items USING gin ((name || ' ' || title) gin_trgm_ops)",
    """
    CREATE TABLE exchange.subscriptions (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        topic_code text NOT NULL REFERENCES exchange.topics(code),
        subscriber text NOT NULL REFERENCES exchange.agencies(code),
        purpose text NOT NULL,
        items text[] NOT NULL,
        status text NOT NULL CHECK (status IN ('pending', 'approved', 'refused', 'revoked')),
        reason text,
        requested_at timestamptz NOT NULL DEFAULT now(),
        decided_at timestamptz,
        decided_by text,
        webhook_url text,
        webhook_secret text,
        delivered_seq bigint NOT NULL DEFAULT 0,
        acked_seq bigint NOT NULL DEFAULT 0,
        acked_at timestamptz
    )
    """,
    "CREATE INDEX subscriptions_topic ON exchange.subscriptions (topic_code, status)",
    "CREATE INDEX subscriptions_subscriber ON exchange.subscriptions (subscriber, id)",
    """
    CREATE TABLE exchange.records (
        topic_code text NOT NULL,
        seq bigint NOT NULL,
        record_id text NOT NULL,
        version integer NOT NULL,
        topic_version integer NOT NULL,
        content_hash bytea NOT NULL,
        business_time timestamptz,
        published_at timestamptz NOT NULL,
        publisher text NOT NULL,
        data jsonb NOT NULL,
        PRIMARY KEY (topic_code, seq)
    )
    """,
    "CREATE UNIQUE INDEX records_record_version ON exchange.records (topic_code, record_id, version)",
    """
    CREATE TABLE exchange.quarantine (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        topic_code text NOT NULL,
        publisher text NOT NULL,
        batch_id uuid NOT NULL,
        index integer NOT NULL,
        line integer,
        record_id text,
        payload text NOT NULL,
        errors jsonb NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX quarantine_topic ON exchange.quarantine (topic_code, id)",
    """
    CREATE TABLE exchange.webhook_deliveries (
        subscription_id bigint NOT NULL REFERENCES exchange.subscriptions(id),
        seq bigint NOT NULL,
        webhook_id text NOT NULL,
        status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        last_error text,
        last_status integer,
        created_at timestamptz NOT NULL DEFAULT now(),
        delivered_at timestamptz,
        PRIMARY KEY (subscription_id, seq)
    )
    """,
    "CREATE INDEX webhook_deliveries_due ON exchange.webhook_deliveries (next_attempt_at) WHERE status = 'pending'",
    "CREATE INDEX webhook_deliveries_dead ON exchange.webhook_deliveries (subscription_id) WHERE status = 'dead'",
    """
    CREATE TABLE exchange.audit_log (
        id bigint PRIMARY KEY,
        at timestamptz NOT NULL,
        actor text NOT NULL,
        action text NOT NULL,
        agency text,
        topic text,
        details jsonb NOT NULL,
        prev_hash text NOT NULL,
        hash text NOT NULL
    )
    """,
    "CREATE INDEX audit_log_at ON exchange.audit_log (at)",
    "CREATE INDEX audit_log_agency ON exchange.audit_log (agency, id)",
    "CREATE INDEX audit_log_topic ON exchange.audit_log (topic, id)",
    """
    CREATE TABLE exchange.audit_checkpoints (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        entry_id bigint NOT NULL,
        hash text NOT NULL,
        signed_at timestamptz NOT NULL,
        kid text NOT NULL,
        signature text NOT NULL
    )
    """,
    # The audit log is append-only, enforced here rather than by convention.
    """
    CREATE FUNCTION exchange.audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'the audit log is append-only (% refused)', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END
    $$
    """,
    """
    CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON exchange.audit_log
        FOR EACH ROW EXECUTE FUNCTION exchange.audit_append_only()
    """,
    """
    CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON exchange.audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION exchange.audit_append_only()
    """,
    """
    CREATE TRIGGER audit_checkpoints_no_update_delete BEFORE UPDATE OR DELETE ON exchange.audit_checkpoints
        FOR EACH ROW EXECUTE FUNCTION exchange.audit_append_only()
    """,
    """
    CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON exchange.audit_checkpoints
        FOR EACH STATEMENT EXECUTE FUNCTION exchange.audit_append_only()
    """,
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute(
        "DROP TABLE IF EXISTS exchange.audit_checkpoints, exchange.audit_log, "
        "exchange.webhook_deliveries, exchange.quarantine, exchange.records, "
        "exchange.subscriptions, exchange.data_items, exchange.topic_versions, "
        "exchange.topics, exchange.clients, exchange.agencies CASCADE"
    )
    op.execute("DROP FUNCTION IF EXISTS exchange.audit_append_only()")
