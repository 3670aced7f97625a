"""The access log names the legal entity through which a person's data was read: an agency
reading a legal entity is shown its legal representative's ID number and name, and that
read is logged on the representative too (issue 15, point 12).

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE registry.access_log ADD COLUMN via_legal_entity text")


def downgrade() -> None:
    op.execute("ALTER TABLE registry.access_log DROP COLUMN via_legal_entity")
