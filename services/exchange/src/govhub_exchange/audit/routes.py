"""The audit log: search, verification and signed checkpoints (operators)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter

from govhub_common.db import SessionDep
from govhub_common.security import Operator
from govhub_exchange.audit import service
from govhub_exchange.deps import Context, Limit

router = APIRouter(prefix="/v1", tags=["audit"])


@router.get("/audit")
async def list_audit(
    session: SessionDep,
    who: Operator,
    agency: str | None = None,
    topic: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: int = 0,
    limit: Limit = 100,
) -> dict[str, Any]:
    entries = await service.list_entries(
        session,
        agency=agency,
        topic=topic,
        action=action,
        since=since,
        until=until,
        after=after,
        limit=limit,
    )
    return {"data": entries, "next": entries[-1]["id"] if len(entries) == limit else None}


@router.get("/audit/verify")
async def verify(session: SessionDep, who: Operator) -> dict[str, Any]:
    """Recompute the chain from its first entry; report the first broken link."""
    return await service.verify(session)


@router.post("/audit/checkpoints", status_code=201)
async def checkpoint(session: SessionDep, who: Operator, ctx: Context) -> dict[str, Any] | None:
    """Sign the chain head now with the hub's key."""
    return await service.sign_head(session, keys=ctx.runtime.keys)
