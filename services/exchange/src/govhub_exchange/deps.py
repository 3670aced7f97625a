"""Dependencies shared by the exchange's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from govhub_common.pagination import DEFAULT_LIMIT, Cursor, Limit
from govhub_common.runtime import ContextDep, service_settings
from govhub_common.security import Principal, require_scope
from govhub_exchange.settings import ExchangeSettings

__all__ = ["DEFAULT_LIMIT", "Cursor", "Limit"]

Context = ContextDep
Settings = Annotated[ExchangeSettings, Depends(service_settings)]
Publisher = Annotated[Principal, Depends(require_scope("exchange:publish"))]
Subscriber = Annotated[Principal, Depends(require_scope("exchange:subscribe"))]
CatalogEditor = Annotated[Principal, Depends(require_scope("exchange:catalog"))]
CatalogReader = Annotated[
    Principal,
    Depends(require_scope("exchange:catalog", "exchange:subscribe", "exchange:publish")),
]
# A scorecard is the agency's (docs/quality.md): its stewards and integrations read it, and
# its case officers, whose follow-up of warnings it measures.
ScorecardReader = Annotated[
    Principal,
    Depends(
        require_scope("exchange:catalog", "exchange:subscribe", "exchange:publish", "alerting:read")
    ),
]
