"""An assertion's attributes and ranks as json (the record's text, kept as stated) instead of
jsonb: ingest writes a row per record and never queries them; reading a subject's history
parses its few rows.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE registry.assertion "
        "ALTER COLUMN attributes TYPE json USING attributes::json, "
        "ALTER COLUMN ranks TYPE json USING ranks::json"
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE registry.assertion "
        "ALTER COLUMN attributes TYPE jsonb USING attributes::jsonb, "
        "ALTER COLUMN ranks TYPE jsonb USING ranks::jsonb"
    )
