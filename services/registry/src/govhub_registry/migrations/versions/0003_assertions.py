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
-- Sources are derived from the claims when read; a golden row stays under the TOAST
-- threshold (about 2 kB), which keeps ingest from compressing every row it writes.
ALTER TABLE registry.legal_entity DROP COLUMN sources, ADD COLUMN claims jsonb NOT NULL DEFAULT '{}';
ALTER TABLE registry.person DROP COLUMN sources, ADD COLUMN claims jsonb NOT NULL DEFAULT '{}'
"""


def upgrade() -> None:
    for statement in _DDL.split(";\n"):
        if statement.strip():
            op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS registry.assertion")
    for table in ("legal_entity", "person"):
        op.execute(
            f"ALTER TABLE registry.{table} DROP COLUMN IF EXISTS claims, "
            "ADD COLUMN sources jsonb NOT NULL DEFAULT '{}'"
        )
