"""Golden records, attribute history with provenance, registrations, conflicts, matching,
unmapped records and the access log.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public")
    for statement in _DDL.split(";\n"):
        if statement.strip():
            op.execute(statement)


_DDL = """
        CREATE TABLE registry.legal_entity (
            uscc text PRIMARY KEY,
            attributes jsonb NOT NULL DEFAULT '{}',
            sources jsonb NOT NULL DEFAULT '{}',
            name text GENERATED ALWAYS AS (attributes->>'name') STORED,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX legal_entity_name_trgm ON registry.legal_entity
            USING gin (name public.gin_trgm_ops);

        CREATE TABLE registry.person (
            id_number text PRIMARY KEY,
            attributes jsonb NOT NULL DEFAULT '{}',
            sources jsonb NOT NULL DEFAULT '{}',
            name text GENERATED ALWAYS AS (attributes->>'name') STORED,
            birth_date text GENERATED ALWAYS AS (attributes->>'birth_date') STORED,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX person_name_trgm ON registry.person USING gin (name public.gin_trgm_ops);
        CREATE INDEX person_birth_date ON registry.person (birth_date);
        -- Matching: a record whose ID fails only its check character finds its subject.
        CREATE INDEX person_id_body ON registry.person (left(id_number, 17));
        CREATE INDEX legal_entity_uscc_body ON registry.legal_entity (left(uscc, 17));

        -- One row per value an agency asserted: valid time (valid_from/valid_to) and
        -- recorded time (recorded_at, and closed_at when valid_to was set).
        CREATE TABLE registry.attribute_value (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            subject_kind text NOT NULL,
            subject_id text NOT NULL,
            attribute text NOT NULL,
            value jsonb NOT NULL,
            source_agency text NOT NULL,
            source_topic text NOT NULL,
            seq bigint NOT NULL,
            rank integer NOT NULL,
            valid_from date NOT NULL,
            valid_to date,
            recorded_at timestamptz NOT NULL DEFAULT now(),
            closed_at timestamptz,
            UNIQUE (subject_kind, subject_id, attribute, source_agency, seq)
        );

        CREATE TABLE registry.registration (
            subject_kind text NOT NULL,
            subject_id text NOT NULL,
            agency text NOT NULL,
            kind text NOT NULL,
            reference text,
            status text NOT NULL,
            start_date date,
            end_date date,
            last_date date,
            details jsonb NOT NULL DEFAULT '{}',
            source_topic text NOT NULL,
            source_seq bigint NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (subject_kind, subject_id, agency, kind)
        );

        CREATE TABLE registry.conflict (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            subject_kind text NOT NULL,
            subject_id text NOT NULL,
            attribute text NOT NULL,
            claims jsonb NOT NULL,
            fingerprint text NOT NULL,
            status text NOT NULL DEFAULT 'open',
            detected_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            settled_at timestamptz,
            settled_by text,
            note text
        );
        CREATE UNIQUE INDEX conflict_one_open ON registry.conflict
            (subject_kind, subject_id, attribute) WHERE status = 'open';
        CREATE INDEX conflict_subject ON registry.conflict (subject_kind, subject_id);

        CREATE TABLE registry.unmapped_record (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            topic text NOT NULL,
            seq bigint NOT NULL,
            publisher text NOT NULL,
            data jsonb NOT NULL,
            reason text NOT NULL,
            received_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (topic, seq)
        );

        CREATE TABLE registry.match_review (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            subject_kind text NOT NULL,
            topic text NOT NULL,
            seq bigint NOT NULL,
            publisher text NOT NULL,
            record jsonb NOT NULL,
            candidates jsonb NOT NULL,
            status text NOT NULL DEFAULT 'pending',
            linked_id text,
            created_at timestamptz NOT NULL DEFAULT now(),
            resolved_at timestamptz,
            resolved_by text,
            UNIQUE (topic, seq)
        );

        CREATE TABLE registry.match_decision (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            subject_kind text NOT NULL,
            topic text NOT NULL,
            seq bigint NOT NULL,
            decision text NOT NULL,
            linked_id text,
            score double precision,
            candidates jsonb NOT NULL DEFAULT '[]',
            decided_by text NOT NULL,
            decided_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX match_decision_record ON registry.match_decision (topic, seq);

        CREATE TABLE registry.access_log (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            accessed_at timestamptz NOT NULL DEFAULT now(),
            agency text NOT NULL,
            client_id text,
            subject_kind text NOT NULL,
            subject_id text NOT NULL,
            fields text[] NOT NULL,
            purpose text NOT NULL,
            action text NOT NULL
        );
        CREATE INDEX access_log_subject ON registry.access_log (subject_kind, subject_id, accessed_at);
"""


def downgrade() -> None:
    op.execute(
        "DROP TABLE IF EXISTS registry.access_log, registry.match_decision, registry.match_review, "
        "registry.unmapped_record, registry.conflict, registry.registration, "
        "registry.attribute_value, registry.person, registry.legal_entity"
    )
