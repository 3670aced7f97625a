"""Topic mappings through the API: read with `registry:read`, changed by operators."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from govhub_common.contract import ProblemCode, problem_responses
from govhub_common.db import SessionDep
from govhub_common.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, decode_cursor, page
from govhub_common.problems import not_found
from govhub_common.security import Operator
from govhub_registry.deps import Reader
from govhub_registry.fields import TOPIC_CODE
from govhub_registry.ingest.mapping import TopicMapping
from govhub_registry.mappings import service
from govhub_registry.mappings.schemas import MappingCreate, MappingPublic, MappingVersion

router = APIRouter(prefix="/v1/mappings", tags=["mappings"])
TopicPath = Annotated[str, Path(pattern=TOPIC_CODE, description="The exchange topic's code.")]
_WRITE = (ProblemCode.HTTP_ERROR, ProblemCode.UNKNOWN_REFERENCE)


def _public(stored: service.StoredMapping) -> MappingPublic:
    return MappingPublic(
        topic=stored.topic,
        version=stored.version,
        source=stored.source,
        updated_at=stored.updated_at,
        updated_by=stored.updated_by,
        definition=stored.definition,
    )


@router.get(
    "",
    response_model=Page[MappingPublic],
    summary="List topic mappings",
    responses=problem_responses(ProblemCode.INVALID_CURSOR),
)
async def list_mappings(
    session: SessionDep, principal: Reader, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Page[MappingPublic]:
    """Every topic the registry maps, by topic code, with its current version."""
    after = decode_cursor(cursor, str)
    rows = await service.mappings_after(session, after=after[0] if after else None, limit=limit + 1)
    return page(rows, limit, key=lambda stored: (stored.topic,), item=_public)


@router.post(
    "",
    status_code=201,
    response_model=MappingPublic,
    summary="Map a topic to persons or legal entities",
    responses=problem_responses(*_WRITE, ProblemCode.CONFLICT),
)
async def create_mapping(
    body: MappingCreate, session: SessionDep, operator: Operator
) -> MappingPublic:
    """Store the topic's mapping as its version 1 (or the next version after a removal). The
    topic and every data item it names must be in the exchange's catalog, which the registry
    learns from the exchange's events the moment a topic is created or versioned
    (`unknown_reference`, naming each field). Records of the topic ingested from now on are
    mapped; records ingested before are not re-read."""
    rule = TopicMapping.model_validate(body.model_dump(exclude={"topic"}))
    await service.check_against_catalog(session, topic=body.topic, rule=rule, topic_path="$.topic")
    return _public(
        await service.create_mapping(session, topic=body.topic, rule=rule, actor=operator.actor)
    )


@router.get("/{topic}", response_model=MappingPublic, summary="Get a topic's mapping")
async def get_mapping(topic: TopicPath, session: SessionDep, principal: Reader) -> MappingPublic:
    """The topic's current mapping (404 when the topic is not mapped)."""
    return _public(await service.get_mapping(session, topic=topic))


@router.put(
    "/{topic}",
    response_model=MappingPublic,
    summary="Change a topic's mapping (a new version)",
    responses=problem_responses(*_WRITE),
)
async def update_mapping(
    topic: TopicPath, body: TopicMapping, session: SessionDep, operator: Operator
) -> MappingPublic:
    """Store the mapping sent as the topic's next version, checked against the catalog as
    on creation. It applies to records ingested after the change; golden records built from
    earlier records keep what they were given. A version stored through the API is not
    overwritten by the mapping file at the next start."""
    await service.check_against_catalog(session, topic=topic, rule=body, topic_path="path:$.topic")
    return _public(
        await service.update_mapping(session, topic=topic, rule=body, actor=operator.actor)
    )


@router.delete("/{topic}", status_code=204, summary="Stop mapping a topic")
async def remove_mapping(topic: TopicPath, session: SessionDep, operator: Operator) -> Response:
    """Records of the topic ingested from now on no longer feed the registry (the removal
    is a version of its own, and the mapping file does not bring the mapping back); what
    earlier records gave stays."""
    await service.remove_mapping(session, topic=topic, actor=operator.actor)
    return Response(status_code=204)


@router.get(
    "/{topic}/versions",
    response_model=Page[MappingVersion],
    summary="List a topic mapping's versions",
    responses=problem_responses(ProblemCode.INVALID_CURSOR),
)
async def list_mapping_versions(
    topic: TopicPath,
    session: SessionDep,
    principal: Reader,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[MappingVersion]:
    """Every version of the topic's mapping, oldest first, removals included (definition
    null), each with where it came from (the file or the API) and who stored it."""
    after = decode_cursor(cursor, int)
    rows = await service.mapping_versions(
        session, topic=topic, after=after[0] if after else None, limit=limit + 1
    )
    if not rows and after is None:
        raise not_found("mapping of topic", topic)
    return page(rows, limit, key=lambda row: (row["version"],), item=MappingVersion.model_validate)
