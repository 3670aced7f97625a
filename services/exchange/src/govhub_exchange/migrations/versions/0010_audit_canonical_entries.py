"""Audit entries keep the exact bytes that were hashed: the entry's RFC 8785 (JCS)
canonical form, as text. Verification re-hashes what is stored; the jsonb `details` and the
other columns stay for searching. Entries written before carry hash_version 1 (sha256 over
orjson with sorted keys of the columns read back) and are verified that way.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UPGRADE = (
    # A constant default adds the column without touching rows (no UPDATE, so the
    # append-only trigger does not fire); the service writes version 2 explicitly.
    "ALTER TABLE exchange.audit_log ADD COLUMN hash_version smallint NOT NULL DEFAULT 1",
    "ALTER TABLE exchange.audit_log ADD COLUMN canonical text",
    """
    ALTER TABLE exchange.audit_log ADD CONSTRAINT audit_log_hash_version CHECK (
        (hash_version = 1 AND canonical IS NULL) OR (hash_version = 2 AND canonical IS NOT NULL)
    )
    """,
)

DOWNGRADE = (
    "ALTER TABLE exchange.audit_log DROP CONSTRAINT audit_log_hash_version",
    "ALTER TABLE exchange.audit_log DROP COLUMN canonical",
    "ALTER TABLE exchange.audit_log DROP COLUMN hash_version",
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
