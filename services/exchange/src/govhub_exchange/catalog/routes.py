"""The data catalog: topics, versions, data items."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from govhub_common.db import SessionDep
from govhub_common.problems import Problem
from govhub_exchange.catalog import service
from govhub_exchange.catalog.schemas import (
    SharingType,
    TopicCreate,
    TopicUpdate,
    TopicVersionCreate,
)
from govhub_exchange.deps import CatalogEditor, CatalogReader, Limit

router = APIRouter(prefix="/v1", tags=["catalog"])


def _detail(topic: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(topic.model_dump(mode="json", by_alias=True), status_code=status)


@router.post("/topics", status_code=201)
async def create_topic(body: TopicCreate, session: SessionDep, who: CatalogEditor) -> JSONResponse:
    return _detail(await service.create_topic(session, who=who, body=body), 201)


@router.get("/topics")
async def list_topics(
    session: SessionDep,
    who: CatalogReader,
    q: str | None = None,
    owner: str | None = None,
    sharing_type: SharingType | None = None,
    after: str = "",
    limit: Limit = 100,
) -> dict[str, Any]:
    topics = await service.list_topics(
        session, q=q, owner=owner, sharing_type=sharing_type, after=after, limit=limit
    )
    return {"data": topics, "next": topics[-1].code if len(topics) == limit else None}


@router.get("/topics/{code}")
async def get_topic(code: str, session: SessionDep, who: CatalogReader) -> JSONResponse:
    return _detail(await service.get_topic(session, code=code))


@router.patch("/topics/{code}")
async def update_topic(
    code: str, body: TopicUpdate, session: SessionDep, who: CatalogEditor
) -> JSONResponse:
    return _detail(await service.update_topic(session, who=who, code=code, body=body))


@router.post("/topics/{code}/versions", status_code=201)
async def add_version(
    code: str, body: TopicVersionCreate, session: SessionDep, who: CatalogEditor
) -> JSONResponse:
    return _detail(
        await service.add_version(session, who=who, code=code, schema=body.json_schema),
        201,
    )


@router.get("/topics/{code}/versions/{version}")
async def get_version(
    code: str, version: int, session: SessionDep, who: CatalogReader
) -> dict[str, Any]:
    return {
        "topic": code,
        "version": version,
        "schema": await service.topic_schema(session, code=code, version=version),
    }


@router.get("/data-items")
async def list_data_items(
    session: SessionDep,
    who: CatalogReader,
    q: str | None = None,
    topic: str | None = None,
    personal: bool | None = None,
    sensitivity: str | None = None,
    after: str = "",
    limit: Limit = 100,
) -> dict[str, Any]:
    """Data items across topics; `after` is the `next` of the previous page (topic/name)."""
    if after and "/" not in after:
        raise Problem(
            422,
            "validation_failed",
            "after must be a cursor returned as next",
            errors=[{"path": "query:$.after", "message": "expected <topic>/<item>"}],
        )
    cursor = tuple(after.split("/", 1)) if after else ("", "")
    items = await service.list_items(
        session,
        q=q,
        topic=topic,
        personal=personal,
        sensitivity=sensitivity,
        after=(cursor[0], cursor[1]),
        limit=limit,
    )
    last = items[-1] if len(items) == limit else None
    return {"data": items, "next": f"{last.topic}/{last.name}" if last else None}
