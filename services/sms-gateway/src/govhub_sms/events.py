"""Status changes: history rows and one `sms.message.status_changed` event per batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.events import CloudEvent
from govhub_common.outbox import add_events

SCHEMA = "sms"
SOURCE = "govhub/sms-gateway"
STATUS_CHANGED = "sms.message.status_changed"


@dataclass(frozen=True, slots=True)
class StatusChange:
    message_id: str
    idempotency_key: str
    template: str
    status: str
    reason: str | None
    changed_at: datetime
    provider: str | None = None


async def record_status_changes(session: AsyncSession, changes: Sequence[StatusChange]) -> None:
    """History rows (one statement) and one event for the whole batch, in the caller's
    transaction."""
    if not changes:
        return
    await session.execute(
        sa.text(
            "INSERT INTO sms.message_history (message_id, status, reason, provider, changed_at) "
            "SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:statuses AS text[]), "
            "CAST(:reasons AS text[]), CAST(:providers AS text[]), CAST(:times AS timestamptz[]))"
        ),
        {
            "ids": [c.message_id for c in changes],
            "statuses": [c.status for c in changes],
            "reasons": [c.reason for c in changes],
            "providers": [c.provider for c in changes],
            "times": [c.changed_at for c in changes],
        },
    )
    event = CloudEvent(
        source=SOURCE,
        type=STATUS_CHANGED,
        subject=changes[0].message_id if len(changes) == 1 else None,
        data={
            "messages": [
                {
                    "id": c.message_id,
                    "idempotency_key": c.idempotency_key,
                    "status": c.status,
                    "reason": c.reason,
                    "changed_at": c.changed_at.isoformat(),
                    "template": c.template,
                }
                for c in changes
            ]
        },
    )
    await add_events(session, SCHEMA, [event])
