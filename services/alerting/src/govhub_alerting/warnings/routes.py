"""Warnings as cases, and silences."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from govhub_alerting.deps import Context, Reader, Worker
from govhub_alerting.warnings import service
from govhub_alerting.warnings.schemas import (
    HistoryEntry,
    SilenceCreate,
    SilencePublic,
    TransitionCreate,
    WarningDetail,
    WarningPage,
    WarningPublic,
)
from govhub_common.db import SessionDep

router = APIRouter(prefix="/v1", tags=["warnings"])


@router.get("/warnings", response_model=WarningPage)
async def list_warnings(
    session: SessionDep,
    principal: Reader,
    rule: str | None = None,
    status: Literal["open", "investigating", "resolved"] | None = None,
    agency: str | None = None,
    subject: str | None = None,
    raised_from: Annotated[date | None, Query(alias="from")] = None,
    raised_to: Annotated[date | None, Query(alias="to")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> WarningPage:
    rows, next_cursor = await service.list_warnings(
        session,
        agency=service.visible_agency(principal, agency),
        rule_id=rule,
        status=status,
        raised_from=raised_from,
        raised_to=raised_to,
        subject=subject,
        cursor=cursor,
        limit=limit,
    )
    return WarningPage(
        data=[WarningPublic.model_validate(dict(r._mapping)) for r in rows], next=next_cursor
    )


@router.get("/warnings/{warning_id}", response_model=WarningDetail)
async def get_warning(warning_id: int, session: SessionDep, principal: Reader) -> WarningDetail:
    row = await service.get_warning(session, warning_id=warning_id, principal=principal)
    entries = await service.history(session, warning_id=warning_id)
    return WarningDetail.model_validate(
        {
            **row._mapping,
            "history": [HistoryEntry.model_validate(dict(e._mapping)) for e in entries],
        }
    )


@router.post("/warnings/{warning_id}/transitions", response_model=WarningPublic)
async def transition(
    warning_id: int, body: TransitionCreate, session: SessionDep, principal: Worker, ctx: Context
) -> WarningPublic:
    row = await service.transition(
        session,
        warning_id=warning_id,
        principal=principal,
        status=body.status,
        resolution=body.resolution,
        note=body.note,
        now=ctx.clock.now(),
    )
    return WarningPublic.model_validate(dict(row._mapping))


@router.post("/silences", status_code=201, response_model=SilencePublic)
async def create_silence(
    body: SilenceCreate, session: SessionDep, principal: Worker
) -> SilencePublic:
    row = await service.create_silence(
        session,
        principal=principal,
        rule_id=body.rule_id,
        subject=body.subject,
        until=body.until,
        reason=body.reason,
    )
    return SilencePublic.model_validate(dict(row._mapping))


@router.get("/silences")
async def list_silences(
    session: SessionDep, principal: Reader, rule: str | None = None
) -> dict[str, object]:
    rows = await service.list_silences(session, principal=principal, rule_id=rule)
    return {"data": [SilencePublic.model_validate(dict(r._mapping)) for r in rows], "next": None}
