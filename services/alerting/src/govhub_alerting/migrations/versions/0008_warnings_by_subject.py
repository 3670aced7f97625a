"""Warnings found by subject: the exact subject, or the key before a duplicate rule's `/item`.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # text_pattern_ops serves both `subject = :s` and the prefix `subject LIKE 'key/%'`.
    op.execute(
        "CREATE INDEX warnings_by_subject ON alerting.warnings (subject text_pattern_ops, id)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX alerting.warnings_by_subject")
