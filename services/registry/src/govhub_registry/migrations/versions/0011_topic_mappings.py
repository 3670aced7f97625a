"""Topic mappings as versioned rows the registry's API changes (issue 17, point 2), and the
registry's copy of the exchange catalog that a mapping is checked against.

A version whose definition is NULL records the mapping's removal; `source` says whether a
version came from the mapping file at startup or from the API, so that the file never
overwrites what an operator changed through the API ("the API wins").

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE registry.topic_mapping (
            topic text PRIMARY KEY,
            current_version integer NOT NULL,
            source text NOT NULL CHECK (source IN ('file', 'api')),
            updated_at timestamptz NOT NULL DEFAULT now(),
            updated_by text NOT NULL
        )
        """
    )
    op.execute(
        """
        CREATE TABLE registry.topic_mapping_version (
            topic text NOT NULL REFERENCES registry.topic_mapping (topic),
            version integer NOT NULL,
            definition jsonb,
            source text NOT NULL CHECK (source IN ('file', 'api')),
            created_at timestamptz NOT NULL DEFAULT now(),
            created_by text NOT NULL,
            PRIMARY KEY (topic, version)
        )
        """
    )
    # The exchange's catalog as its events carry it (govhub_common.catalog_events): per
    # topic, every data item it has had; the higher current_version wins.
    op.execute(
        """
        CREATE TABLE registry.catalog_topic (
            topic text PRIMARY KEY,
            current_version integer NOT NULL,
            items text[] NOT NULL,
            learned_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE registry.catalog_topic")
    op.execute("DROP TABLE registry.topic_mapping_version")
    op.execute("DROP TABLE registry.topic_mapping")
