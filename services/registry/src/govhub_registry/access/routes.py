"""The access log through the API: who read a person's data (operators only)."""

from __future__ import annotations

from fastapi import APIRouter

from govhub_common.contract import ProblemCode, problem_responses
from govhub_common.db import SessionDep
from govhub_common.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, decode_cursor, page
from govhub_common.security import Operator
from govhub_registry.access import service
from govhub_registry.access.schemas import AccessLogPublic
from govhub_registry.fields import RicKey, canonical_id
from govhub_registry.subjects import PERSON

router = APIRouter(prefix="/v1")


@router.get(
    "/persons/{id_number}/access-log",
    response_model=Page[AccessLogPublic],
    tags=["persons"],
    summary="Who read this person's data (for a citizen's request)",
    responses=problem_responses(ProblemCode.INVALID_CURSOR),
)
async def list_person_access_log(
    id_number: RicKey,
    session: SessionDep,
    operator: Operator,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[AccessLogPublic]:
    """Every read of the person's data by any agency, oldest first: when, which agency and
    client, which fields it was shown, its purpose and the kind of read. Operators only."""
    key = canonical_id(PERSON, id_number)
    after = decode_cursor(cursor, int)
    rows = await service.access_log(
        session, subject=PERSON, key=key, limit=limit, after=after[0] if after else None
    )
    return page(rows, limit, key=lambda r: (r["id"],), item=lambda r: AccessLogPublic(**r))
