"""Every exchange record alerting receives (history for new rules over any topic), and the
projection of the registry's contact attributes (reminder recipients).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

STATEMENTS = [
    """
    CREATE TABLE alerting.records (
        topic text NOT NULL,
        seq bigint NOT NULL,
        publisher text NOT NULL,
        data jsonb NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (topic, seq)
    )
    """,
    # Rows arrive in received_at order: a BRIN index finds the expired ones for next to
    # nothing on the event path.
    "CREATE INDEX records_received ON alerting.records USING brin (received_at)",
    """
    CREATE TABLE alerting.registry_contacts (
        registry text NOT NULL CHECK (registry IN ('legal_entity', 'person')),
        subject text NOT NULL,
        attribute text NOT NULL,
        value text,
        changed_at timestamptz NOT NULL,
        seq bigint,
        source_agency text,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (registry, subject, attribute)
    )
    """,
    # A record's business date as the event path reads it (an ISO date, maybe with a time
    # after it), or NULL when it is none, so one bad record does not fail a set-based
    # statement. Plain SQL without exception handling: it is inlined (hence STABLE, like
    # the casts inside), about 2 us a row.
    r"""
    CREATE FUNCTION alerting.business_date_of(value text) RETURNS date
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
        SELECT CASE WHEN value ~ '^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])'
                     AND left(value, 4) <> '0000' THEN
            CASE WHEN substr(value, 9, 2)::int <= 28
                   OR substr(value, 9, 2)::int <= extract(day FROM
                        (left(value, 7) || '-01')::date + interval '1 month - 1 day')
                THEN left(value, 10)::date END
        END
    $$
    """,
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS alerting.business_date_of(text)")
    op.execute("DROP TABLE IF EXISTS alerting.registry_contacts, alerting.records")
