"""Every table of the sms schema, gathered in one metadata: the service's own models (each
domain's models.py) and the runtime's outbox, inbox and token_revocations. The drift test
compares it with what the migrations build (tests/sms/test_sms_tables.py)."""

from __future__ import annotations

from sqlmodel import SQLModel

from govhub_common.schema_drift import runtime_tables

# Imported for what importing them does: each adds its tables to SQLModel.metadata.
from govhub_sms.messages import models as messages_models  # noqa: F401
from govhub_sms.optouts import models as optouts_models  # noqa: F401
from govhub_sms.templates import models as templates_models  # noqa: F401

SCHEMA = "sms"
METADATA = SQLModel.metadata

runtime_tables(METADATA, SCHEMA)
