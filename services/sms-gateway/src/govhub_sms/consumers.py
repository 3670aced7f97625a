"""Bus handlers: `alerting.reminder.due` batches become messages, idempotently."""

from __future__ import annotations

import logging
from datetime import timedelta

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.event_contracts import brief, read_batch
from govhub_common.event_contracts.alerting import Reminder, RemindersDue
from govhub_common.events import CloudEvent
from govhub_common.runtime import ServiceContext
from govhub_common.service import Consumer
from govhub_sms.messages.schemas import MessageCreate
from govhub_sms.messages.service import Submission, submit_messages
from govhub_sms.settings import SmsSettings
from govhub_sms.state import sms_state

log = logging.getLogger("govhub.sms.consumers")


def reminder_consumer(ctx: ServiceContext) -> Consumer:
    settings: SmsSettings = ctx.settings

    async def handle(session: AsyncSession, event: CloudEvent) -> None:
        # A reminder that breaks the event's contract, or a message the gateway cannot take,
        # is reported, never retried forever, never blocks the batch.
        due = read_batch(event, RemindersDue, "reminders", Reminder)
        for fault in due.faults:
            log.warning("event %s: reminder %s", event.id, fault)
        submissions: list[Submission] = []
        for i, reminder in enumerate(due.items):
            path = f"$.data.reminders[{i}]"
            try:
                data = MessageCreate(
                    recipient=reminder.recipient, template=reminder.template, params=reminder.params
                )
            except ValidationError as exc:
                log.warning("event %s: reminder %s is invalid: %s", event.id, path, brief(exc))
                continue
            # Due as of the reminder's own time, so a simulation that dispatches "as of" its
            # days sends it on the right day.
            submissions.append(Submission(data, reminder.idempotency_key, path, reminder.due_at))
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
        gateway = sms_state(ctx).gateway
        if gateway is not None:
            gateway.wake.set()

    return Consumer("reminders", ["alerting.reminder.due"], handle)
