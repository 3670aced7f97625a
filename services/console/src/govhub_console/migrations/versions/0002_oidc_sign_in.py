"""Sign-in through the city's identity provider: a session keeps its ID token (the
id_token_hint of the provider's logout); a pending sign-in keeps its redirect_uri and loses
its csrf column (the sign-in starts from a link, not a form).

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE console.sessions ADD COLUMN id_token text")
    # Pending sign-ins last minutes: those under way at the upgrade start again.
    op.execute("DELETE FROM console.pending_logins")
    op.execute("ALTER TABLE console.pending_logins DROP COLUMN csrf")
    op.execute("ALTER TABLE console.pending_logins ADD COLUMN redirect_uri text NOT NULL")


def downgrade() -> None:
    op.execute("DELETE FROM console.pending_logins")
    op.execute("ALTER TABLE console.pending_logins DROP COLUMN redirect_uri")
    op.execute("ALTER TABLE console.pending_logins ADD COLUMN csrf text NOT NULL")
    op.execute("ALTER TABLE console.sessions DROP COLUMN id_token")
