"""Dependencies shared by the exchange's routes."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request

from govhub_common.runtime import ServiceContext
from govhub_common.security import Principal, require_scope
from govhub_exchange.settings import ExchangeSettings

T = TypeVar("T")


def context(request: Request) -> ServiceContext:
    return request.app.state.context


def settings(request: Request) -> ExchangeSettings:
    return request.app.state.settings


def state(request: Request) -> dict[str, Any]:
    return request.app.state.context.state


Context = Annotated[ServiceContext, Depends(context)]
Settings = Annotated[ExchangeSettings, Depends(settings)]
Publisher = Annotated[Principal, Depends(require_scope("exchange:publish"))]
Subscriber = Annotated[Principal, Depends(require_scope("exchange:subscribe"))]
CatalogEditor = Annotated[Principal, Depends(require_scope("exchange:catalog"))]
CatalogReader = Annotated[
    Principal,
    Depends(require_scope("exchange:catalog", "exchange:subscribe", "exchange:publish")),
]
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size.")]
