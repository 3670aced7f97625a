"""Every table of the registry's schema, gathered in one metadata: the domains' models
(golden records and what ingest writes beside them, conflicts, matching, the access log,
the topic mappings) and the runtime's outbox, inbox and token revocations. The drift test
compares it with what the migrations build (tests/registry/test_registry_tables.py)."""

from __future__ import annotations

from sqlmodel import SQLModel

from govhub_common.schema_drift import runtime_tables
from govhub_registry.access import models as access_models
from govhub_registry.conflicts import models as conflicts_models
from govhub_registry.ingest import models as ingest_models
from govhub_registry.mappings import models as mappings_models
from govhub_registry.matching import models as matching_models

SCHEMA = "registry"
METADATA = SQLModel.metadata

runtime_tables(METADATA, SCHEMA)

__all__ = [
    "METADATA",
    "SCHEMA",
    "access_models",
    "conflicts_models",
    "ingest_models",
    "mappings_models",
    "matching_models",
]
