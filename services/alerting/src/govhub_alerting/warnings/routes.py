"""Warnings as cases, and silences."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from govhub_alerting.access.service import shown_warnings
from govhub_alerting.deps import Context, Reader, Worker
from govhub_alerting.fields import NO_NUL, Day, WarningIdPath
from govhub_alerting.warnings import service
from govhub_alerting.warnings.schemas import (
    HistoryEntry,
    ReminderPublic,
    SilenceCreate,
    SilencePublic,
    TransitionCreate,
    WarningDetail,
    WarningPublic,
)
from govhub_common.contract import ProblemCode, problem_responses
from govhub_common.db import SessionDep
from govhub_common.identifiers import mask_mobile
from govhub_common.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, decode_cursor, page
from govhub_common.problems import Problem
from govhub_common.security import Principal

router = APIRouter(prefix="/v1", tags=["warnings"])


async def _shown(session: SessionDep, principal: Principal, row: Any) -> dict[str, Any]:
    """The warning with the evidence the caller may see (access/service.py)."""
    (shown,) = await shown_warnings(session, principal=principal, rows=[row])
    return shown


def _reminder(row: Any) -> ReminderPublic:
    return ReminderPublic.model_validate({**row._mapping, "recipient": mask_mobile(row.recipient)})


# A newest-first page's cursor says so: a cursor of the other order is refused, not misread.
_NEWEST = "newest"


def _silence(row: Any) -> SilencePublic:
    return SilencePublic.model_validate(dict(row._mapping))


@router.get(
    "/warnings",
    response_model=Page[WarningPublic],
    summary="List warnings",
    responses=problem_responses(
        ProblemCode.INVALID_CURSOR, ProblemCode.INSUFFICIENT_SCOPE, ProblemCode.FORBIDDEN
    ),
)
async def list_warnings(
    session: SessionDep,
    principal: Reader,
    rule: Annotated[str | None, Query(pattern=NO_NUL, description="Raised by this rule.")] = None,
    status: Annotated[
        Literal["open", "investigating", "resolved"] | None, Query(description="In this status.")
    ] = None,
    agency: Annotated[
        str | None,
        Query(
            pattern=NO_NUL,
            description="Assigned to this agency (operators; an agency may name only itself).",
        ),
    ] = None,
    subject: Annotated[
        str | None,
        Query(
            pattern=NO_NUL,
            description="About exactly this subject: a USCC or ID number, or for a duplicate "
            "rule the key and each `same` field joined by `/` (`household/item`).",
        ),
    ] = None,
    subject_key: Annotated[
        str | None,
        Query(
            pattern=NO_NUL,
            description="About this key: the subject of absence and contradiction warnings, "
            "the part before `/` of duplicate warnings (a household: all its items).",
        ),
    ] = None,
    raised_from: Annotated[
        Day | None, Query(alias="from", description="Raised on or after this business date.")
    ] = None,
    raised_to: Annotated[
        Day | None, Query(alias="to", description="Raised on or before this business date.")
    ] = None,
    order: Annotated[
        Literal["oldest", "newest"],
        Query(
            description="`oldest` first (the queue's order, by when raised) or `newest` first. "
            "A page's `next` continues in the same order; a cursor of the other order is "
            "`invalid_cursor`."
        ),
    ] = "oldest",
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[WarningPublic]:
    """The warnings the caller may see, oldest first (or newest first, `order=newest`): an
    agency sees those assigned to it (naming another agency is `forbidden`), operators see
    all. Dates are business dates (Asia/Shanghai) of when the warning was raised; a warning's
    age is `raised_at`'s. Each warning's evidence is what the caller may see of it: of
    another agency's record only the items its grants allow, personal ones masked (as in
    `GET /warnings/{id}`)."""
    newest = order == "newest"
    if newest:
        after = decode_cursor(cursor, int, str)
        if after is not None and after[1] != _NEWEST:
            raise Problem(
                ProblemCode.INVALID_CURSOR,
                "cursor is not one this list gave; pass a previous page's `next`, or omit it",
                errors=[{"path": "query:$.cursor", "message": "not a cursor of this list"}],
            )
    else:
        after = decode_cursor(cursor, int)
    rows = await service.list_warnings(
        session,
        agency=service.visible_agency(principal, agency),
        rule_id=rule,
        status=status,
        raised_from=raised_from,
        raised_to=raised_to,
        subject=subject,
        subject_key=subject_key,
        after=after[0] if after else None,
        limit=limit + 1,
        newest_first=newest,
    )
    shown = await shown_warnings(session, principal=principal, rows=rows)
    return page(
        shown,
        limit,
        key=lambda w: (w["id"], _NEWEST) if newest else (w["id"],),
        item=WarningPublic.model_validate,
    )


@router.get("/warnings/{warning_id}", response_model=WarningDetail, summary="Get a warning")
async def get_warning(
    warning_id: WarningIdPath, session: SessionDep, principal: Reader
) -> WarningDetail:
    """The warning with its evidence, its history (oldest move first) and the SMS reminders
    sent before it with their delivery status. Another agency's warning answers 404, so ids
    reveal nothing.

    **Evidence**: of a record another agency published, the caller's agency sees only the
    data items of its approved subscriptions to the record's topic (the rest are named in
    `withheld`), and the items the catalog marks personal masked (named in `masked`); of its
    own records, everything. Operators see every item, personal ones masked. The subject is
    always shown. **Reminders**: the recipient masked; `status` as the SMS gateway last
    reported it (null until it does)."""
    row = await service.get_warning(session, warning_id=warning_id, principal=principal)
    entries = await service.history(session, warning_id=warning_id)
    sent = await service.reminders(session, warning=row)
    return WarningDetail.model_validate(
        {
            **await _shown(session, principal, row),
            "history": [HistoryEntry.model_validate(dict(e._mapping)) for e in entries],
            "reminders": [_reminder(r) for r in sent],
        }
    )


@router.post(
    "/warnings/{warning_id}/transitions",
    response_model=WarningPublic,
    summary="Move a warning to another status",
    responses=problem_responses(ProblemCode.HTTP_ERROR, ProblemCode.INVALID_TRANSITION),
)
async def transition_warning(
    warning_id: WarningIdPath,
    body: TransitionCreate,
    session: SessionDep,
    principal: Worker,
    ctx: Context,
) -> WarningPublic:
    """Work the warning as a case: open -> investigating -> resolved, or back from
    investigating to open. Resolving needs a `resolution` (and only resolving takes one); a
    resolved warning is final (`invalid_transition`). Each move is kept in the warning's
    history; resolving emits `alerting.warning.resolved`. The assigned agency or an
    operator may move it."""
    row = await service.transition(
        session,
        warning_id=warning_id,
        principal=principal,
        status=body.status,
        resolution=body.resolution,
        note=body.note,
        now=ctx.clock.now(),
    )
    return WarningPublic.model_validate(await _shown(session, principal, row))


@router.post(
    "/silences",
    status_code=201,
    response_model=SilencePublic,
    summary="Silence a rule for a subject",
    responses=problem_responses(
        ProblemCode.HTTP_ERROR,
        ProblemCode.INSUFFICIENT_SCOPE,
        ProblemCode.FORBIDDEN,
        ProblemCode.NOT_FOUND,
    ),
)
async def create_silence(
    body: SilenceCreate, session: SessionDep, principal: Worker
) -> SilencePublic:
    """Hold back the warnings a rule would raise about one subject up to a date (an
    extension granted, say). Operators, and the agency the rule is assigned to, may set
    one; a rule that does not exist answers 404."""
    row = await service.create_silence(
        session,
        principal=principal,
        rule_id=body.rule_id,
        subject=body.subject,
        until=body.until,
        reason=body.reason,
    )
    return _silence(row)


@router.get(
    "/silences",
    response_model=Page[SilencePublic],
    summary="List silences",
    responses=problem_responses(ProblemCode.INVALID_CURSOR),
)
async def list_silences(
    session: SessionDep,
    principal: Reader,
    rule: Annotated[str | None, Query(pattern=NO_NUL, description="Of this rule.")] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[SilencePublic]:
    """The silences the caller may see, oldest first: an agency sees those of the rules
    assigned to it, operators see all."""
    after = decode_cursor(cursor, int)
    rows = await service.list_silences(
        session,
        principal=principal,
        rule_id=rule,
        after=after[0] if after else None,
        limit=limit + 1,
    )
    return page(rows, limit, key=lambda row: (row.id,), item=_silence)
