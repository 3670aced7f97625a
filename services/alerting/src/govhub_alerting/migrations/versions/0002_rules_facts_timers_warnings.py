"""Rules and their versions, known topics, facts, persistent timers, warnings as cases,
their history and silences.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # asyncpg runs one statement per call.
    for statement in SCHEMA.split(";"):
        if statement.strip():
            op.execute(statement)


SCHEMA = """
        CREATE TABLE alerting.rules (
            id text PRIMARY KEY,
            current_version integer NOT NULL,
            enabled boolean NOT NULL DEFAULT true,
            updated_at timestamptz NOT NULL DEFAULT now(),
            updated_by text NOT NULL
        );
        CREATE TABLE alerting.rule_versions (
            rule_id text NOT NULL REFERENCES alerting.rules (id),
            version integer NOT NULL,
            definition jsonb NOT NULL,
            source text NOT NULL CHECK (source IN ('file', 'api')),
            created_at timestamptz NOT NULL DEFAULT now(),
            created_by text NOT NULL,
            PRIMARY KEY (rule_id, version)
        );
        CREATE TABLE alerting.known_topics (
            topic text PRIMARY KEY,
            fields text[] NOT NULL,
            source text NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        -- One row per record and view (topic:key:date) some rule reads it through.
        CREATE TABLE alerting.facts (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            view text NOT NULL,
            topic text NOT NULL,
            seq bigint NOT NULL,
            subject text NOT NULL,
            business_date date NOT NULL,
            publisher text NOT NULL,
            data jsonb NOT NULL,
            received_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (view, seq)
        );
        CREATE INDEX facts_by_subject ON alerting.facts (view, subject, business_date);
        CREATE TABLE alerting.timers (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            rule_id text NOT NULL,
            rule_version integer NOT NULL,
            subject text NOT NULL,
            kind text NOT NULL CHECK (kind IN ('reminder', 'deadline')),
            trigger_fact_id bigint NOT NULL,
            trigger_date date NOT NULL,
            deadline_date date NOT NULL,
            due_at timestamptz NOT NULL,
            awaited_views text[] NOT NULL,
            reminder jsonb,
            created_at timestamptz NOT NULL DEFAULT now(),
            fired_at timestamptz,
            fired_as_of timestamptz,
            cancelled_at timestamptz,
            outcome text,
            -- A trigger record sets each of a rule's timers once (the fact is view + seq).
            UNIQUE (trigger_fact_id, rule_id, kind, due_at)
        );
        CREATE INDEX timers_due ON alerting.timers (due_at, id)
            WHERE fired_at IS NULL AND cancelled_at IS NULL;
        CREATE INDEX timers_pending_by_subject ON alerting.timers (rule_id, subject)
            WHERE fired_at IS NULL AND cancelled_at IS NULL;
        CREATE TABLE alerting.warnings (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            rule_id text NOT NULL,
            rule_version integer NOT NULL,
            kind text NOT NULL,
            title text NOT NULL,
            severity text NOT NULL,
            subject text NOT NULL,
            assigned_agency text NOT NULL,
            status text NOT NULL CHECK (status IN ('open', 'investigating', 'resolved')),
            resolution text CHECK (resolution IN
                ('complied_late', 'exempt', 'false_positive', 'penalised', 'other')),
            note text,
            trigger_date date NOT NULL,
            due_date date,
            raised_at timestamptz NOT NULL,
            resolved_at timestamptz,
            updated_at timestamptz NOT NULL DEFAULT now(),
            timer_id bigint,
            evidence jsonb NOT NULL
        );
        CREATE UNIQUE INDEX warnings_one_open_per_subject ON alerting.warnings (rule_id, subject)
            WHERE status <> 'resolved';
        CREATE INDEX warnings_by_agency ON alerting.warnings (assigned_agency, id);
        CREATE INDEX warnings_by_rule ON alerting.warnings (rule_id, trigger_date);
        CREATE TABLE alerting.warning_history (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            warning_id bigint NOT NULL REFERENCES alerting.warnings (id),
            from_status text,
            to_status text NOT NULL,
            resolution text,
            note text,
            actor text NOT NULL,
            at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX warning_history_by_warning ON alerting.warning_history (warning_id, id);
        CREATE TABLE alerting.silences (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            rule_id text NOT NULL,
            subject text NOT NULL,
            until date NOT NULL,
            reason text NOT NULL,
            created_by text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX silences_by_subject ON alerting.silences (rule_id, subject, until);
"""


def downgrade() -> None:
    op.execute(
        "DROP TABLE IF EXISTS alerting.silences, alerting.warning_history, alerting.warnings, "
        "alerting.timers, alerting.facts, alerting.known_topics, alerting.rule_versions, "
        "alerting.rules"
    )
