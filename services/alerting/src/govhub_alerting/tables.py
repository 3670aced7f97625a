"""Every table of the alerting schema, gathered in one metadata: the domains' models (the
rules and known topics, the engine's records, facts, timers, registry contacts and reminders,
the warnings and silences, the agencies' grants) and the runtime's outbox, inbox and token revocations. The drift
test compares it with what the migrations build (tests/alerting/test_alerting_tables.py)."""

from __future__ import annotations

from sqlmodel import SQLModel

from govhub_alerting.access import models as access_models
from govhub_alerting.engine import models as engine_models
from govhub_alerting.rules import models as rules_models
from govhub_alerting.warnings import models as warnings_models
from govhub_common.schema_drift import runtime_tables

SCHEMA = "alerting"
METADATA = SQLModel.metadata

runtime_tables(METADATA, SCHEMA)

# Imported for what importing them does: each adds its tables to METADATA.
__all__ = [
    "METADATA",
    "SCHEMA",
    "access_models",
    "engine_models",
    "rules_models",
    "warnings_models",
]
