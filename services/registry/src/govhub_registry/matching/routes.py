"""Matching through the API: the review queue operators resolve, and every decision kept
(operators only)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from govhub_common.contract import ProblemCode, problem_responses
from govhub_common.db import SessionDep
from govhub_common.inputs import BIGINT_MAX
from govhub_common.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, decode_cursor, page
from govhub_common.security import Operator
from govhub_registry.deps import Context, MappingDep
from govhub_registry.fields import TopicFilter
from govhub_registry.matching import review, service
from govhub_registry.matching.schemas import (
    MatchDecisionPublic,
    ReviewLink,
    ReviewPublic,
    ReviewResolve,
)

router = APIRouter(prefix="/v1", tags=["matching"])


@router.get(
    "/review-queue",
    response_model=Page[ReviewPublic],
    summary="Records awaiting a match decision",
    responses=problem_responses(ProblemCode.INVALID_CURSOR),
)
async def list_review_queue(
    session: SessionDep,
    operator: Operator,
    status: Annotated[
        Literal["pending", "linked", "rejected"], Query(description="Default: the pending ones.")
    ] = "pending",
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[ReviewPublic]:
    """Records that carry no ID the registry knows but might be a registered subject (a
    close name and birth date, ...), oldest first, with their candidates and scores.
    Operators only."""
    after = decode_cursor(cursor, int)
    rows = await review.list_reviews(
        session, status=status, limit=limit, after=after[0] if after else None
    )
    return page(rows, limit, key=lambda r: (r["id"],), item=lambda r: ReviewPublic(**r))


@router.post(
    "/review-queue/{review_id}/resolve",
    response_model=ReviewPublic,
    summary="Link a record to a subject, or reject the match",
    responses=problem_responses(
        ProblemCode.HTTP_ERROR,
        ProblemCode.NOT_FOUND,
        ProblemCode.REVIEW_NOT_PENDING,
        ProblemCode.VALIDATION_FAILED,
        ProblemCode.UNMAPPABLE,
    ),
)
async def resolve_review(
    review_id: Annotated[int, Path(ge=1, le=BIGINT_MAX)],
    body: ReviewResolve,
    session: SessionDep,
    operator: Operator,
    mapping: MappingDep,
    ctx: Context,
) -> ReviewPublic:
    """`link` applies the record to the subject `id` names (404 `not_found` when there is no
    such subject; 422 `unmappable` when the record then cannot be mapped); `reject` keeps
    it as an unmapped record. Either way the decision is recorded; 409
    `review_not_pending` when the review was already decided."""
    decision = body.root
    row = await review.resolve_review(
        session,
        review_id=review_id,
        decision=decision.decision,
        linked_id=decision.id.strip().upper() if isinstance(decision, ReviewLink) else None,
        resolved_by=operator.actor,
        mapping=mapping,
        now=ctx.clock.stamp(),
    )
    return ReviewPublic(**row)


@router.get(
    "/match-decisions",
    response_model=Page[MatchDecisionPublic],
    summary="Every matching decision, automatic or by an operator",
    responses=problem_responses(ProblemCode.INVALID_CURSOR),
)
async def list_match_decisions(
    session: SessionDep,
    operator: Operator,
    topic: TopicFilter = None,
    seq: Annotated[
        int | None, Query(ge=1, le=BIGINT_MAX, description="Only the record with this seq.")
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[MatchDecisionPublic]:
    """How each record without a known ID was matched, oldest first: linked automatically,
    sent to review, no match, or linked or rejected by an operator, with the score and
    candidates. Operators only."""
    after = decode_cursor(cursor, int)
    rows = await service.list_decisions(
        session, topic=topic, seq=seq, limit=limit, after=after[0] if after else None
    )
    return page(rows, limit, key=lambda r: (r["id"],), item=lambda r: MatchDecisionPublic(**r))
