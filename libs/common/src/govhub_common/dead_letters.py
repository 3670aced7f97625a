"""`/<prefix>/v1/events/dead-letters` (operator): a service's dead-lettered events, with why,
and their re-drive. The same under every service; `govhub events` calls it."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from govhub_common.bus.base import DeadLetter
from govhub_common.contract import ProblemCode, problem_responses
from govhub_common.pagination import MAX_LIMIT
from govhub_common.problems import Problem
from govhub_common.security import Operator

log = logging.getLogger("govhub.events")


class DeadLetterPublic(BaseModel):
    group: str = Field(description="The consumer group whose queue parked it.")
    event_id: str
    type: str | None
    source: str | None
    subject: str | None
    time: datetime | None = Field(description="When the event happened (its CloudEvent time).")
    reason: str = Field(
        description="Why it was parked: the consumer's last error, or the broker's."
    )
    attempts: int | None = Field(description="How many times it was tried, where known.")
    dead_lettered_at: datetime | None
    size_bytes: int


class DeadLetterPage(BaseModel):
    data: list[DeadLetterPublic]
    total: int = Field(description="Dead letters waiting in the groups asked for.")
    next: None = Field(
        None,
        description="Always null: a queue has no stable positions to page through; "
        "raise limit, or re-drive and list again.",
    )


GroupName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        pattern=r"^[a-z][a-z0-9_-]*\.[a-z][a-z0-9_.-]*$",
        description="The consumer group, `<service>.<consumer>`, e.g. registry.records.",
    ),
]


class RedriveEvents(BaseModel):
    """Re-drive these events of the group."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"group": "registry.records", "event_ids": ["7d1c..."]}]},
    )

    group: GroupName
    event_ids: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=MAX_LIMIT
    )


class RedriveAll(BaseModel):
    """Re-drive every dead letter of the group."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"group": "registry.records", "all": True}]}
    )

    group: GroupName
    all: Literal[True]


RedriveRequest = RedriveEvents | RedriveAll


class RedriveResult(BaseModel):
    group: str
    redriven: int = Field(description="Events given to the group's consumers again.")
    remaining: int = Field(description="Dead letters the group still has.")


def _public(letter: DeadLetter) -> DeadLetterPublic:
    return DeadLetterPublic.model_validate(letter, from_attributes=True)


def dead_letters_router(spec: Any) -> APIRouter:
    router = APIRouter(prefix="/v1/events/dead-letters", tags=["events"])

    def groups_of(request: Request, group: str | None) -> list[str]:
        groups: list[str] = request.app.state.runtime.groups.get(spec.name, [])
        if group is None:
            return groups
        if group not in groups:
            raise Problem(
                ProblemCode.NOT_FOUND,
                f"consumer group {group} does not exist in {spec.name}; "
                f"its groups: {', '.join(groups) or 'none'}",
            )
        return [group]

    @router.get(
        "",
        summary="Dead-lettered events of this service's consumers, with why",
        responses=problem_responses(ProblemCode.NOT_FOUND),
    )
    async def list_event_dead_letters(
        request: Request,
        operator: Operator,
        group: Annotated[
            str | None,
            Query(max_length=200, description="One consumer group (default: all of them)."),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    ) -> DeadLetterPage:
        bus = request.app.state.runtime.bus
        letters: list[DeadLetter] = []
        total = 0
        for name in groups_of(request, group):
            total += await bus.dead_letter_count(name)
            if len(letters) < limit:
                letters += await bus.dead_letters(name, limit=limit - len(letters))
        return DeadLetterPage(data=[_public(letter) for letter in letters], total=total)

    @router.post(
        "/redrive",
        summary="Give dead-lettered events to their consumers again",
        responses=problem_responses(ProblemCode.NOT_FOUND),
    )
    async def redrive_event_dead_letters(
        request: Request, operator: Operator, body: RedriveRequest
    ) -> RedriveResult:
        (group,) = groups_of(request, body.group)
        bus = request.app.state.runtime.bus
        moved = await bus.redrive(
            group, body.event_ids if isinstance(body, RedriveEvents) else None
        )
        log.warning("operator %s re-drove %d dead letters of %s", operator.agency, moved, group)
        return RedriveResult(
            group=group, redriven=moved, remaining=await bus.dead_letter_count(group)
        )

    return router
