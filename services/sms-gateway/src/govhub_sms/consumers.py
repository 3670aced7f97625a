"""Bus handlers: `alerting.reminder.due` batches become messages, idempotently."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.events import CloudEvent
from govhub_common.runtime import ServiceContext
from govhub_common.service import Consumer
from govhub_sms.messages.schemas import MessageCreate
from govhub_sms.messages.service import Submission, submit_messages
from govhub_sms.sending.gateway import Gateway
from govhub_sms.settings import SmsSettings

log = logging.getLogger("govhub.sms.consumers")
_DUE_AT = TypeAdapter(datetime | None)


def reminder_consumer(ctx: ServiceContext) -> Consumer:
    settings: SmsSettings = ctx.settings

    async def handle(session: AsyncSession, event: CloudEvent) -> None:
        reminders: list[dict[str, Any]] = (event.data or {}).get("reminders", [])
        submissions: list[Submission] = []
        for i, reminder in enumerate(reminders):
            path = f"$.data.reminders[{i}]"
            try:
                data = MessageCreate(
                    recipient=reminder["recipient"],
                    template=reminder["template"],
                    params=reminder.get("params") or {},
                )
                key = str(reminder["idempotency_key"])
                # Due as of the reminder's own time, so a simulation that dispatches
                # "as of" its days sends it on the right day.
                due_at = _DUE_AT.validate_python(reminder.get("due_at"))
            except (KeyError, ValidationError) as exc:
                # A bad reminder is reported, never retried forever, never blocks the batch.
                log.warning("event %s: reminder %s is invalid: %s", event.id, path, _brief(exc))
                continue
            submissions.append(Submission(data, key, path, due_at))
        outcomes = await submit_messages(
            session,
            agency=settings.sms_hub_agency,
            submissions=submissions,
            # In simulation mode a reminder is queued at the replayed time it fell due.
            as_of=ctx.clock.stamp(*(sub.due_at for sub in submissions)),
            ttl=timedelta(hours=settings.sms_message_ttl_hours),
        )
        for sub, outcome in zip(submissions, outcomes, strict=True):
            if outcome.errors:
                log.warning(
                    "event %s: reminder %s refused: %s",
                    event.id,
                    sub.path,
                    "; ".join(f"{e['path']}: {e['message']}" for e in outcome.errors),
                )
        gateway: Gateway | None = ctx.state.get("sms")
        if gateway is not None:
            gateway.wake.set()

    return Consumer("reminders", ["alerting.reminder.due"], handle)


def _brief(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return f"missing field {exc}"
