"""The feed's read as a server-side function, exchange.read_feed_page, planned once per
connection: left to choose, PostgreSQL planned the read again at every call once the log had
more than a few segments (govhub_exchange.delivery.service says why), so reads cost more as
the log grew.

The function's text is the code's (delivery/service.py, FEED_PAGE_FUNCTION); a change to it
comes with a migration that runs it again, and a test fails while the two differ.

Revision ID: 0015
Revises: 0014
"""

from alembic import op

from govhub_exchange.delivery.service import FEED_PAGE_FUNCTION

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(FEED_PAGE_FUNCTION)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION exchange.read_feed_page(text, bigint, text[], integer, bigint, boolean, "
        "text[])"
    )
