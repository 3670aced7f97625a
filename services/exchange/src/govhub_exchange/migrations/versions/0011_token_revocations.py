"""Token revocation: a token generation per client and per agency (carried in the tokens,
bumped by a revoking change), and the table of revocations every service keeps.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

from govhub_common.revocation import create_revocation_table, drop_revocation_table

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE exchange.clients ADD COLUMN token_generation bigint NOT NULL DEFAULT 0")
    op.execute(
        "ALTER TABLE exchange.agencies ADD COLUMN token_generation bigint NOT NULL DEFAULT 0"
    )
    create_revocation_table(op, "exchange")


def downgrade() -> None:
    drop_revocation_table(op, "exchange")
    op.execute("ALTER TABLE exchange.agencies DROP COLUMN token_generation")
    op.execute("ALTER TABLE exchange.clients DROP COLUMN token_generation")
