"""The console schema: the runtime's outbox, inbox and token revocations (every hosted
service keeps them), local accounts, sessions and pending sign-ins.

Revision ID: 0001
Revises:
"""

from alembic import op

from govhub_common.outbox import create_outbox_tables
from govhub_common.revocation import create_revocation_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STATEMENTS = [
    """
    CREATE TABLE console.accounts (
        username text PRIMARY KEY,
        agency text NOT NULL,
        role text NOT NULL
            CONSTRAINT accounts_role_check
            CHECK (role IN ('case_officer', 'data_steward', 'operator')),
        display_name text NOT NULL,
        password_hash text NOT NULL,
        failed_attempts integer NOT NULL DEFAULT 0,
        locked_until timestamptz,
        disabled boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE console.sessions (
        id_hash text PRIMARY KEY,
        person text NOT NULL,
        person_name text NOT NULL,
        agency text NOT NULL,
        role text NOT NULL,
        locale text NOT NULL,
        csrf text NOT NULL,
        person_token text NOT NULL,
        token_expires_at timestamptz NOT NULL,
        auth_time timestamptz NOT NULL,
        seen_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL
    )
    """,
    "CREATE INDEX sessions_expiry ON console.sessions (expires_at)",
    "CREATE INDEX sessions_by_person ON console.sessions (person)",
    """
    CREATE TABLE console.pending_logins (
        id_hash text PRIMARY KEY,
        state text NOT NULL,
        code_verifier text NOT NULL,
        nonce text NOT NULL,
        return_to text NOT NULL,
        csrf text NOT NULL,
        expires_at timestamptz NOT NULL
    )
    """,
    "CREATE INDEX pending_logins_expiry ON console.pending_logins (expires_at)",
]


def upgrade() -> None:
    op.execute('CREATE SCHEMA IF NOT EXISTS "console"')
    create_outbox_tables(op, "console")
    create_revocation_table(op, "console")
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute(
        'DROP TABLE IF EXISTS "console".pending_logins, "console".sessions, '
        '"console".accounts, "console".token_revocations, "console".inbox, "console".outbox'
    )
