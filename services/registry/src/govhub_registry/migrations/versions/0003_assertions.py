"""One assertion row per source record (its attributes share agency, record, valid time and
recorded time), and each golden record's current claims per agency: ingest writes a row
per record instead of a row per attribute, and validity ends are derived when read.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_DDL = """
DROP TABLE registry.attribute_value;
CREATE TABLE registry.assertion (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject_kind text NOT NULL,
    subject_id text NOT NULL,
    source_agency text NOT NULL,
    source_topic text NOT NULL,
    seq bigint NOT NULL,
    valid_from date NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    attributes jsonb NOT NULL,
    ranks jsonb NOT NULL,
    UNIQUE (subject_kind, subject_id, source_agency, seq)
);
ALTER TABLE registry.legal_entity ADD COLUMN claims jsonb NOT NULL DEFAULT '{}';
ALTER TABLE registry.person ADD COLUMN claims jsonb NOT NULL DEFAULT '{}'
"""


def upgrade() -> None:
    for statement in _DDL.split(";\n"):
        if statement.strip():
            op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS registry.assertion")
    op.execute("ALTER TABLE registry.legal_entity DROP COLUMN IF EXISTS claims")
    op.execute("ALTER TABLE registry.person DROP COLUMN IF EXISTS claims")
