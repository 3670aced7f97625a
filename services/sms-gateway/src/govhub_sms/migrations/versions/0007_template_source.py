"""Who last wrote a template: the startup file or the API (the API wins, as for rules).

Templates from before this revision count as the file's: the file rewrote them at every
start until now, so that is what they are.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE sms.templates ADD COLUMN source text NOT NULL DEFAULT 'file'")
    op.execute(
        "ALTER TABLE sms.templates ADD CONSTRAINT templates_source "
        "CHECK (source IN ('file', 'api'))"
    )
    op.execute("ALTER TABLE sms.templates ALTER COLUMN source SET DEFAULT 'api'")


def downgrade() -> None:
    op.execute("ALTER TABLE sms.templates DROP COLUMN source")
