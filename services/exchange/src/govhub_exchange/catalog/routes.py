"""The data catalog: topics, versions, data items."""

from __future__ import annotations

from fastapi import APIRouter

from govhub_common.contract import ProblemCode, problem_responses
from govhub_common.db import SessionDep
from govhub_common.pagination import Page, decode_cursor, page
from govhub_exchange.catalog import service
from govhub_exchange.catalog.schemas import (
    DataItemPublic,
    Sensitivity,
    SharingType,
    TopicCreate,
    TopicDetail,
    TopicPublic,
    TopicUpdate,
    TopicVersion,
    TopicVersionCreate,
)
from govhub_exchange.deps import DEFAULT_LIMIT, CatalogEditor, CatalogReader, Cursor, Limit
from govhub_exchange.fields import AgencyQuery, TextQuery, TopicPath, TopicQuery, VersionPath

router = APIRouter(prefix="/v1", tags=["catalog"])


@router.post(
    "/topics",
    status_code=201,
    response_model=TopicDetail,
    summary="Create a topic",
    responses=problem_responses(
        ProblemCode.FORBIDDEN,
        ProblemCode.TOPIC_EXISTS,
        ProblemCode.UNKNOWN_AGENCY,
        ProblemCode.INVALID_TOPIC_SCHEMA,
    ),
)
async def create_topic(body: TopicCreate, session: SessionDep, who: CatalogEditor) -> TopicDetail:
    """A topic of the catalog (信息资源目录): its record schema (version 1), whose properties
    are the data items, and its sharing type. The caller's agency owns it (operators may
    name another owner). A taken code is a 409 `topic_exists`."""
    return await service.create_topic(session, who=who, body=body)


@router.get(
    "/topics",
    response_model=Page[TopicPublic],
    summary="List topics",
    responses=problem_responses(ProblemCode.INVALID_CURSOR),
)
async def list_topics(
    session: SessionDep,
    who: CatalogReader,
    q: TextQuery = None,
    owner: AgencyQuery = None,
    sharing_type: SharingType | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[TopicPublic]:
    """The catalog's topics in the order of their codes; `q` searches code, title and
    description, `owner` and `sharing_type` filter."""
    key = decode_cursor(cursor, str)
    rows = await service.list_topics(
        session,
        q=q,
        owner=owner,
        sharing_type=sharing_type,
        after=key[0] if key else "",
        limit=limit + 1,
    )
    return page(rows, limit, key=lambda t: (t.code,), item=lambda t: t)


@router.get("/topics/{code}", response_model=TopicDetail, summary="Get a topic")
async def get_topic(code: TopicPath, session: SessionDep, who: CatalogReader) -> TopicDetail:
    """A topic with its current schema and data items."""
    return await service.get_topic(session, code=code)


@router.patch(
    "/topics/{code}",
    response_model=TopicDetail,
    summary="Update a topic",
    responses=problem_responses(ProblemCode.FORBIDDEN, ProblemCode.CONFLICT),
)
async def update_topic(
    code: TopicPath, body: TopicUpdate, session: SessionDep, who: CatalogEditor
) -> TopicDetail:
    """Change a topic's title, description or sharing type (its owner or an operator); a
    topic that is not shared needs a legal basis (409 `conflict` when the change would leave
    it without one)."""
    return await service.update_topic(session, who=who, code=code, body=body)


@router.post(
    "/topics/{code}/versions",
    status_code=201,
    response_model=TopicDetail,
    summary="Add a schema version to a topic",
    responses=problem_responses(
        ProblemCode.FORBIDDEN,
        ProblemCode.INVALID_TOPIC_SCHEMA,
        ProblemCode.INCOMPATIBLE_SCHEMA_VERSION,
    ),
)
async def add_topic_version(
    code: TopicPath, body: TopicVersionCreate, session: SessionDep, who: CatalogEditor
) -> TopicDetail:
    """A new version of the topic's record schema, which becomes current. It may add data
    items; dropping or retyping one that subscribers rely on is a 422
    `incompatible_schema_version`."""
    return await service.add_version(session, who=who, code=code, schema=body.json_schema)


@router.get(
    "/topics/{code}/versions/{version}",
    response_model=TopicVersion,
    summary="Get a topic's schema version",
)
async def get_topic_version(
    code: TopicPath, version: VersionPath, session: SessionDep, who: CatalogReader
) -> TopicVersion:
    """The JSON Schema of one version of a topic (records name the version they were
    published under as `topic_version`)."""
    schema = await service.topic_schema(session, code=code, version=version)
    return TopicVersion(topic=code, version=version, json_schema=schema)


@router.get(
    "/data-items",
    response_model=Page[DataItemPublic],
    summary="List data items",
    responses=problem_responses(ProblemCode.INVALID_CURSOR),
)
async def list_data_items(
    session: SessionDep,
    who: CatalogReader,
    q: TextQuery = None,
    topic: TopicQuery = None,
    personal: bool | None = None,
    sensitivity: Sensitivity | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[DataItemPublic]:
    """Data items (信息项) across topics, in the order of topic and name; `q` searches name
    and title, the others filter."""
    key = decode_cursor(cursor, str, str)
    items = await service.list_items(
        session,
        q=q,
        topic=topic,
        personal=personal,
        sensitivity=sensitivity,
        after=(key[0], key[1]) if key else ("", ""),
        limit=limit + 1,
    )
    return page(items, limit, key=lambda i: (i.topic, i.name), item=lambda i: i)
