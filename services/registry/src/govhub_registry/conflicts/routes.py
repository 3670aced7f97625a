"""Conflicts between agencies through the API (operators only)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from govhub_common.contract import ProblemCode, problem_responses
from govhub_common.db import SessionDep
from govhub_common.inputs import BIGINT_MAX
from govhub_common.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, decode_cursor, page
from govhub_common.security import Operator
from govhub_registry.conflicts import service
from govhub_registry.conflicts.schemas import ConflictPublic, ConflictSettle
from govhub_registry.deps import Context
from govhub_registry.fields import SUBJECT_ID

router = APIRouter(prefix="/v1", tags=["conflicts"])


@router.get(
    "/conflicts",
    response_model=Page[ConflictPublic],
    summary="Conflicts between agencies",
    responses=problem_responses(ProblemCode.INVALID_CURSOR),
)
async def list_conflicts(
    session: SessionDep,
    operator: Operator,
    status: Annotated[
        Literal["open", "settled", "resolved"], Query(description="Default: the open ones.")
    ] = "open",
    subject_kind: Annotated[Literal["legal_entity", "person"] | None, Query()] = None,
    subject_id: Annotated[
        str | None, Query(pattern=SUBJECT_ID, description="A USCC or resident ID.")
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[ConflictPublic]:
    """Attributes on which agencies' current values disagree, oldest first, each with every
    agency's claim. A conflict is `resolved` when the agencies come to agree, `settled`
    when an operator has dealt with it. Operators only."""
    after = decode_cursor(cursor, int)
    rows = await service.list_conflicts(
        session,
        status=status,
        subject_kind=subject_kind,
        subject_id=subject_id,
        limit=limit,
        after=after[0] if after else None,
    )
    return page(rows, limit, key=lambda r: (r["id"],), item=lambda r: ConflictPublic(**r))


@router.post(
    "/conflicts/{conflict_id}/settle",
    response_model=ConflictPublic,
    summary="Mark a conflict settled (an operator has dealt with it)",
    responses=problem_responses(ProblemCode.HTTP_ERROR, ProblemCode.CONFLICT_NOT_OPEN),
)
async def settle_conflict(
    conflict_id: Annotated[int, Path(ge=1, le=BIGINT_MAX)],
    body: ConflictSettle,
    session: SessionDep,
    operator: Operator,
    ctx: Context,
) -> ConflictPublic:
    """Closes an open conflict with the operator's note (e.g. the agency that was wrong has
    been asked to correct its record); 409 `conflict_not_open` when it is not open."""
    row = await service.settle_conflict(
        session,
        conflict_id=conflict_id,
        settled_by=operator.actor,
        note=body.note,
        now=ctx.clock.stamp(),
    )
    return ConflictPublic(**row)
