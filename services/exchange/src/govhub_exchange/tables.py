"""Every table of the exchange schema, gathered in one metadata: the domains' models (the
agencies and their clients, the catalog, the subscriptions, the exchange log with its
quarantine and publish batches, the webhook deliveries, the audit log, the data-quality figures) and the runtime's
outbox, inbox and token revocations. The drift test compares it with what the migrations
build (tests/exchange/test_exchange_tables.py)."""

from __future__ import annotations

from sqlmodel import SQLModel

from govhub_common.schema_drift import runtime_tables
from govhub_exchange.audit import models as audit_models
from govhub_exchange.catalog import models as catalog_models
from govhub_exchange.delivery import models as delivery_models
from govhub_exchange.identity import models as identity_models
from govhub_exchange.publishing import models as publishing_models
from govhub_exchange.quality import models as quality_models
from govhub_exchange.subscriptions import models as subscriptions_models

SCHEMA = "exchange"
METADATA = SQLModel.metadata

runtime_tables(METADATA, SCHEMA)

__all__ = [
    "METADATA",
    "SCHEMA",
    "audit_models",
    "catalog_models",
    "delivery_models",
    "identity_models",
    "publishing_models",
    "quality_models",
    "subscriptions_models",
]
