"""An assertion is identified by its topic's record: sequence numbers are per topic, so
one agency's two topics can both have a record N about the same subject, and the second
was taken for a replay of the first.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE registry.assertion "
        "DROP CONSTRAINT assertion_subject_kind_subject_id_source_agency_seq_key, "
        "ADD CONSTRAINT assertion_source_record_key "
        "UNIQUE (subject_kind, subject_id, source_agency, source_topic, seq)"
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE registry.assertion DROP CONSTRAINT assertion_source_record_key, "
        "ADD CONSTRAINT assertion_subject_kind_subject_id_source_agency_seq_key "
        "UNIQUE (subject_kind, subject_id, source_agency, seq)"
    )
