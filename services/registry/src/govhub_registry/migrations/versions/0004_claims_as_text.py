"""Claims are the registry's own working state, read and written whole by Python and never
queried in SQL: kept as text, so ingest does not pay for building a jsonb tree of every
golden record it writes (the largest cost of a batch).

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("legal_entity", "person"):
        op.execute(f"ALTER TABLE registry.{table} ALTER COLUMN claims DROP DEFAULT")
        op.execute(f"ALTER TABLE registry.{table} ALTER COLUMN claims TYPE text USING claims::text")
        op.execute(f"ALTER TABLE registry.{table} ALTER COLUMN claims SET DEFAULT '{{}}'")


def downgrade() -> None:
    for table in ("legal_entity", "person"):
        op.execute(f"ALTER TABLE registry.{table} ALTER COLUMN claims DROP DEFAULT")
        op.execute(f"ALTER TABLE registry.{table} ALTER COLUMN claims TYPE jsonb USING claims::jsonb")
        op.execute(f"ALTER TABLE registry.{table} ALTER COLUMN claims SET DEFAULT '{{}}'")
