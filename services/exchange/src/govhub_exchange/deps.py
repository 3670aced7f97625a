"""Dependencies shared by the exchange's routes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends

from govhub_common.contract import CATALOGUE, ProblemCode, problem_responses
from govhub_common.pagination import DEFAULT_LIMIT, Cursor, Limit
from govhub_common.runtime import ContextDep, service_settings
from govhub_common.security import Principal, require_scope
from govhub_exchange.settings import ExchangeSettings

__all__ = ["DEFAULT_LIMIT", "Cursor", "Limit", "errors"]

Context = ContextDep
Settings = Annotated[ExchangeSettings, Depends(service_settings)]
Publisher = Annotated[Principal, Depends(require_scope("exchange:publish"))]
Subscriber = Annotated[Principal, Depends(require_scope("exchange:subscribe"))]
CatalogEditor = Annotated[Principal, Depends(require_scope("exchange:catalog"))]
CatalogReader = Annotated[
    Principal,
    Depends(require_scope("exchange:catalog", "exchange:subscribe", "exchange:publish")),
]


def errors(*codes: ProblemCode) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route that can give these codes beyond the standard ones; a 403 or
    422 of its own also keeps the standard code of that status (insufficient_scope,
    validation_failed) in the declaration."""
    listed = list(codes)
    statuses = {CATALOGUE[code][0] for code in listed}
    if 403 in statuses and ProblemCode.INSUFFICIENT_SCOPE not in listed:
        listed.insert(0, ProblemCode.INSUFFICIENT_SCOPE)
    if 422 in statuses and ProblemCode.VALIDATION_FAILED not in listed:
        listed.insert(0, ProblemCode.VALIDATION_FAILED)
    return problem_responses(*listed)
