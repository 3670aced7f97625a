"""/console/topics: the agency's own topics, one topic with its data items, versions and
quarantined records, and one schema version."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response

from govhub_console.ops.service import Ops
from govhub_console.topics import service

router = APIRouter(prefix="/topics", include_in_schema=False)

Code = Annotated[str, Path(max_length=64)]
Version = Annotated[int, Path(ge=1, le=1_000_000)]


@router.get("")
async def topics(api: Ops, cursor: str | None = None) -> Response:
    return await api.show("topics/list.html", service.topic_list(api, cursor=cursor))


@router.get("/{code}")
async def topic(api: Ops, code: Code, cursor: str | None = None) -> Response:
    return await api.show("topics/topic.html", service.topic_page(api, code=code, cursor=cursor))


@router.get("/{code}/versions/{version}")
async def version(api: Ops, code: Code, version: Version) -> Response:
    return await api.show(
        "topics/version.html", service.version_page(api, code=code, version=version)
    )
