"""Every table of the console schema in one metadata: the accounts, sessions and pending
sign-ins, and the runtime's outbox, inbox and token revocations. The drift test compares it
with what the migrations build (tests/console/test_console_tables.py)."""

from __future__ import annotations

from sqlmodel import SQLModel

from govhub_common.schema_drift import runtime_tables
from govhub_console.accounts import models as accounts_models
from govhub_console.auth import models as auth_models

SCHEMA = "console"
METADATA = SQLModel.metadata

runtime_tables(METADATA, SCHEMA)

# Imported for what importing them does: each adds its tables to METADATA.
__all__ = ["METADATA", "SCHEMA", "accounts_models", "auth_models"]
