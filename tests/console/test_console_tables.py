"""The console's models (govhub_console.tables) say what its migrations build."""

from __future__ import annotations

from govhub_common.migrations import upgrade_async
from govhub_common.schema_drift import schema_drift
from govhub_console.app import SERVICE
from govhub_console.tables import METADATA, SCHEMA


async def test_the_models_are_what_the_migrations_build(fresh_db_url: str) -> None:
    await upgrade_async(SERVICE.migrations, fresh_db_url, SERVICE.schema)
    diffs = await schema_drift(fresh_db_url, METADATA, SCHEMA)
    assert diffs == [], "\n".join(map(str, diffs))
