"""`/<prefix>/v1/events/dead-letters` (operator): a service's dead-lettered events, with why,
and their re-drive. The same under every service; `govhub events` calls it."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field, model_validator

from govhub_common.bus.base import DeadLetter
from govhub_common.problems import Problem
from govhub_common.security import Operator

log = logging.getLogger("govhub.events")

MAX_LIMIT = 1000


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


class RedriveRequest(BaseModel):
    group: str = Field(max_length=200, description="The consumer group, e.g. registry.records.")
    event_ids: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(
        None, max_length=MAX_LIMIT, description="The events to re-drive."
    )
    all: bool = Field(False, description="Re-drive every dead letter of the group.")

    @model_validator(mode="after")
    def _one_selection(self) -> RedriveRequest:
        if (self.event_ids is None) == (not self.all):
            raise ValueError("give either event_ids or all=true")
        return self


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
                404,
                "not_found",
                f"consumer group {group} does not exist in {spec.name}; "
                f"its groups: {', '.join(groups) or 'none'}",
            )
        return [group]

    @router.get("", summary="Dead-lettered events of this service's consumers, with why")
    async def list_event_dead_letters(
        request: Request,
        operator: Operator,
        group: Annotated[str | None, Query(max_length=200)] = None,
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

    @router.post("/redrive", summary="Give dead-lettered events to their consumers again")
    async def redrive_event_dead_letters(
        request: Request, operator: Operator, body: RedriveRequest
    ) -> RedriveResult:
        (group,) = groups_of(request, body.group)
        bus = request.app.state.runtime.bus
        moved = await bus.redrive(group, None if body.all else body.event_ids)
        log.warning("operator %s re-drove %d dead letters of %s", operator.agency, moved, group)
        return RedriveResult(
            group=group, redriven=moved, remaining=await bus.dead_letter_count(group)
        )

    return router
