"""The exchange's models (govhub_exchange.tables) say what its migrations build: Alembic's
autogenerate and PostgreSQL's catalogue find nothing that differs between the two."""

from __future__ import annotations

from govhub_common.migrations import upgrade_async
from govhub_common.schema_drift import schema_drift
from govhub_exchange.app import SERVICE
from govhub_exchange.tables import METADATA, SCHEMA


async def test_the_models_are_what_the_migrations_build(fresh_db_url: str) -> None:
    await upgrade_async(SERVICE.migrations, fresh_db_url, SERVICE.schema)
    diffs = await schema_drift(fresh_db_url, METADATA, SCHEMA)
    assert diffs == [], "\n".join(map(str, diffs))
