"""/console/catalog: search over the catalog's topics and data items."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from govhub_console.catalog import service
from govhub_console.ops.service import Ops

router = APIRouter(prefix="/catalog", include_in_schema=False)


@router.get("")
async def catalog(
    api: Ops,
    q: Annotated[str, Query(max_length=200)] = "",
    kind: Literal["topics", "items"] | None = None,
    cursor: str | None = None,
) -> Response:
    return await api.show("catalog/search.html", service.search(api, q=q, kind=kind, cursor=cursor))
