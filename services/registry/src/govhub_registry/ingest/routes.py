"""What ingest could not use, through the API (operators only)."""

from __future__ import annotations

from fastapi import APIRouter

from govhub_common.contract import ProblemCode, problem_responses
from govhub_common.db import SessionDep
from govhub_common.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, decode_cursor, page
from govhub_common.security import Operator
from govhub_registry.fields import TopicFilter
from govhub_registry.ingest import service
from govhub_registry.ingest.schemas import UnmappedPublic

router = APIRouter(prefix="/v1", tags=["ingest"])


@router.get(
    "/unmapped-records",
    response_model=Page[UnmappedPublic],
    summary="Records the registry could not use, with the reason",
    responses=problem_responses(ProblemCode.INVALID_CURSOR),
)
async def list_unmapped_records(
    session: SessionDep,
    operator: Operator,
    topic: TopicFilter = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[UnmappedPublic]:
    """Published records the registry's mapping could not apply (no valid ID, a required
    item missing, rejected in review, ...), oldest first. Operators only."""
    after = decode_cursor(cursor, int)
    rows = await service.list_unmapped(
        session, topic=topic, limit=limit, after=after[0] if after else None
    )
    return page(rows, limit, key=lambda r: (r["id"],), item=lambda r: UnmappedPublic(**r))
