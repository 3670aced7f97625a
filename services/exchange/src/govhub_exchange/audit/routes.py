"""The audit log: search, verification and signed checkpoints (operators)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from govhub_common.contract import ProblemCode, problem_responses
from govhub_common.db import SessionDep
from govhub_common.pagination import Page, decode_cursor, page
from govhub_common.problems import Problem
from govhub_common.security import Operator
from govhub_exchange.audit import service
from govhub_exchange.audit.schemas import (
    EXPORT_MEDIA_TYPE,
    AuditCheckpoint,
    AuditEntry,
    AuditVerification,
    export_content,
)
from govhub_exchange.deps import DEFAULT_LIMIT, Context, Cursor, Limit, Settings
from govhub_exchange.fields import AgencyQuery, DateTimeQuery, TextQuery, TopicQuery

router = APIRouter(prefix="/v1", tags=["audit"])


@router.get(
    "/audit",
    response_model=Page[AuditEntry],
    summary="Search the audit log",
    responses=problem_responses(ProblemCode.INVALID_CURSOR),
)
async def list_audit(
    session: SessionDep,
    who: Operator,
    agency: AgencyQuery = None,
    topic: TopicQuery = None,
    action: TextQuery = None,
    since: DateTimeQuery = None,
    until: DateTimeQuery = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[AuditEntry]:
    """Audit entries, oldest first: `agency` (as actor or concerned), `topic`, `action`
    and the time range [`since`, `until`) filter."""
    key = decode_cursor(cursor, int)
    entries = await service.list_entries(
        session,
        agency=agency,
        topic=topic,
        action=action,
        since=since,
        until=until,
        after=key[0] if key else 0,
        limit=limit + 1,
    )
    return page(entries, limit, key=lambda e: (e["id"],), item=AuditEntry.model_validate)


@router.get("/audit/verify", response_model=AuditVerification, summary="Verify the audit log")
async def verify_audit_log(
    session: SessionDep, who: Operator, ctx: Context, settings: Settings
) -> AuditVerification:
    """Recompute the chain from its first entry; verify each checkpoint's signature with
    the hub's key and that the chain still holds what it signed; check the chain reaches
    the latest head exported to the checkpoint directory (a cut tail shows there). Report
    the first broken link."""
    report = await service.verify(
        session,
        keys=ctx.runtime.keys,
        checkpoint_dir=service.checkpoint_dir(settings, ctx.runtime.database_url),
        previous_keys=service.previous_keys(settings),
    )
    return AuditVerification.model_validate(report)


@router.get(
    "/audit/export",
    response_class=StreamingResponse,
    summary="Export the audit log (NDJSON)",
    responses={
        200: {"description": "The export, a JSON object per line.", "content": export_content()}
    },
)
async def export_audit_log(
    who: Operator,
    ctx: Context,
    since: DateTimeQuery = None,
    until: DateTimeQuery = None,
) -> StreamingResponse:
    """The entries of [`since`, `until`) (all when neither is given) and the checkpoints that
    sign them, streamed as `govhub exchange audit export` writes them: a header line, then
    one line per entry (its canonical text included) and per checkpoint, for the offline
    verifier (`govhub exchange audit verify`). Its lines name who received what: keep it
    as private as the log."""
    return StreamingResponse(
        _export(ctx, since, until),
        media_type=EXPORT_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{service.export_file_name()}"'},
    )


async def _export(
    ctx: Context, since: datetime | None, until: datetime | None
) -> AsyncIterator[bytes]:
    # A session of its own, open while the body streams (the request's ends before).
    async with ctx.runtime.db.session() as session:
        async for line in service.export_lines(
            session, since=since, until=until, keys=ctx.runtime.keys
        ):
            yield line


@router.post(
    "/audit/checkpoints",
    status_code=201,
    response_model=AuditCheckpoint,
    summary="Sign the audit log's head",
    responses=problem_responses(ProblemCode.CONFLICT),
)
async def create_audit_checkpoint(
    session: SessionDep, who: Operator, ctx: Context, settings: Settings
) -> AuditCheckpoint:
    """Sign the chain's head now with the hub's key (the head's existing checkpoint when it
    is signed already) and export it to the checkpoint directory. An empty log, or a hub
    without the private key, is a 409."""
    signed = await service.sign_head(
        session,
        keys=ctx.runtime.keys,
        checkpoint_dir=service.checkpoint_dir(settings, ctx.runtime.database_url),
    )
    if signed is None:
        raise Problem(
            ProblemCode.CONFLICT, "nothing to sign: the audit log is empty or the key is not here"
        )
    return AuditCheckpoint.model_validate(signed)
