"""Conflicts are announced on the bus (`registry.conflicts.changed`): a conflict keeps when
the agencies came to agree again (`resolved_at`, as `settled_at` keeps an operator's
settling), and each claim of a conflict its agency's authority rank, so the event can name
the authoritative agency and the dissenters from the conflict's own row.

Existing conflicts: a resolved one takes its last update as its resolved time; each claim
takes its agency's rank from the subject's golden record.

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE registry.conflict ADD COLUMN resolved_at timestamptz")
    op.execute("UPDATE registry.conflict SET resolved_at = updated_at WHERE status = 'resolved'")
    # The golden record's claims (text): {attribute: {agency: [value, rank, valid_from, seq]}}.
    op.execute(
        """
        UPDATE registry.conflict c SET claims = r.claims
        FROM (
            SELECT c.id,
                   jsonb_agg(x.claim || jsonb_build_object(
                       'rank', (s.slot -> (x.claim ->> 'agency') ->> 1)::int) ORDER BY x.n)
                       AS claims
            FROM registry.conflict c
            JOIN LATERAL (
                SELECT g.claims::jsonb -> c.attribute AS slot FROM registry.person g
                WHERE c.subject_kind = 'person' AND g.id_number = c.subject_id
                UNION ALL
                SELECT g.claims::jsonb -> c.attribute FROM registry.legal_entity g
                WHERE c.subject_kind = 'legal_entity' AND g.uscc = c.subject_id
            ) s ON true
            CROSS JOIN LATERAL jsonb_array_elements(c.claims) WITH ORDINALITY AS x(claim, n)
            GROUP BY c.id
        ) r
        WHERE r.id = c.id
        """
    )


def downgrade() -> None:
    op.execute(
        """
        UPDATE registry.conflict c SET claims = (
            SELECT jsonb_agg(x.claim - 'rank' ORDER BY x.n)
            FROM jsonb_array_elements(c.claims) WITH ORDINALITY AS x(claim, n))
        """
    )
    op.execute("ALTER TABLE registry.conflict DROP COLUMN resolved_at")
